"""Paired comparison of two evaluations on the same episodes.

Two agents evaluated on the same seeds share each episode's difficulty, so comparing them
episode by episode (a paired test) needs far fewer episodes than comparing two success
rates: McNemar's exact test on the episodes only one of them solved, and a bootstrap
confidence interval (over episodes) of the difference of each metric. ``across_seeds``
summarises a metric over the seeds of a sweep's config (mean, IQM, bootstrap intervals).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_METRICS = ("success", "spl")


def mcnemar_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value: ``gained`` episodes only B solved, ``lost`` only A solved."""
    n, k = gained + lost, min(gained, lost)
    if n == 0:
        return 1.0
    # Under "no difference" each discordant episode is B's with probability 1/2.
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def mean_interval(values: Sequence[float], resamples: int = 10_000, seed: int = 0) -> tuple[float, float] | None:
    """The 95% percentile-bootstrap interval (over episodes) of the mean of ``values``.

    NaNs (a metric the env cannot give) are left out; None where no value is left.
    """
    v = np.asarray([float(x) for x in values], np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    boots = v[np.random.default_rng(seed).integers(0, v.size, (resamples, v.size))].mean(axis=1)
    return float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def paired_comparison(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]],
                      metrics: Sequence[str] = DEFAULT_METRICS, resamples: int = 10_000,
                      seed: int = 0) -> dict[str, Any]:
    """Compare per-episode rows ``a`` and ``b`` (each with a ``seed`` and the ``metrics``).

    Only the seeds both hold are compared (and there must be some). Returns ``episodes``,
    per metric ``{"a", "b", "diff", "ci95": [lo, hi]}`` (means; ``diff`` = b - a, its 95%
    bootstrap interval), and McNemar's ``gained``, ``lost`` and ``p`` on ``success``.
    """
    rows_a = {int(r["seed"]): r for r in a}
    rows_b = {int(r["seed"]): r for r in b}
    if len(rows_a) != len(a) or len(rows_b) != len(b):
        raise ValueError("each evaluation must hold every seed once")
    seeds = sorted(set(rows_a) & set(rows_b))
    if not seeds:
        raise ValueError("the two evaluations share no episode seeds: evaluate both with the same --seed")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(seeds), (resamples, len(seeds)))
    out: dict[str, Any] = {"episodes": len(seeds)}
    for name in metrics:
        try:
            va = np.array([float(rows_a[s][name]) for s in seeds])
            vb = np.array([float(rows_b[s][name]) for s in seeds])
        except KeyError as exc:
            raise ValueError(f"per-episode rows have no {name!r} column") from exc
        diff = vb - va
        boots = diff[picks].mean(axis=1)
        out[name] = {"a": float(va.mean()), "b": float(vb.mean()), "diff": float(diff.mean()),
                     "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]}
    if "success" in metrics:
        sa = np.array([float(rows_a[s]["success"]) > 0 for s in seeds])
        sb = np.array([float(rows_b[s]["success"]) > 0 for s in seeds])
        gained, lost = int((~sa & sb).sum()), int((sa & ~sb).sum())
        out["mcnemar"] = {"gained": gained, "lost": lost, "p": mcnemar_p(gained, lost)}
    return out


def across_seeds(values: Sequence[float], resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """A metric over a config's seeds: mean and IQM (the mean of the middle half: robust to one
    odd seed; Agarwal et al. 2021), each with its 95% bootstrap interval over seeds.

    scipy's ``stats.bootstrap`` (percentile intervals: BCa is undefined on a handful of seeds).
    A value is None where there are no seeds, an interval None where there are fewer than 2.
    """
    from scipy import stats

    v = np.asarray([float(x) for x in values], np.float64)
    v = v[np.isfinite(v)]

    def iqm(x, axis=-1):
        return stats.trim_mean(x, 0.25, axis=axis)

    out: dict[str, Any] = {"n": int(v.size)}
    for name, statistic in (("mean", np.mean), ("iqm", iqm)):
        out[name] = float(statistic(v)) if v.size else None
        out[f"{name}_ci"] = None
        if v.size >= 2:
            if np.ptp(v) == 0:  # every seed the same: the interval is that point
                out[f"{name}_ci"] = (float(v[0]), float(v[0]))
                continue
            res = stats.bootstrap((v,), statistic, n_resamples=resamples, confidence_level=0.95,
                                  method="percentile", rng=np.random.default_rng(seed))
            out[f"{name}_ci"] = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return out
