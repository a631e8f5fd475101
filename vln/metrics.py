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


def episode_metrics(info: Mapping, steps: int | None = None) -> dict[str, float]:
    """Per-episode metrics from an env's end-of-episode info (see the env contract).

    An env that gives no geometry still gets ``success`` (``info["success"]``, False when
    absent) and ``path_length`` (``steps``, the actions taken, where the env gives none);
    the metrics that need geometry (SPL, NE, OSR, nDTW, SDTW) are then NaN, and
    ``summarize`` leaves NaNs out of its means.
    """
    nan = float("nan")
    success = bool(info.get("success", False))
    has = lambda *keys: all(k in info for k in keys)  # noqa: E731
    path_length = float(info["path_length"]) if "path_length" in info else (nan if steps is None else float(steps))
    n = (ndtw(info["trajectory"], info["reference_path"], float(info.get("success_distance", 1.0)))
         if has("trajectory", "reference_path") and len(info["trajectory"]) and len(info["reference_path"]) else nan)
    return {
        "success": float(success),
        "spl": spl(success, float(info["shortest_path_length"]), float(info["path_length"]))
        if has("shortest_path_length", "path_length") else nan,
        "navigation_error": float(info["distance_to_goal"]) if has("distance_to_goal") else nan,
        "oracle_success": float(bool(info["oracle_success"])) if has("oracle_success") else nan,
        "ndtw": n,
        "sdtw": float(success) * n,
        "path_length": path_length,
    }


def summarize(per_episode: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Means over episodes, under the names of ``eval.json``."""
    rows = list(per_episode)
    if not rows:
        return {name: 0.0 for name in METRIC_NAMES[:-1]} | {"episodes": 0}

    def mean(key: str) -> float:
        values = np.asarray([row.get(key, np.nan) for row in rows], np.float64)
        values = values[~np.isnan(values)]  # metrics an env cannot give (no geometry) are NaN
        return float(values.mean()) if len(values) else float("nan")

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
