"""Held-out evaluation with the Room-to-Room metrics, batched on the native vector env."""

from __future__ import annotations

from typing import Any

from vln.collect import Policy, Trajectory, run_episodes
from vln.metrics import episode_metrics, summarize


def evaluate_policy(env, policy: Policy, episodes: int, seed: int = 0) -> tuple[dict[str, float], list[dict[str, Any]], list[Trajectory]]:
    """Run ``episodes`` episodes (seeds ``seed...``) and compute the metrics.

    Returns (summary, per-episode rows, trajectories).
    """
    trajs = run_episodes(env, policy, episodes, seed)
    rows = []
    for t in trajs:
        m = episode_metrics(t.info)
        rows.append({"seed": t.seed, "mission": t.mission, "steps": len(t), **m})
    return summarize(rows), rows, trajs
