"""The environment contract of docs/design.md, checked up front with every violation in one error.

What ``vln`` needs from an env (a ``gymnasium.Env`` or a ``VectorEnv`` of them):

- ``action_space``: ``gymnasium.spaces.Discrete(n)`` (starting at 0; any ``n``);
- ``observation_space``: ``gymnasium.spaces.Dict`` with ``image`` = ``Box`` of ``uint8``,
  shape ``(H, W, 3)`` (any H and W) and ``mission`` = ``gymnasium.spaces.Text``;
- ``reset()`` returns such an observation (the mission a ``str``);
- for imitation learning (behaviour cloning or DAgger), ``info["expert_action"]`` on reset
  and on every step. Without it an env trains with REINFORCE only.

``check_env`` lists the violations; ``validate_env`` raises one ``ValueError`` naming them
all. ``vln.environments.make_vector_env`` validates every env it makes, and
``vln.train.run`` asks for the expert when the run imitates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

EXPERT_MESSAGE = "imitation needs info['expert_action']; use --il-episodes 0 --dagger-rounds 0 for REINFORCE only"


class ContractError(ValueError):
    """An env that breaks the environment contract; ``violations`` lists every problem."""

    def __init__(self, name: str, violations: list[str]) -> None:
        self.name, self.violations = name, list(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"env {name} does not follow the vln environment contract "
                         f"({len(self.violations)} problem{'s' if len(self.violations) != 1 else ''}):\n{lines}")


def _is_vector(env: Any) -> bool:
    return hasattr(env, "num_envs") and hasattr(env, "single_observation_space")


def check_spaces(observation_space: Any, action_space: Any) -> list[str]:
    """Violations of the contract by the spaces alone."""
    out = []
    if not isinstance(action_space, spaces.Discrete):
        out.append(f"action_space must be gymnasium.spaces.Discrete, got {action_space!r}")
    elif int(action_space.start) != 0:
        out.append(f"action_space must be Discrete(n) starting at 0, got start={int(action_space.start)}")
    if not isinstance(observation_space, spaces.Dict):
        out.append("observation_space must be a gymnasium.spaces.Dict with 'image' and 'mission', "
                   f"got {type(observation_space).__name__}")
        return out
    if "image" not in observation_space.spaces:
        out.append("observation_space has no 'image' key (an RGB Box(0, 255, (H, W, 3), uint8))")
    else:
        image = observation_space["image"]
        if not isinstance(image, spaces.Box):
            out.append(f"'image' space must be a Box, got {type(image).__name__}")
        else:
            if image.dtype != np.uint8:
                out.append(f"'image' space must be uint8, got {image.dtype}")
            if len(image.shape) != 3:
                out.append(f"'image' space must have rank 3 (H, W, 3), got shape {tuple(image.shape)}")
            elif image.shape[2] != 3:
                out.append(f"'image' space must have 3 channels (RGB), got {image.shape[2]} in shape {tuple(image.shape)}")
    if "mission" not in observation_space.spaces:
        out.append("observation_space has no 'mission' key (a gymnasium.spaces.Text)")
    elif not isinstance(observation_space["mission"], spaces.Text):
        out.append(f"'mission' space must be gymnasium.spaces.Text, got {type(observation_space['mission']).__name__}")
    return out


def check_reset(obs: Any, info: Any, image_space: Any = None, vector: bool = False, imitation: bool = False,
                num_actions: int | None = None) -> list[str]:
    """Violations of the contract by one real ``reset()`` observation and info."""
    out = []
    if not isinstance(obs, dict):
        return [f"reset() must return a dict observation with 'image' and 'mission', got {type(obs).__name__}"]
    if "image" not in obs:
        out.append("reset() observation has no 'image'")
    else:
        img = np.asarray(obs["image"])
        rank = 4 if vector else 3
        where = "reset() image" + (" (batched)" if vector else "")
        if img.dtype != np.uint8:
            out.append(f"{where} must be uint8, got {img.dtype}")
        if img.ndim != rank:
            out.append(f"{where} must have rank {rank} ({'N, ' if vector else ''}H, W, 3), got shape {img.shape}")
        elif img.shape[-1] != 3:
            out.append(f"{where} must have 3 channels (RGB), got shape {img.shape}")
        elif isinstance(image_space, spaces.Box) and len(image_space.shape) == 3 and tuple(img.shape[-3:]) != tuple(image_space.shape):
            out.append(f"{where} has shape {img.shape[-3:]}, but the 'image' space says {tuple(image_space.shape)}")
    if "mission" not in obs:
        out.append("reset() observation has no 'mission'")
    else:
        missions = list(np.asarray(obs["mission"], dtype=object).reshape(-1)) if vector else [obs["mission"]]
        bad = [m for m in missions if not isinstance(m, str)]
        if bad:
            out.append(f"reset() 'mission' must be a str, got {type(bad[0]).__name__}")
    if imitation:
        if not isinstance(info, dict) or "expert_action" not in info:
            out.append(EXPERT_MESSAGE)
        else:
            try:
                expert = np.asarray(info["expert_action"], np.int64).reshape(-1)
            except (TypeError, ValueError):
                out.append(f"info['expert_action'] must be an int, got {info['expert_action']!r}")
            else:
                if vector and "_expert_action" in info and not np.asarray(info["_expert_action"]).all():
                    out.append(EXPERT_MESSAGE + " (some envs give none on reset)")
                elif num_actions is not None and ((expert < 0) | (expert >= num_actions)).any():
                    out.append(f"info['expert_action'] must be an action in [0, {num_actions}), got {expert.tolist()}")
    return out


def check_env(env: Any, imitation: bool = False, reset: bool = True, seed: int = 0) -> list[str]:
    """Every violation of the contract by ``env`` (a ``gymnasium.Env`` or a ``VectorEnv``).

    Checks both spaces, then (``reset=True``) one real ``reset(seed=seed)``; ``imitation``
    also asks for ``info["expert_action"]``. Returns a list of messages (empty: all good).
    """
    vector = _is_vector(env)
    obs_space = env.single_observation_space if vector else getattr(env, "observation_space", None)
    act_space = env.single_action_space if vector else getattr(env, "action_space", None)
    out = check_spaces(obs_space, act_space)
    if reset:
        try:
            result = env.reset(seed=seed)
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            out.append(f"reset(seed={seed}) raised {type(exc).__name__}: {exc}")
            return out
        if not (isinstance(result, tuple) and len(result) == 2):
            out.append("reset() must return (observation, info)")
            return out
        obs, info = result
        image_space = obs_space["image"] if isinstance(obs_space, spaces.Dict) and "image" in obs_space.spaces else None
        n = int(act_space.n) if isinstance(act_space, spaces.Discrete) else None
        said = " ".join(out)
        for v in check_reset(obs, info, image_space, vector, imitation, n):
            # The reset image repeats a problem the 'image' space already reported: once is enough.
            repeat = any(f"reset() image{' (batched)' if vector else ''} must {what}" in v and f"'image' space must {what}" in said
                         for what in ("be uint8", "have rank", "have 3 channels"))
            if v not in out and not repeat:
                out.append(v)
    return out


def validate_env(env: Any, name: str | None = None, imitation: bool = False, reset: bool = True) -> None:
    """Raise one ``ContractError`` (a ``ValueError``) listing every violation of the contract.

    ``env``: a ``gymnasium.Env`` or a ``VectorEnv`` (an env given by name is checked
    where ``vln.environments.make_vector_env`` makes it).
    """
    violations = check_env(env, imitation=imitation, reset=reset)
    if violations:
        if name is None:
            spec = getattr(env, "spec", None)
            name = repr(spec.id) if spec is not None and getattr(spec, "id", None) else type(env).__name__
        raise ContractError(name, violations)


# An agent that knows fewer than half of an env's instruction words was trained on another
# env: it would run, and its figures would be garbage. Some unknown words are normal
# (they read as <unk>): held-out phrasings, typos, a transfer experiment.
MAX_UNKNOWN_WORDS = 0.5


def check_agent_fits(agent: Any, env: Any, seed: int = 0) -> None:
    """ValueError unless a saved ``agent`` can drive the vector env ``env``.

    Its action count and frame shape must be the env's, and its vocabulary must know at
    least half of the words of the env's instructions (one ``reset(seed=seed)``).
    """
    config = agent.config
    problems = []
    n = int(getattr(env.single_action_space, "n", -1))
    if config.num_actions != n:
        problems.append(f"{config.num_actions} actions where the env has {n}")
    shape = tuple(int(d) for d in env.single_observation_space["image"].shape)
    if tuple(config.image_shape) != shape:
        problems.append(f"{config.image_shape} frames where the env gives {shape}")
    if not problems and agent.vocab is not None:
        obs, _ = env.reset(seed=seed)
        words = [w for m in np.asarray(obs["mission"], dtype=object).reshape(-1) for w in agent.vocab.tokens(str(m))]
        unknown = sorted({w for w in words if w not in agent.vocab})
        missing = sum(w not in agent.vocab for w in words)
        if words and missing > MAX_UNKNOWN_WORDS * len(words):
            problems.append(f"a vocabulary that misses {missing} of the {len(words)} words of the env's instructions "
                            f"(e.g. {', '.join(unknown[:5])})")
    if problems:
        raise ValueError(f"the agent does not fit this env: it has {'; '.join(problems)}. Was it trained on another env?")
