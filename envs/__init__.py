"""First-person gridworld environments for vision-and-language navigation.

Importing this package registers ``vln/GoToObject-v0`` and ``vln/FollowRoute-v0`` with
Gymnasium, each with an ``entry_point`` (single env) and a ``vector_entry_point`` (the
native batched env), so ``gymnasium.make_vec(id, num_envs=N,
vectorization_mode="vector_entry_point")`` renders all N views in one call.

It also registers ``vln/GoToObject-jax-v0`` and ``vln/FollowRoute-jax-v0``: the same
envs as pure JAX functions over an episode bank (``envs.functional``), a
``FunctionalJaxEnv`` and a ``FunctionalJaxVectorEnv``. Their entry points are strings, so
jax is imported only when one is made.
"""

import gymnasium

from envs.nav_env import EpisodeBatch, VLNEnv, VLNVectorEnv
from envs.tasks import (
    FollowRouteEnv,
    FollowRouteTask,
    FollowRouteVectorEnv,
    GoToObjectEnv,
    GoToObjectTask,
    GoToObjectVectorEnv,
    Task,
)

ENV_IDS = ("vln/GoToObject-v0", "vln/FollowRoute-v0")
JAX_ENV_IDS = ("vln/GoToObject-jax-v0", "vln/FollowRoute-jax-v0")


def _register() -> None:
    specs = {
        "vln/GoToObject-v0": ("envs.tasks.goto_object:GoToObjectEnv", "envs.tasks.goto_object:GoToObjectVectorEnv"),
        "vln/FollowRoute-v0": ("envs.tasks.follow_route:FollowRouteEnv", "envs.tasks.follow_route:FollowRouteVectorEnv"),
        "vln/GoToObject-jax-v0": ("envs.functional.gym_env:GoToObjectJaxEnv",
                                  "envs.functional.gym_env:GoToObjectJaxVectorEnv"),
        "vln/FollowRoute-jax-v0": ("envs.functional.gym_env:FollowRouteJaxEnv",
                                   "envs.functional.gym_env:FollowRouteJaxVectorEnv"),
    }
    for env_id, (entry, vector_entry) in specs.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry, vector_entry_point=vector_entry)


_register()

__all__ = [
    "ENV_IDS", "JAX_ENV_IDS", "EpisodeBatch", "VLNEnv", "VLNVectorEnv", "Task", "GoToObjectTask", "GoToObjectEnv",
    "GoToObjectVectorEnv", "FollowRouteTask", "FollowRouteEnv", "FollowRouteVectorEnv",
]
