"""Making envs from what a user names: a registered id or ``package.module:ClassName``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import gymnasium as gym


def resolve_env_id(name: str) -> str:
    """A registered Gymnasium id for ``name``; ``module:Class`` paths are registered on the fly."""
    import envs  # noqa: F401  (registers the built-in ids)

    if name in gym.registry:
        return name
    if ":" in name and "/" not in name.split(":")[0]:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import {module_name!r} for env {name!r}: {exc}") from exc
        if not hasattr(module, attr):
            raise ValueError(f"module {module_name!r} has no {attr!r} (env {name!r})")
        env_id = f"custom/{attr}-v0"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=name)
        return env_id
    if name.split("-")[0].startswith(("MiniGrid", "BabyAI")):
        importlib.import_module("minigrid")  # registers MiniGrid and BabyAI ids
        if name in gym.registry:
            return name
    raise ValueError(f"unknown env {name!r}: not a registered Gymnasium id nor a 'package.module:ClassName' path")


def _accepts(entry_point: Any, name: str) -> bool:
    if isinstance(entry_point, str):
        module_name, _, attr = entry_point.partition(":")
        entry_point = getattr(importlib.import_module(module_name), attr)
    try:
        params = inspect.signature(entry_point).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def make_vector_env(name: str, num_envs: int, split: str = "train", env_kwargs: dict[str, Any] | None = None):
    """The native vector env where the id has one, else Gymnasium's SyncVectorEnv."""
    env_id = resolve_env_id(name)
    spec = gym.spec(env_id)
    kwargs = dict(env_kwargs or {})
    if _accepts(spec.entry_point, "split"):
        kwargs["split"] = split
    elif split != "train":
        raise ValueError(f"env {name!r} has no 'split' argument, so it cannot give held-out ({split}) episodes")
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    try:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    except TypeError as exc:
        raise ValueError(f"cannot make env {name!r} with {kwargs}: {exc}") from exc
