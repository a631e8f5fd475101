"""The end-of-episode outcome keys (envs.core.outcome) on real episodes, driven by the expert's action."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.core.constants import DOOR, FLOOR, LEFT, STOP, WALL
from envs.core.outcome import door_crossings, doors_passed
from envs.parallel import ShardedVectorEnv
from vln.breakdown import failure_category

GOTO_ID, ROUTE_ID = envs.ENV_IDS
OUTCOME_KEYS = ("stopped", "near_distractor", "goal_room", "final_room", "in_goal_room")
ROUTE_KEYS = ("num_rooms", "route_doors", "doors_passed", "start_doors")


def run(env_id, n, policy, seed=0, **kw):
    """One episode per env of a vector env; returns [(end info, episode)] in env order.

    ``policy(expert_actions, steps)`` gives the actions of all envs from the expert's.
    """
    kw.setdefault("view_size", 16)
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw)
    _, info = venv.reset(seed=seed)
    out = [None] * n
    for step in range(10_000):
        _, _, term, trunc, info = venv.step(policy(info["expert_action"], step))
        for i in np.flatnonzero(term | trunc):
            if out[i] is None:
                end = {k: info[k][i] for k in info if not k.startswith("_") and info["_" + k][i]}
                out[i] = (end, venv.unwrapped.batch.episodes[i])  # not reset until the next step
        if all(o is not None for o in out):
            return out
    raise AssertionError("episodes did not end")


def test_expert_on_follow_route_passes_every_route_door():
    for end, ep in run(ROUTE_ID, 8, lambda expert, step: expert):
        assert end["success"] and end["stopped"] and end["in_goal_room"]
        assert end["final_room"] == end["goal_room"] >= 0
        assert 2 <= end["num_rooms"] <= 6
        route_doors = sum(ep.grid[cell] == DOOR for cell in end["reference_path"])
        assert end["route_doors"] == route_doors >= 1
        assert end["doors_passed"] == end["route_doors"]
        room_of = ep.extras["room_of"]
        start_doors = {cell for cell in zip(*np.nonzero(ep.grid == DOOR))
                       if any(room_of[cell[0] + dr, cell[1] + dc] == room_of[ep.start]
                              for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)))}
        assert end["start_doors"] == len(start_doors) >= 1
        assert failure_category(end) is None


def test_stop_at_once_on_follow_route_is_wrong_room():
    for end, ep in run(ROUTE_ID, 6, lambda expert, step: np.full(len(expert), STOP)):
        assert end["stopped"] and not end["success"]
        assert end["num_rooms"] >= 2 and not end["in_goal_room"] and end["final_room"] != end["goal_room"]
        assert end["doors_passed"] == 0 and end["route_doors"] >= 1
        assert failure_category({**end, "mission": ep.mission}) == "wrong_room"


@pytest.mark.parametrize("env_id", [GOTO_ID, ROUTE_ID])
def test_never_stopping_is_timeout(env_id):
    # The expert's path, turning in place instead of stopping: at the goal, but the step limit ends it.
    never_stop = lambda expert, step: np.where(expert == STOP, LEFT, expert)  # noqa: E731
    limit = {GOTO_ID: 40, ROUTE_ID: 150}[env_id]  # the defaults
    for end, ep in run(env_id, 4, never_stop):
        assert not end["stopped"] and not end["success"] and end["episode_steps"] == limit
        assert end["in_goal_room"] and end["distance_to_goal"] == 0
        if env_id == ROUTE_ID:
            assert end["doors_passed"] == end["route_doors"]
        assert failure_category(end) == "timeout"
    for end, _ in run(env_id, 2, lambda expert, step: np.full(len(expert), LEFT), max_steps=5):
        assert not end["stopped"] and failure_category(end) == "timeout"
        if env_id == ROUTE_ID:
            assert end["doors_passed"] == 0


def test_goto_object_counts_and_rooms():
    ends = run(GOTO_ID, 8, lambda expert, step: expert, seed=3) + run(GOTO_ID, 8, lambda e, s: np.full(len(e), STOP), seed=3)
    for end, ep in ends:
        assert end["num_distractors"] == len(ep.objects) - 1 >= 1
        assert end["goal_room"] == end["final_room"] == 0 and end["in_goal_room"]
        r, c = end["trajectory"][-1]
        near = any(max(abs(o.row - r), abs(o.col - c)) <= 1 for k, o in enumerate(ep.objects) if k != ep.goal)
        assert end["near_distractor"] == near
        assert not any(k in end for k in ROUTE_KEYS)
        cat = failure_category(end)
        assert cat is None if end["success"] else cat in ("at_distractor", "goal_room_not_at_goal")
    # Stopping at once never succeeds (the start is two cells from the target).
    assert all(not end["success"] for end, _ in ends[8:])


@pytest.mark.parametrize("env_id", [GOTO_ID, ROUTE_ID])
def test_single_env_gives_the_same_outcome_keys(env_id):
    (vend, _), = run(env_id, 1, lambda expert, step: expert if step < 6 else np.full(1, STOP), seed=5)
    env = gym.make(env_id, view_size=16)
    _, info = env.reset(seed=5)
    for step in range(10_000):
        _, _, term, trunc, info = env.step(int(info["expert_action"]) if step < 6 else STOP)
        if term or trunc:
            break
    keys = OUTCOME_KEYS + (ROUTE_KEYS if env_id == ROUTE_ID else ("num_distractors",))
    for key in keys:
        assert type(info[key]) in (bool, int), key
        assert info[key] == vend[key], key
    assert info["stopped"] and set(keys) <= set(info)


def test_sharded_vector_env_reports_the_keys_with_masks():
    env = ShardedVectorEnv(ROUTE_ID, 4, 2, view_size=16)
    try:
        env.reset(seed=0)
        _, _, term, _, info = env.step(np.array([STOP, STOP, LEFT, STOP]))
        assert term.tolist() == [True, True, False, True]
        for key in OUTCOME_KEYS + ROUTE_KEYS:
            assert info["_" + key].tolist() == [True, True, False, True], key
        assert info["stopped"][[0, 1, 3]].all() and not info["in_goal_room"][[0, 1, 3]].any()
        assert (info["doors_passed"][[0, 1, 3]] == 0).all()
    finally:
        env.close()


def test_door_crossings_count_only_through_and_in_order():
    grid = np.full((3, 7), WALL, np.uint8)
    grid[1, :] = FLOOR
    grid[1, 2] = grid[1, 4] = DOOR
    route = door_crossings(grid, [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)])
    assert route == [((1, 2), (1, 1)), ((1, 4), (1, 3))]
    # In and back out of the first door: no crossing.
    assert door_crossings(grid, [(1, 1), (1, 2), (1, 1)]) == []
    # Ending in a doorway is no crossing either.
    assert door_crossings(grid, [(1, 1), (1, 2)]) == []
    # Through, back (the other way), through again and on: both doors, in order.
    cells = [(1, 1), (1, 2), (1, 3), (1, 2), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]
    assert doors_passed(door_crossings(grid, cells), route) == 2
    # The second door without the first does not count.
    assert doors_passed([((1, 4), (1, 3))], route) == 0
    assert doors_passed([((1, 2), (1, 3))], route) == 0  # the first door the wrong way


def test_stop_on_the_last_step_counts_as_stopped():
    ends = run(GOTO_ID, 2, lambda expert, step: np.full(len(expert), STOP if step == 2 else LEFT), max_steps=3)
    for end, _ in ends:
        assert end["episode_steps"] == 3 and end["stopped"]
        assert failure_category(end) != "timeout"
