"""Renderers: the batched first-person raycaster and the top-down map for humans."""

from envs.render.raycast import RaycastRenderer, SceneBatch
from envs.render.topdown import render_topdown

__all__ = ["RaycastRenderer", "SceneBatch", "render_topdown"]
