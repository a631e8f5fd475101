"""Roll out an agent or a policy, with the metrics of each episode and, optionally, an MP4 each.

``rollout(agent_or_policy, env, episodes, video_dir, seed)`` runs the episodes in seeded
waves on a vector env (the same waves as evaluation, so the same seeds give the same
episodes), records what each env shows at every step, and draws one annotated video per
episode (see ``vln.video.EpisodeFrames``).

A frame is the env's ``render()`` where it renders ``rgb_array`` frames (an env given by
name is made so where it takes ``render_mode``; the built-in envs show the first-person
view beside the top-down map with the path so far and the goal), else the observation
image, upscaled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper

from vln.breakdown import episodes_from_rows, failure_category
from vln.collection import Trajectory, run_wave
from vln.contract import validate_env
from vln.evaluation import default_split, episode_row
from vln.policies import Policy, check_policy_fits, make_policy

DEFAULT_HOLD_S = 1.5  # the last frame (SUCCESS / FAIL) stays this long


class _SceneRecorder(VectorWrapper):
    """Keeps, per env, the picture after reset and after each step until its episode ends.

    Episodes after the first of each env (autoreset) are not recorded: a wave uses only the first.
    """

    def __init__(self, env: VectorEnv, record: bool = True) -> None:
        super().__init__(env)
        self.record = record
        self.scenes: list[list[np.ndarray]] = [[] for _ in range(self.num_envs)]
        self.live = np.zeros(self.num_envs, bool)
        self.renders = getattr(env, "render_mode", None) == "rgb_array"
        # Where render() frames start with the first-person view upscaled (the env's
        # metadata says by how much), the video labels the view and the map apart.
        self.view_scale = (env.metadata or {}).get("render_view_scale") if self.renders else None
        self.view_width: int | None = None

    def _scene(self, images: np.ndarray) -> list[np.ndarray]:
        if self.renders:
            frames = self.env.render()
            if frames is not None and len(frames) == self.num_envs:
                return [np.asarray(f) for f in frames]
        return [_upscale(img) for img in images]

    def _capture(self, images: np.ndarray) -> None:
        if not self.record or not self.live.any():
            return
        if self.view_scale and self.view_width is None and np.asarray(images).ndim == 4:
            self.view_width = int(images.shape[2]) * int(self.view_scale)
        frames = self._scene(images)
        for i in np.flatnonzero(self.live):
            self.scenes[i].append(np.asarray(frames[i], np.uint8))

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.scenes = [[] for _ in range(self.num_envs)]
        self.live[:] = True
        self._capture(obs["image"])
        return obs, info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._capture(obs["image"])
        self.live &= ~(np.asarray(terminated) | np.asarray(truncated))
        return obs, reward, terminated, truncated, info


def _upscale(img: np.ndarray) -> np.ndarray:
    from vln.video import upscale

    return upscale(np.asarray(img, np.uint8))


class _StateTap:
    """Wraps a policy; after each ``act`` keeps the recurrent state ``state_h`` where it has one."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.states: list[np.ndarray] = []

    def begin(self, missions: Sequence[str]) -> None:
        self.states = []
        self.policy.begin(missions)

    def act(self, images, expert):
        actions, extras = self.policy.act(images, expert)
        state = getattr(self.policy, "state", None)
        if isinstance(state, dict) and "state_h" in state:
            self.states.append(np.asarray(state["state_h"], np.float32))
        return actions, extras


def _vector_env(env, episodes: int, num_envs: int | None, split: str | None, env_kwargs: dict | None,
                render: bool):
    """(vector env, owned) from an id (made to render frames when ``render``), a vector env or a single env."""
    if isinstance(env, str):
        from vln.environments import make_vector_env

        split = split or default_split(env)
        n = num_envs or min(episodes, 4)
        return make_vector_env(env, n, split, env_kwargs, render_mode="rgb_array" if render else None), True
    if split is not None or env_kwargs:
        raise ValueError("split and env_kwargs apply to an env given by name; this env is already made")
    if isinstance(env, VectorEnv):
        validate_env(env)
        return env, False
    if isinstance(env, gym.Env):
        from gymnasium.vector import SyncVectorEnv

        validate_env(env)
        return SyncVectorEnv([lambda: env]), False  # drives the given instance itself
    raise TypeError(f"env must be an id, a gymnasium.Env or a VectorEnv, got {type(env).__name__}")


def _action_names(env) -> Sequence[str]:
    """The env's ``metadata["action_names"]``, else the action ids."""
    names = (getattr(env, "metadata", None) or {}).get("action_names")
    if names is not None:
        return [str(n) for n in names]
    return [str(a) for a in range(int(getattr(env.single_action_space, "n", 0)))]


def _max_steps(env) -> int | None:
    """The env's step limit where it states one (the optional ``max_steps`` attribute of the
    env contract, on the vector env or its first sub-env), for the video's step counter."""
    base = env.unwrapped
    steps = getattr(base, "max_steps", None)
    if steps is None and hasattr(base, "envs"):
        steps = getattr(base.envs[0].unwrapped, "max_steps", None)
    return steps


def episode_result(traj: Trajectory) -> dict[str, Any]:
    """The metrics of one recorded episode (its evaluation CSV row), its return and its
    ``outcome``: "success" or the failure category of ``vln.breakdown``."""
    row = {**episode_row(traj), "return": float(np.sum(traj.rewards))}
    row["outcome"] = failure_category(episodes_from_rows([row], [traj.info])[0]) or "success"
    return row


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "episode"


def rollout(agent_or_policy, env, episodes: int = 1, video_dir: str | os.PathLike | None = None, seed: int = 0, *,
            split: str | None = None, env_kwargs: dict[str, Any] | None = None, num_envs: int | None = None,
            max_words: int | None = None, mode: str = "greedy", fps: float | None = None, hold: int | None = None,
            name_prefix: str = "episode", lstm_strip: bool = True, title: str | None = None,
            still: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Run ``episodes`` episodes (seeds ``seed, seed+1, ...``) and return one result dict each.

    Args:
        agent_or_policy: a VLN agent (greedy unless ``mode="sample"``), "expert", "random",
            or any ``vln.policies.Policy``.
        env: a Gymnasium id (or ``package.module:Class``), a ``VectorEnv``, or a single
            ``gymnasium.Env`` (driven one episode at a time).
        episodes: how many episodes.
        video_dir: where to write one MP4 per episode (None: no videos).
        seed: the first episode's seed.
        split: "train", "seen" or "unseen" for an env given by id (default: "unseen" where
            the env has splits).
        env_kwargs: keyword arguments of an env given by id.
        num_envs: envs stepped together (default ``min(episodes, 4)``; each keeps its frames
            in memory until its video is written).
        max_words: instruction length for the agent (as in training; None: whole missions).
        fps, hold: video speed (default the env's ``render_fps``) and how many frames the
            last picture is held (default 1.5 s).
        lstm_strip: draw the policy LSTM's most active cells (agents only).
        title: a label drawn on the frames (default: the policy's name and the seed).
        still: also save a PNG of one frame of the first episode (two thirds through) here.

    Returns:
        per episode: ``seed``, ``mission``, ``steps``, ``success`` and the other metrics of
        ``vln.metrics.episode_metrics`` (when the env gives them), ``return``, ``outcome``
        ("success" or the failure category), ``actions`` and ``video`` (the MP4's path, or None).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if still is not None and video_dir is None:
        raise ValueError("a still is taken from a video: give video_dir too")
    if video_dir is not None:
        from vln.video import VideoUnavailable, video_support

        reason = video_support()
        if reason is not None:  # fail before running any episode, not after
            raise VideoUnavailable(reason)

        Path(video_dir).mkdir(parents=True, exist_ok=True)
    venv, owned = _vector_env(env, episodes, num_envs, split, env_kwargs, render=video_dir is not None)
    try:
        n_actions = int(getattr(venv.single_action_space, "n", 0)) or None
        policy = make_policy(agent_or_policy, n_actions, seed, max_words, mode)
        check_policy_fits(policy, venv, seed)
        agent = getattr(policy, "agent", None)
        tokenize = agent.vocab.tokens if agent is not None and getattr(agent, "vocab", None) is not None else None
        label = title or _policy_name(agent_or_policy)
        tap = _StateTap(policy)
        recorder = _SceneRecorder(venv, record=video_dir is not None)
        fps = float(fps or venv.metadata.get("render_fps") or 8)
        hold = int(round(DEFAULT_HOLD_S * fps)) if hold is None else max(1, int(hold))
        names = _action_names(venv)
        max_steps = _max_steps(venv)
        results: list[dict[str, Any]] = []
        n = venv.num_envs
        while len(results) < episodes:
            base = seed + len(results)
            keep = min(n, episodes - len(results))
            trajs = run_wave(recorder, tap, [base + i for i in range(n)], keep=keep)
            states = np.stack(tap.states) if tap.states else None  # (T, n, hidden)
            for i, traj in enumerate(trajs):
                row = episode_result(traj)
                row["actions"] = [int(a) for a in traj.actions]
                row["video"] = None
                if video_dir is not None:
                    cells = None
                    if lstm_strip and states is not None:
                        from vln.video import most_active_cells

                        cells = most_active_cells(states[: len(traj), i])
                    path = Path(video_dir) / f"{_safe(name_prefix)}-{len(results):03d}-seed{traj.seed}.mp4"
                    row["video"] = str(write_episode_video(
                        path, traj, recorder.scenes[i], tokenize=tokenize, action_names=names, fps=fps, hold=hold,
                        view_width=recorder.view_width, cells=cells,
                        title=f"{label}  seed {traj.seed}", max_steps=max_steps,
                        still=still if not results else None))
                recorder.scenes[i] = []
                results.append(row)
    finally:
        if owned:
            venv.close()
    return results


def _policy_name(p) -> str:
    if isinstance(p, str):
        return p
    if hasattr(p, "vocab") and hasattr(p, "step"):
        return "agent"
    return type(p).__name__


def write_episode_video(path: str | os.PathLike, traj: Trajectory, scenes: Sequence[np.ndarray], *, tokenize=None,
                        action_names: Sequence[str] | None = None, fps: float = 8, hold: int = 12,
                        view_width: int | None = None, cells: np.ndarray | None = None, title: str = "",
                        max_steps: int | None = None, still: str | os.PathLike | None = None) -> Path:
    """One MP4 of a recorded episode: ``len(traj)`` step frames, then the end held ``hold`` frames.

    ``scenes`` holds the env's picture after reset and after each step (``len(traj) + 1``).
    ``still``: also save the frame two thirds through the episode as a PNG there.
    """
    from vln.video import EpisodeFrames, VideoWriter

    t_len = len(traj)
    if len(scenes) < t_len + 1:
        raise ValueError(f"need {t_len + 1} scenes for an episode of {t_len} steps, got {len(scenes)}")
    frames = EpisodeFrames(traj.mission, tokenize if traj.attention is not None else None, action_names,
                           view_width=view_width, title=title, max_steps=max_steps)
    still_t = (2 * t_len) // 3 if still is not None else -1
    with VideoWriter(path, fps) as writer:
        for t in range(t_len):
            att = None if traj.attention is None else traj.attention[t]
            frame = frames.draw(scenes[t], t, int(traj.actions[t]), att, None, cells, t + 1)
            writer.append(frame)
            if t == still_t:
                save_png(still, frame)
        last_att = None if traj.attention is None else traj.attention[-1]
        end = frames.draw(scenes[t_len], t_len, None, last_att, traj.success, cells, t_len)
        for _ in range(max(1, hold)):
            writer.append(end)
    return writer.path


def save_png(path: str | os.PathLike, frame: np.ndarray) -> Path:
    """Save an RGB frame as a PNG (folders created)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1])):
        raise ValueError(f"cannot write the image {path}")
    return path


def write_sample_video(agent, env_name: str, env_kwargs: dict[str, Any] | None, path: str | os.PathLike, seed: int = 0,
                       max_words: int | None = None, split: str | None = None) -> Path | None:
    """Write one greedy episode of ``agent`` to ``path`` (e.g. a run's ``rollout.mp4``).

    Returns the path, or None (with a warning) where videos cannot be written here
    (imageio-ffmpeg missing), so a training run never fails for want of a video.
    """
    import tempfile
    import warnings

    from vln.video import video_support

    reason = video_support()
    if reason is not None:
        warnings.warn(f"no sample video: {reason}", stacklevel=2)
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".rollout-") as tmp:
        rows = rollout(agent, env_name, episodes=1, video_dir=tmp, seed=seed, split=split, env_kwargs=env_kwargs,
                       num_envs=1, max_words=max_words)
        os.replace(rows[0]["video"], path)
    return path
