"""Tasks: one per file, each with its single env and its native vector env."""

from envs.core.task import Task
from envs.tasks.follow_route import FollowRouteEnv, FollowRouteTask, FollowRouteVectorEnv
from envs.tasks.goto_object import GoToObjectEnv, GoToObjectTask, GoToObjectVectorEnv

__all__ = ["Task", "GoToObjectTask", "GoToObjectEnv", "GoToObjectVectorEnv", "FollowRouteTask", "FollowRouteEnv", "FollowRouteVectorEnv"]
