"""Writes golden_frames.npz: first-person frames of fixed seeds and actions, drawn by the NumPy renderer.

  python tests/envs/data/make_golden_frames.py

The compiled renderer must reproduce these bytes (tests/envs/test_render_compiled.py).
Rerun only when what is drawn changes on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from envs.tasks.follow_route import FollowRouteVectorEnv  # noqa: E402
from envs.tasks.goto_object import GoToObjectVectorEnv  # noqa: E402

# (name, vector env class, renderer options): the default square pixels and one wide, flat view.
CASES = [(f"{task}_{view}", cls, opts) for task, cls in (("goto", GoToObjectVectorEnv), ("route", FollowRouteVectorEnv))
         for view, opts in (("default", {}), ("fov110_vfov60", {"fov_deg": 110.0, "vfov_deg": 60.0, "view_size": 48}))]
NUM_ENVS, STEPS, EVERY, SEED = 8, 40, 5, 2024


def golden_frames(cls, opts: dict, compiled: bool | None = None) -> np.ndarray:
    """(STEPS // EVERY + 1, NUM_ENVS, H, W, 3) frames: the reset's, then every EVERY steps of
    fixed random actions (STOP rarely, so episodes get far from their starts)."""
    env = cls(num_envs=NUM_ENVS, **opts)
    if compiled is not None:
        env.renderer.compiled = compiled
    obs, _ = env.reset(seed=SEED)
    frames = [obs["image"]]
    actions = np.random.default_rng(SEED).choice(4, size=(STEPS, NUM_ENVS), p=[0.5, 0.2, 0.2, 0.1])
    for t, a in enumerate(actions, start=1):
        obs = env.step(a)[0]
        if t % EVERY == 0:
            frames.append(obs["image"])
    return np.stack(frames)


def main() -> None:
    out = Path(__file__).with_name("golden_frames.npz")
    np.savez_compressed(out, **{name: golden_frames(cls, opts, compiled=False) for name, cls, opts in CASES})
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
