"""Metric functions on hand-computed cases."""

import math

import pytest

from vln.metrics import dtw, episode_metrics, ndtw, spl, summarize


def test_spl_hand_computed():
    assert spl(True, 4.0, 4.0) == 1.0
    assert spl(True, 4.0, 8.0) == 0.5
    assert spl(False, 4.0, 4.0) == 0.0
    assert spl(True, 4.0, 2.0) == 1.0  # shorter than shortest (cannot happen) is capped at 1
    assert spl(True, 0.0, 3.0) == 1.0


def test_dtw_hand_computed():
    ref = [(0, 0), (0, 1), (0, 2)]
    assert dtw(ref, ref) == 0.0
    # One extra point one cell off the path costs its distance to the nearest reference point.
    assert dtw([(0, 0), (1, 1), (0, 2)], ref) == pytest.approx(1.0)
    # Stopping early: the remaining reference points align with the last point (1 + 2).
    assert dtw([(0, 0)], ref) == pytest.approx(3.0)


def test_ndtw_and_sdtw():
    ref = [(0, 0), (0, 1), (0, 2)]
    assert ndtw(ref, ref, 1.0) == 1.0
    assert ndtw([(0, 0)], ref, 1.0) == pytest.approx(math.exp(-3.0 / 3.0))
    info = {"success": False, "trajectory": [(0, 0)], "reference_path": ref, "shortest_path_length": 2.0,
            "path_length": 0.0, "distance_to_goal": 2.0, "oracle_success": False, "success_distance": 1.0}
    m = episode_metrics(info)
    assert m["sdtw"] == 0.0 and m["ndtw"] == pytest.approx(math.exp(-1.0))
    info.update(success=True, trajectory=ref, path_length=2.0, distance_to_goal=0.0, oracle_success=True)
    m = episode_metrics(info)
    assert m["sdtw"] == 1.0 and m["spl"] == 1.0


def test_summarize_means():
    rows = [{"success": 1.0, "spl": 0.5, "navigation_error": 0.0, "oracle_success": 1.0, "ndtw": 0.8, "sdtw": 0.8, "path_length": 4.0},
            {"success": 0.0, "spl": 0.0, "navigation_error": 3.0, "oracle_success": 1.0, "ndtw": 0.2, "sdtw": 0.0, "path_length": 6.0}]
    s = summarize(rows)
    assert s == {"success_rate": 0.5, "spl": 0.25, "navigation_error": 1.5, "oracle_success_rate": 1.0, "ndtw": 0.5,
                 "sdtw": 0.4, "path_length": 5.0, "episodes": 2}
