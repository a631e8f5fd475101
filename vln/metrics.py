"""Room-to-Room navigation metrics, as published.

- SR: success rate (the agent stopped within the success distance of the goal).
- SPL: mean over episodes of S * l / max(p, l), with l the shortest path length and p the
  agent's path length (Anderson et al. 2018).
- NE: navigation error, the shortest-path distance from where the agent stopped to the goal.
- OSR: oracle success, some point of the path was within the success distance.
- nDTW = exp(-DTW(P, R) / (d_th * |R|)); SDTW = S * nDTW (Ilharco et al. 2019).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

METRIC_NAMES = ("success_rate", "spl", "navigation_error", "oracle_success_rate", "ndtw", "sdtw", "path_length", "episodes")


def spl(success: bool, shortest_path_length: float, path_length: float) -> float:
    """Success weighted by (normalised inverse) path length, for one episode."""
    if not success:
        return 0.0
    if shortest_path_length <= 0:
        return 1.0
    return float(shortest_path_length / max(path_length, shortest_path_length))


def dtw(path: Sequence[Sequence[float]], reference: Sequence[Sequence[float]]) -> float:
    """Dynamic time warping distance between two paths of points (Euclidean step cost)."""
    p = np.asarray(path, dtype=np.float64).reshape(len(path), -1)
    r = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if len(p) == 0 or len(r) == 0:
        raise ValueError("dtw needs two non-empty paths")
    cost = np.linalg.norm(p[:, None, :] - r[None, :, :], axis=-1)
    acc = np.full((len(p) + 1, len(r) + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, len(p) + 1):
        row, prev = acc[i], acc[i - 1]
        for j in range(1, len(r) + 1):
            row[j] = cost[i - 1, j - 1] + min(prev[j], row[j - 1], prev[j - 1])
    return float(acc[-1, -1])


def ndtw(path, reference, success_distance: float) -> float:
    """Normalised DTW in (0, 1]: 1 when the path follows the reference exactly."""
    return float(np.exp(-dtw(path, reference) / (success_distance * len(reference))))


def episode_metrics(info: Mapping) -> dict[str, float]:
    """Per-episode metrics from an env's end-of-episode info (see the env contract)."""
    success = bool(info["success"])
    n = ndtw(info["trajectory"], info["reference_path"], float(info.get("success_distance", 1.0)))
    return {
        "success": float(success),
        "spl": spl(success, float(info["shortest_path_length"]), float(info["path_length"])),
        "navigation_error": float(info["distance_to_goal"]),
        "oracle_success": float(bool(info["oracle_success"])),
        "ndtw": n,
        "sdtw": float(success) * n,
        "path_length": float(info["path_length"]),
    }


def summarize(per_episode: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Means over episodes, under the names of ``eval.json``."""
    rows = list(per_episode)
    if not rows:
        return {name: 0.0 for name in METRIC_NAMES[:-1]} | {"episodes": 0}

    def mean(key: str) -> float:
        return float(np.mean([row[key] for row in rows]))

    return {
        "success_rate": mean("success"),
        "spl": mean("spl"),
        "navigation_error": mean("navigation_error"),
        "oracle_success_rate": mean("oracle_success"),
        "ndtw": mean("ndtw"),
        "sdtw": mean("sdtw"),
        "path_length": mean("path_length"),
        "episodes": len(rows),
    }
