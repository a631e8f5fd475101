"""The rollout engine: episodes run batched on a vector env, recorded as trajectories.

Episodes are run in *waves*: every env of the vector env is reset with its own seed, and
the wave lasts until each env's episode has ended (later autoreset episodes are ignored).
So the episodes of a run are exactly those of the given seeds, short and long alike, and
the same seeds give the same episodes. Observations are stored step-major, as whole
batches; no per-env Python work happens per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vln.policies import Policy

import numpy as np


@dataclass
class Trajectory:
    """One recorded episode."""

    mission: str
    seed: int
    images: np.ndarray  # (T, H, W, 3) uint8: the observation before each action
    actions: np.ndarray  # (T,) int: actions taken
    expert: np.ndarray  # (T,) int: the expert's action at each observation (-1: none)
    rewards: np.ndarray  # (T,) float
    values: np.ndarray  # (T,) float: the agent's value estimates (0 without an agent)
    info: dict[str, Any]  # the env's end-of-episode info
    attention: np.ndarray | None = None  # (T, L) attention over the mission's words
    target_view: np.ndarray | None = None  # (T,) int: info["target_view"] at each observation (None: not given)
    goal_view: np.ndarray | None = None  # (T,) int: info["goal_view"] at each observation (None: not given)
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        return bool(self.info.get("success", False))


def end_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Env ``i``'s entries of a vector env's info dict (only those its ``_key`` mask marks)."""
    out = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get("_" + key)
        if mask is None or bool(mask[i]):
            out[key] = value[i]
    return out


#: The per-step view labels a rollout records when the env's info gives them (``info[key]``), each
#: kept as the Trajectory field of the same name: the auxiliary heads' targets.
VIEW_LABELS = ("target_view", "goal_view")


class _StepLog:
    """What a rollout records per step, for every env at once (step-major lists of batches),
    and the end-of-episode infos; cut into Trajectories at the end."""

    def __init__(self) -> None:
        self.images, self.actions, self.experts, self.rewards, self.values, self.attention = [], [], [], [], [], []
        self.views: dict[str, list[np.ndarray]] = {key: [] for key in VIEW_LABELS}

    def act(self, images: np.ndarray, actions: np.ndarray, labels: dict[str, np.ndarray], extras: dict[str, np.ndarray]) -> None:
        self.images.append(images)
        self.actions.append(actions)
        self.experts.append(labels["expert"])
        for key, log in self.views.items():
            log.append(labels[key])
        self.values.append(extras.get("values", np.zeros(len(actions))))
        if "attention" in extras:
            self.attention.append(extras["attention"])

    def reward(self, reward: Any) -> None:
        self.rewards.append(np.asarray(reward, np.float64))

    def trajectories(self, episodes: Sequence[tuple[str, int, int, int, int, dict[str, Any]]]) -> list[Trajectory]:
        """One Trajectory per ``(mission, seed, env, first step, end step exclusive, end info)``."""
        stacked = {"actions": np.stack(self.actions), "expert": np.stack(self.experts),
                   "rewards": np.stack(self.rewards), "values": np.stack(self.values),
                   **{key: np.stack(log) for key, log in self.views.items()}}
        att = None
        if self.attention:
            # Without max_words the policy encodes each batch of missions to its longest, so a
            # streamed reset can widen the attention: pad to the widest (padding gets no attention).
            width = max(a.shape[-1] for a in self.attention)
            att = np.stack([np.pad(a, ((0, 0), (0, width - a.shape[-1]))) for a in self.attention])
        out = []
        for mission, seed, i, start, stop, info in episodes:
            steps = slice(start, stop)
            views = {key: stacked[key][steps, i].astype(np.int64) for key in VIEW_LABELS}
            out.append(Trajectory(
                mission=mission, seed=seed, images=gather_frames(self.images, range(start, stop), i),
                actions=stacked["actions"][steps, i].astype(np.int64), expert=stacked["expert"][steps, i].astype(np.int64),
                rewards=stacked["rewards"][steps, i], values=stacked["values"][steps, i].astype(np.float64), info=info,
                attention=None if att is None else att[steps, i].copy(),
                **{key: v if len(v) and v.min() >= 0 else None for key, v in views.items()},
            ))
        return out


def episode_end(info: dict[str, Any], i: int, terminated: Any, reward: Any) -> dict[str, Any]:
    """Env ``i``'s end-of-episode info; an env without ``info["success"]`` succeeds by a positive reward at termination."""
    end = end_info(info, i)
    if "success" not in end:
        end["success"] = bool(np.asarray(terminated)[i]) and float(np.asarray(reward)[i]) > 0
    return end


def run_wave(env, policy: Policy, seeds: Sequence[int], keep: int | None = None, max_steps: int = 100_000) -> list[Trajectory]:
    """Run one episode per env of ``env`` (a gymnasium VectorEnv), seeded by ``seeds``.

    Returns the trajectories of the first ``keep`` envs (all by default), in order.
    """
    n = env.num_envs
    if len(seeds) != n:
        raise ValueError(f"need {n} seeds for {n} envs, got {len(seeds)}")
    keep = n if keep is None else int(keep)
    obs, info = env.reset(seed=[int(s) for s in seeds])
    missions = [str(m) for m in obs["mission"]]
    policy.begin(missions)
    active = np.zeros(n, bool)
    active[:keep] = True
    length = np.zeros(n, np.int64)
    ends: dict[int, dict[str, Any]] = {}
    log = _StepLog()
    labels = step_labels(info, n)
    for _ in range(max_steps):
        act, extras = policy.act(obs["image"], labels["expert"])
        log.act(obs["image"], act, labels, extras)
        obs, reward, terminated, truncated, info = env.step(act)
        log.reward(reward)
        length += active
        ended = (np.asarray(terminated) | np.asarray(truncated)) & active
        for i in np.flatnonzero(ended):
            ends[int(i)] = episode_end(info, int(i), terminated, reward)
        active &= ~ended
        if not active.any():
            break
        labels = step_labels(info, n)
    else:
        raise RuntimeError(f"episodes did not end within {max_steps} steps")
    return log.trajectories([(missions[i], int(seeds[i]), i, 0, int(length[i]), ends[i]) for i in range(keep)])


def gather_frames(frames: list[np.ndarray], steps: range, i: int) -> np.ndarray:
    """Env ``i``'s frames at ``steps`` from a list of per-step batches: copies only those frames
    (stacking the whole (T, n) batch first would copy every env's frames, ignored ones too)."""
    out = np.empty((len(steps), *frames[0].shape[1:]), frames[0].dtype)
    for j, t in enumerate(steps):
        out[j] = frames[t][i]
    return out


def step_labels(info: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """The per-step labels of a step's info, (n,) int64 each, -1 where the env gives none:
    ``expert`` (``info["expert_action"]``), ``target_view`` and ``goal_view`` (the info's keys of those names)."""
    out = {}
    for name, key in (("expert", "expert_action"), *((view, view) for view in VIEW_LABELS)):
        out[name] = np.asarray(info[key], np.int64).reshape(n) if key in info else np.full(n, -1, np.int64)
    return out


def supports_partial_reset(env) -> bool:
    """Whether ``env.reset(options={"reset_mask": ...})`` resets only some envs.

    Gymnasium 1.x vector envs declare their autoreset mode in ``metadata["autoreset_mode"]``
    and take a ``reset_mask`` (Gymnasium's own, the built-in native and sharded ones); an
    env that declares no mode is run in waves.
    """
    return getattr(env, "metadata", {}).get("autoreset_mode") is not None


def run_episodes(env, policy: Policy, n_episodes: int, seed: int,
                 interrupt: Callable[[], None] | None = None) -> list[Trajectory]:
    """``n_episodes`` episodes with seeds ``seed, seed + 1, ...``, in the order of their seeds.

    More episodes than envs are streamed (``run_stream``) where the env and the policy
    allow it, else run in waves of ``env.num_envs``. ``interrupt()`` is called at each
    step of a stream and before each wave: it may raise to abandon the collection (a stop signal).
    """
    if n_episodes > env.num_envs and hasattr(policy, "restart") and supports_partial_reset(env):
        return run_stream(env, policy, n_episodes, seed, interrupt)
    out: list[Trajectory] = []
    n = env.num_envs
    while len(out) < n_episodes:
        if interrupt is not None:
            interrupt()
        base = seed + len(out)
        keep = min(n, n_episodes - len(out))
        out.extend(run_wave(env, policy, [base + i for i in range(n)], keep=keep))
    return out


def sample_missions(env, n: int, seed: int) -> list[str]:
    """Missions of ``n`` episodes (resets only), e.g. to build a vocabulary."""
    missions: list[str] = []
    while len(missions) < n:
        obs, _ = env.reset(seed=seed + len(missions))
        missions.extend(str(m) for m in obs["mission"])
    return missions[:n]


def run_stream(env, policy: Policy, n_episodes: int, seed: int,
               interrupt: Callable[[], None] | None = None) -> list[Trajectory]:
    """``n_episodes`` episodes (seeds ``seed + k``) streamed through ``env``: an env whose
    episode ends is reset at once (a partial reset) with the next seed, so no env idles
    until the last episodes. A wave instead steps every env until its slowest episode
    ends, which wastes most of the steps when episode lengths vary.

    Needs ``policy.restart`` and an env with partial resets; same episodes as waves.
    """
    n = env.num_envs
    if n_episodes <= n:
        raise ValueError("run_stream needs more episodes than envs; use run_wave")
    obs, info = env.reset(seed=[seed + i for i in range(n)])
    missions = [str(m) for m in obs["mission"]]
    policy.begin(missions)
    episode = np.arange(n)  # the episode each env runs (-1: done, its steps are ignored)
    start_step = np.zeros(n_episodes, np.int64)
    env_of = np.zeros(n_episodes, np.int64)
    env_of[:n] = np.arange(n)
    end_step = np.full(n_episodes, -1, np.int64)
    ends: dict[int, dict[str, Any]] = {}
    episode_missions = missions + [""] * (n_episodes - n)
    next_episode = n
    waiting = np.zeros(0, np.int64)  # ended envs to be given the next episodes
    batch_resets = max(1, n // 16)
    log = _StepLog()
    labels = step_labels(info, n)
    t = 0
    while (episode >= 0).any() or waiting.size:
        if interrupt is not None:
            interrupt()
        act, extras = policy.act(obs["image"], labels["expert"])
        log.act(obs["image"], act, labels, extras)
        obs, reward, terminated, truncated, info = env.step(act)
        log.reward(reward)
        labels = step_labels(info, n)
        ended = np.flatnonzero((np.asarray(terminated) | np.asarray(truncated)) & (episode >= 0))
        for i in ended.tolist():
            k = int(episode[i])
            end_step[k] = t
            ends[k] = episode_end(info, i, terminated, reward)
        t += 1
        episode[ended] = -1
        waiting = np.concatenate([waiting, ended[: max(0, n_episodes - next_episode - waiting.size)]])
        # Ended envs wait until a batch of them is due, so one reset renders many (a
        # reset costs about a step), at the price of a few ignored steps each.
        due = min(batch_resets, n_episodes - next_episode)
        if waiting.size and (waiting.size >= due or not (episode >= 0).any()):
            fresh, waiting = np.sort(waiting), waiting[:0]
            ks = np.arange(next_episode, next_episode + fresh.size)
            next_episode += fresh.size
            episode[fresh], env_of[ks], start_step[ks] = ks, fresh, t
            seeds = [0] * n
            for i, k in zip(fresh.tolist(), ks.tolist()):
                seeds[i] = seed + k
            mask = np.zeros(n, bool)
            mask[fresh] = True
            obs, reset_info = env.reset(seed=seeds, options={"reset_mask": mask})
            fresh_labels = step_labels(reset_info, n)
            labels = {key: np.where(mask, fresh_labels[key], value) for key, value in labels.items()}
            new_missions = [str(obs["mission"][i]) for i in fresh.tolist()]
            for k, m in zip(ks.tolist(), new_missions):
                episode_missions[k] = m
            policy.restart(fresh, new_missions)
    return log.trajectories([(episode_missions[k], seed + k, int(env_of[k]), int(start_step[k]), int(end_step[k]) + 1,
                              ends[k]) for k in range(n_episodes)])
