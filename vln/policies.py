"""What drives an episode: the expert, a random policy or the agent, each acting on a whole batch.

A policy is told the batch's missions when episodes begin (``begin``), then asked for one
action per env (``act``); ``restart`` starts new episodes in some envs mid-run (streamed
collection). ``make_policy`` turns what a user hands over (an agent, "expert", "random")
into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

POLICIES = ("agent", "expert", "random")


class Policy(Protocol):
    """What drives a wave: told the missions at its start, then asked for a batch of actions."""

    def begin(self, missions: Sequence[str]) -> None: ...

    def act(self, images: np.ndarray, expert: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...

    # Optional: ``restart(idx, missions)`` starts new episodes in envs ``idx`` mid-run
    # (streamed collection, see ``run_stream``); policies without it are run in waves.


class ExpertPolicy:
    """Follows ``info["expert_action"]``.

    With ``noise > 0`` it takes a random action from ``noise_actions`` with that
    probability (DART-style disturbed demonstrations): the states drift off the expert's
    path, while the recorded labels stay the expert's, so imitation also learns to
    recover, without needing a trained agent to drive.
    """

    def __init__(self, noise: float = 0.0, noise_actions: Sequence[int] = (), seed: int = 0) -> None:
        if noise > 0 and not noise_actions:
            raise ValueError("noise needs the actions to draw from (noise_actions)")
        self.noise, self.noise_actions = float(noise), np.asarray(noise_actions, np.int64)
        self.rng = np.random.default_rng(seed)

    def begin(self, missions: Sequence[str]) -> None:
        pass

    def restart(self, idx: np.ndarray, missions: Sequence[str]) -> None:
        pass

    def act(self, images: np.ndarray, expert: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if (expert < 0).any():
            raise ValueError("the expert policy needs info['expert_action'] from the env, which it does not give")
        actions = expert.astype(np.int64)
        if self.noise > 0:
            disturb = self.rng.random(len(actions)) < self.noise
            actions = np.where(disturb, self.rng.choice(self.noise_actions, size=len(actions)), actions)
        return actions, {}


class RandomPolicy:
    """Uniformly random actions (seeded)."""

    def __init__(self, num_actions: int, seed: int = 0) -> None:
        self.num_actions, self.rng = int(num_actions), np.random.default_rng(seed)

    def begin(self, missions: Sequence[str]) -> None:
        self.n = len(missions)

    def restart(self, idx: np.ndarray, missions: Sequence[str]) -> None:
        pass

    def act(self, images: np.ndarray, expert: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.rng.integers(0, self.num_actions, size=len(images)), {}


class AgentPolicy:
    """The agent, stepping a whole batch through its compiled single-step call.

    mode "greedy" takes the most likely action, "sample" samples from the policy. With
    ``beta > 0`` each action is the expert's with probability beta (DAgger's mixture).
    """

    def __init__(self, agent, mode: str = "greedy", beta: float = 0.0, seed: int = 0, max_words: int | None = None) -> None:
        if mode not in ("greedy", "sample"):
            raise ValueError(f"mode must be 'greedy' or 'sample', got {mode!r}")
        self.agent, self.mode, self.beta = agent, mode, float(beta)
        self.rng = np.random.default_rng(seed)
        self.max_words = max_words
        self.no_action = int(agent.config.num_actions)

    def begin(self, missions: Sequence[str]) -> None:
        self.missions = list(missions)
        tokens = self.agent.vocab.encode_batch(self.missions, max_len=self.max_words)
        self.tokens = tokens
        self.enc = self.agent.encode_instruction(tokens)
        self.state = self.agent.initial_state(len(missions))
        self.prev = np.full(len(missions), self.no_action, np.int32)

    def restart(self, idx: np.ndarray, missions: Sequence[str]) -> None:
        """New episodes in envs ``idx``: their instructions encoded, state and previous action reset."""
        for i, m in zip(np.asarray(idx).tolist(), missions):
            self.missions[i] = m
        # The whole batch is re-encoded (one compiled shape with max_words; the other rows
        # come out the same).
        self.tokens = self.agent.vocab.encode_batch(self.missions, max_len=self.max_words)
        self.enc = self.agent.encode_instruction(self.tokens)
        self.state = {k: np.array(v) for k, v in self.state.items()}
        for v in self.state.values():
            v[idx] = 0.0
        self.prev = self.prev.copy()
        self.prev[idx] = self.no_action

    def act(self, images: np.ndarray, expert: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = self.agent.step(self.enc, images, self.prev, self.state)
        logits = np.asarray(out["logits"], np.float64)
        if self.mode == "greedy":
            actions = logits.argmax(axis=1)
        else:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            actions = (p.cumsum(axis=1) > self.rng.random((len(p), 1))).argmax(axis=1)
        if self.beta > 0:
            use_expert = (self.rng.random(len(actions)) < self.beta) & (expert >= 0)
            actions = np.where(use_expert, expert, actions)
        self.state = {"state_h": out["state_h"], "state_c": out["state_c"]}
        self.prev = actions.astype(np.int32)
        return actions.astype(np.int64), {"values": np.asarray(out["value"]).reshape(-1), "attention": np.asarray(out["attention"])}


def movement_actions(env) -> list[int]:
    """Actions that do not end the episode, by the env's ``metadata["action_names"]`` if given."""
    n = int(env.single_action_space.n)
    names = env.metadata.get("action_names")
    if names is None:
        return list(range(n))
    return [a for a in range(n) if str(names[a]).lower() not in ("stop", "done")]


def make_policy(agent_or_policy, num_actions: int | None = None, seed: int = 0, max_words: int | None = None,
                mode: str = "greedy") -> Policy:
    """A ``Policy`` from what a user hands over.

    ``agent_or_policy``: a VLN agent (driven greedily by default, ``mode="sample"`` samples),
    "expert", "random" (needs ``num_actions``), or anything with ``begin``/``act`` already.
    """
    if isinstance(agent_or_policy, str):
        if agent_or_policy == "expert":
            return ExpertPolicy()
        if agent_or_policy == "random":
            if num_actions is None:
                raise ValueError("the random policy needs the number of actions")
            return RandomPolicy(num_actions, seed)
        if agent_or_policy == "agent":
            raise ValueError("the agent policy needs a checkpoint (an agent)")
        raise ValueError(f"unknown policy {agent_or_policy!r}: choose from {', '.join(POLICIES)}, or pass an agent")
    if hasattr(agent_or_policy, "step") and hasattr(agent_or_policy, "vocab"):
        return AgentPolicy(agent_or_policy, mode=mode, seed=seed, max_words=max_words)
    if hasattr(agent_or_policy, "begin") and hasattr(agent_or_policy, "act"):
        return agent_or_policy
    raise TypeError(f"expected a VLN agent, a policy or one of {POLICIES}, got {type(agent_or_policy).__name__}")


def check_policy_fits(policy: Policy, venv, seed: int) -> None:
    """A saved agent must fit the env it is run on (actions, frames, words): see ``check_agent_fits``."""
    agent = getattr(policy, "agent", None)
    if agent is not None and hasattr(agent, "config"):
        from vln.contract import check_agent_fits

        check_agent_fits(agent, venv, seed)
