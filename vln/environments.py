"""Making envs from what a user names: a registered id, ``package.module:ClassName``, or a
MiniGrid / BabyAI level (``MiniGrid-*``, ``BabyAI-*``, adapted by ``vln.minigrid_adapter``).

Every env made here is checked against the environment contract of docs/design.md
(``vln.contract``) before it is used, so a custom env that breaks it fails at once with
one error naming every problem.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import gymnasium as gym

from vln.contract import validate_env


def resolve_env_id(name: str) -> str:
    """A registered Gymnasium id for ``name``; ``module:Class`` paths are registered on the fly."""
    import envs  # noqa: F401  (registers the built-in ids)

    from vln.minigrid_adapter import adapted_id, is_minigrid_id

    if is_minigrid_id(name):
        return adapted_id(name)  # before the registry: the raw MiniGrid ids are registered too
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


def has_splits(name: str) -> bool:
    """Whether the env takes a ``split`` argument (so it has held-out "seen"/"unseen" episodes)."""
    spec = gym.spec(resolve_env_id(name))
    from vln.minigrid_adapter import ENTRY_POINT

    if spec.entry_point == ENTRY_POINT:
        return False  # MiniGrid levels: one distribution of episodes, held out by seed
    return _accepts(spec.entry_point, "split")


def draws_flat_colours(name: str) -> bool:
    """Whether the env is one of the built-in gridworlds (``envs``), which draw each of the six
    colours of ``envs.core.constants.COLORS`` flat and name them by those words: what a colour
    swap (``vln.augmentation``) relies on."""
    entry = gym.spec(resolve_env_id(name)).entry_point
    return isinstance(entry, str) and entry.startswith("envs.")


def make_vector_env(name: str, num_envs: int, split: str = "train", env_kwargs: dict[str, Any] | None = None, *,
                    validate: bool = True, imitation: bool = False, workers: int = 1, render_mode: str | None = None):
    """The native vector env where the id has one, else Gymnasium's SyncVectorEnv.

    ``workers > 1`` shards a native vector env over that many processes
    (``envs.parallel.ShardedVectorEnv``), so stepping uses several cores.

    With ``validate`` (the default) the env is checked against the environment contract
    (both spaces and one real ``reset()``) and a ``ValueError`` lists every violation;
    ``imitation=True`` also requires ``info["expert_action"]``. ``render_mode`` is passed
    where the env takes one (e.g. ``"rgb_array"`` to record videos from ``render()``).
    """
    env_id = resolve_env_id(name)
    spec = gym.spec(env_id)
    kwargs = dict(env_kwargs or {})
    if has_splits(name):
        kwargs["split"] = split
    elif split != "train":
        raise ValueError(f"env {name!r} has no 'split' argument, so it cannot give held-out ({split}) episodes")
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    if render_mode is not None and _accepts(spec.vector_entry_point or spec.entry_point, "render_mode"):
        kwargs["render_mode"] = render_mode
    try:
        if workers > 1 and mode == "vector_entry_point":
            from envs.parallel import ShardedVectorEnv

            venv = ShardedVectorEnv(env_id, num_envs, workers, **kwargs)
        else:
            venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    except TypeError as exc:
        raise ValueError(f"cannot make env {name!r} with {kwargs}: {exc}") from exc
    if validate:
        try:
            validate_env(venv, repr(name), imitation=imitation)
        except ValueError:
            venv.close()
            raise
    return venv
