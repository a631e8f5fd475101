"""vln.breakdown on hand-made episodes: categories, precedence, buckets, route progress, missing keys."""

import json
import math

import numpy as np
import pytest

from vln.breakdown import (CATEGORIES, breakdown, episodes_from_rows, failure_category, format_breakdown,
                           length_bucket)


def ep(success=False, stopped=True, in_goal_room=True, near_distractor=False, mission="go to the red ball", **kw):
    out = {"success": success, "mission": mission, "stopped": stopped, "in_goal_room": in_goal_room,
           "near_distractor": near_distractor}
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def test_each_category():
    assert failure_category(ep(success=True)) is None
    assert failure_category(ep(stopped=False)) == "timeout"
    assert failure_category(ep(in_goal_room=False)) == "wrong_room"
    assert failure_category(ep(near_distractor=True)) == "at_distractor"
    assert failure_category(ep()) == "goal_room_not_at_goal"


def test_precedence():
    # timeout wins over everything, wrong_room over at_distractor.
    assert failure_category(ep(stopped=False, in_goal_room=False, near_distractor=True)) == "timeout"
    assert failure_category(ep(in_goal_room=False, near_distractor=True)) == "wrong_room"
    assert failure_category(ep(near_distractor=True)) == "at_distractor"
    # A success has no category whatever else it says.
    assert failure_category(ep(success=True, stopped=True, in_goal_room=False)) is None
    assert CATEGORIES == ("timeout", "wrong_room", "at_distractor", "goal_room_not_at_goal")


def test_rooms_from_ids_and_numpy_values():
    e = ep(in_goal_room=None, goal_room=np.int64(2), final_room=np.int64(-1), stopped=np.True_)
    assert failure_category(e) == "wrong_room"  # a doorway (-1) is no room
    e = ep(in_goal_room=None, goal_room=1, final_room=1, near_distractor=np.False_)
    assert failure_category(e) == "goal_room_not_at_goal"


def test_missing_keys_give_unknown_never_crash():
    minigrid = {"success": False, "mission": "go to the red door"}
    assert failure_category(minigrid) == "unknown"
    assert failure_category({"success": False, "stopped": False}) == "timeout"  # decidable without rooms
    assert failure_category({"success": False, "stopped": True, "near_distractor": True}) == "unknown"  # room unknown
    assert failure_category({"success": False, "stopped": True, "in_goal_room": True}) == "unknown"
    result = breakdown([minigrid, {"success": True, "mission": "go to the green key"}, {}])
    assert result["episodes"] == 3 and result["successes"] == 1
    assert result["by_num_rooms"] is None and result["by_num_distractors"] is None and result["route_progress"] is None
    assert result["failures"]["counts"] == {"timeout": 0, "wrong_room": 0, "at_distractor": 0,
                                            "goal_room_not_at_goal": 0, "unknown": 2}
    assert result["by_instruction_length"]["unknown"]["episodes"] == 1  # the episode without a mission
    assert "unknown" in format_breakdown(result)
    assert breakdown([])["success_rate"] is None
    format_breakdown(breakdown([]))


@pytest.mark.parametrize("words, label", [(1, "<=8"), (8, "<=8"), (9, "9-16"), (16, "9-16"), (17, "17-24"),
                                          (24, "17-24"), (25, "25+"), (60, "25+")])
def test_length_buckets(words, label):
    assert length_bucket(" ".join(["word,"] * words)) == label


def test_length_bucket_of_no_mission():
    assert length_bucket(None) == "unknown" and length_bucket(3) == "unknown"


def test_groups_counts_and_rates():
    eps = [ep(success=True, num_rooms=2), ep(num_rooms=2, stopped=False), ep(num_rooms=3, in_goal_room=False),
           ep(success=True, num_rooms=3, mission=" ".join(["w"] * 20)), ep(mission=None)]
    r = breakdown(eps)
    assert r["episodes"] == 5 and r["successes"] == 2 and r["success_rate"] == pytest.approx(0.4)
    assert list(r["by_num_rooms"]) == ["2", "3", "unknown"]
    assert r["by_num_rooms"]["2"] == {"episodes": 2, "successes": 1, "success_rate": 0.5, "failures": {"timeout": 1}}
    assert r["by_num_rooms"]["3"]["failures"] == {"wrong_room": 1}
    assert r["by_num_rooms"]["unknown"]["episodes"] == 1
    assert list(r["by_instruction_length"]) == ["<=8", "17-24", "unknown"]
    assert r["by_instruction_length"]["<=8"]["episodes"] == 3
    f = r["failures"]
    assert f["episodes"] == 3
    assert f["counts"] == {"timeout": 1, "wrong_room": 1, "at_distractor": 0, "goal_room_not_at_goal": 1}
    assert f["share_of_failures"]["timeout"] == pytest.approx(1 / 3)
    assert r["by_num_distractors"] is None


def test_route_progress():
    eps = [ep(success=True, route_doors=2, doors_passed=2), ep(route_doors=2, doors_passed=0, in_goal_room=False),
           ep(route_doors=2, doors_passed=1, in_goal_room=False), ep(route_doors=1, doors_passed=1),
           ep(route_doors=3, doors_passed=0, stopped=False), ep()]
    p = breakdown(eps)["route_progress"]
    assert p["episodes"] == 5
    assert p["counts"] == {"1": {"1": 1}, "2": {"0": 1, "1": 1, "2": 1}, "3": {"0": 1}}
    assert p["mean_fraction"] == pytest.approx((1 + 0 + 0.5 + 1 + 0) / 5)
    assert p["all_doors_rate"] == pytest.approx(2 / 5)
    text = format_breakdown(breakdown(eps))
    assert "Route progress" in text and "k=3" in text


def test_success_by_the_start_rooms_doors():
    eps = [ep(success=True, start_doors=1), ep(start_doors=2, in_goal_room=False), ep(success=True, start_doors=2),
           ep(start_doors=3, in_goal_room=False), ep()]
    r = breakdown(eps)["by_start_doors"]
    assert list(r) == ["1", "2", "3", "unknown"]
    assert r["2"] == {"episodes": 2, "successes": 1, "success_rate": 0.5, "failures": {"wrong_room": 1}}
    assert r["3"]["success_rate"] == 0.0 and r["unknown"]["episodes"] == 1
    assert "Success by the start room's doors" in format_breakdown(breakdown(eps))
    assert breakdown([ep()])["by_start_doors"] is None


def test_json_able_without_nan():
    eps = [ep(success=np.True_, num_distractors=np.int64(3), near_distractor=np.True_),
           ep(success=True, num_distractors=float("nan"))]
    r = breakdown(eps)
    text = json.dumps(r, allow_nan=False)  # no NaN, no numpy types
    assert json.loads(text) == r
    assert r["failures"]["episodes"] == 0 and all(v is None for v in r["failures"]["share_of_failures"].values())
    assert list(r["by_num_distractors"]) == ["3", "unknown"]  # NaN counts as missing
    assert isinstance(r["successes"], int) and not any(isinstance(v, float) and math.isnan(v) for v in r.values())


def test_episodes_from_rows_merges_row_over_info():
    rows = [{"seed": 1, "mission": "go to the red ball", "success": False}]
    infos = [{"success": True, "stopped": False, "num_distractors": 2}]
    (merged,) = episodes_from_rows(rows, infos)
    assert merged["success"] is False and merged["stopped"] is False and merged["num_distractors"] == 2
    assert failure_category(merged) == "timeout"
    with pytest.raises(ValueError):
        episodes_from_rows(rows, [])


def test_format_breakdown_tables():
    eps = [ep(success=True, num_distractors=1), ep(num_distractors=1, near_distractor=True), ep(num_distractors=4)]
    text = format_breakdown(breakdown(eps))
    for part in ("Breakdown of 3 episodes", "Success by instruction length", "Success by number of distractors",
                 "at_distractor", "goal_room_not_at_goal", "timeout", "wrong_room"):
        assert part in text, part
    assert "Success by number of rooms" not in text
