"""Tests for envs.core.in_view_expert: as short in cells as the shortest path, its target kept in view
(the scanning expert's own behaviour: tests/envs/test_scanning_expert.py)."""

import gymnasium
import numpy as np
import pytest

import envs
from envs.core import jit
from envs.core.constants import DIR_VEC, DOOR, FORWARD, LEFT, RIGHT, STOP
from envs.core.expert import UNREACHABLE, cell_distances
from envs.core.in_view_expert import (TARGET_VIEWS, WAYPOINT_EXPERTS, goal_view, in_view_actions, stop_cells, target_view,
                                      waypoints)


def run(env, seed, strays=0, rng=None):
    """Random non-STOP actions for ``strays`` steps, then the expert; yields (batch, action) before each expert step."""
    obs, info = env.reset(seed=seed)
    for _ in range(strays):
        obs, _, term, trunc, info = env.step(int(rng.integers(3)))
        assert not (term or trunc)
    b = env.unwrapped.batch
    while True:
        yield b, info["expert_action"]
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        if term or trunc:
            yield None, info
            return


COMPILED = [False, True] if jit.AVAILABLE else [False]


@pytest.mark.parametrize("expert", WAYPOINT_EXPERTS)  # the scanning expert walks as this one once it has looked
@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("split", ["train", "unseen"])
def test_it_succeeds_in_as_few_moves_as_the_shortest_path(env_id, split, expert):
    env = gymnasium.make(env_id, split=split, view_size=16, expert=expert)
    longer = 0
    for seed in range(40):
        *_, (_, info) = run(env, seed)
        assert info["success"], (env_id, seed)
        # Moves: never more than the shortest path (to a stop cell, possibly another one).
        assert info["path_length"] <= info["shortest_path_length"]
        longer += info["episode_steps"] > info["path_length"] + 1
    assert longer > 0  # it turns more than it must somewhere: the staircase is not the shortest-action path


@pytest.mark.parametrize("expert", WAYPOINT_EXPERTS)
@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_it_recovers_from_strayed_states(env_id, expert):
    env = gymnasium.make(env_id, view_size=16, max_steps=400, expert=expert)
    rng = np.random.default_rng(0)
    for seed in range(20):
        steps = list(run(env, 100 + seed, strays=int(rng.integers(3, 15)), rng=rng))
        assert steps[-1][1]["success"], (env_id, seed)


def test_moving_forward_keeps_the_target_within_45_degrees():
    """Every forward move outside a doorway heads along the axis the waypoint is farthest on,
    unless the move toward it sideways is no closer (an object in the way)."""
    env = gymnasium.make("vln/FollowRoute-v0", view_size=16, expert="in_view")
    forward = 0
    for seed in range(30):
        for b, action in run(env, seed):
            if b is None or action != FORWARD:
                continue
            r, c, h = int(b.row[0]), int(b.col[0]), int(b.heading[0])
            if b.grid[0, r, c] == DOOR:
                continue
            target = b.waypoint[0, r, c] if b.stop_dist[0, r, c] > 0 else b.goal[0]
            v = target - (r, c)
            along = int(np.dot(v, DIR_VEC[h]))
            side = [k for k in ((h + 1) % 4, (h + 3) % 4) if np.dot(v, DIR_VEC[k]) > 0]
            sideways_closer = bool(side) and b.stop_dist[0, r + DIR_VEC[side[0], 0], c + DIR_VEC[side[0], 1]] == \
                b.stop_dist[0, r, c] - 1
            lateral = int(np.dot(v, DIR_VEC[side[0]])) if side else 0
            if sideways_closer:
                assert along >= lateral, (seed, (r, c, h), target)
                forward += 1
    assert forward > 100


def test_waypoints_on_a_hand_made_grid():
    # Two rooms joined by a door at (2, 4); the goal at (2, 7): every cell of the left room heads for the door.
    blocked = np.ones((1, 5, 9), bool)
    blocked[0, 1:4, 1:4] = False
    blocked[0, 1:4, 5:8] = False
    blocked[0, 2, 4] = False
    door = np.zeros_like(blocked)
    door[0, 2, 4] = True
    goal = np.array([[2, 7]])
    blocked[0, 2, 7] = True  # the goal object
    dist = cell_distances(blocked, stop_cells(blocked, goal))
    for compiled in ([False, True] if jit.AVAILABLE else [False]):
        wp = waypoints(dist, door, goal, compiled=compiled)
        assert wp[0, 1, 1].tolist() == [2, 4] and wp[0, 3, 3].tolist() == [2, 4]
        assert wp[0, 2, 4].tolist() == [2, 4]  # a door is its own waypoint
        assert wp[0, 1, 5].tolist() == [2, 7] and wp[0, 3, 6].tolist() == [2, 7]
    # From (1, 1) facing east: the door is 1 row down, 3 columns on: forward.
    def act(r, c, h):
        action, stuck = in_view_actions(dist, wp, goal, np.array([r]), np.array([c]), np.array([h]))
        assert not stuck[0]
        return int(action[0])

    assert act(1, 1, 0) == FORWARD
    assert act(1, 1, 3) == RIGHT  # facing north: turn to the east
    assert act(1, 1, 2) == LEFT  # facing west: a half turn, toward the door's side (south, on the left)
    assert act(1, 3, 0) == RIGHT  # beside the door's row: turn south
    assert act(2, 6, 0) == STOP  # next to the goal, facing it
    assert act(2, 6, 3) == RIGHT  # next to it, facing north: turn to face it


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_compiled_waypoints_match_the_numpy_levels():
    rng = np.random.default_rng(3)
    blocked = rng.random((30, 11, 13)) < 0.25
    door = ~blocked & (rng.random((30, 11, 13)) < 0.1)
    goals = np.stack([rng.integers(0, 11, 30), rng.integers(0, 13, 30)], 1)
    dist = cell_distances(blocked, stop_cells(blocked, goals))
    assert (dist < UNREACHABLE).sum() > 1000
    np.testing.assert_array_equal(waypoints(dist, door, goals, compiled=True), waypoints(dist, door, goals, compiled=False))


def test_target_view_on_a_hand_made_grid():
    """Where the target is in the view: ahead, to a side, behind, beyond the field of view, or behind a wall."""
    # Two rooms joined by a door at (3, 4); the goal object at (3, 7).
    grid = np.ones((1, 7, 9), np.uint8)
    grid[0, 1:6, 1:4] = 0
    grid[0, 1:6, 5:8] = 0
    grid[0, 3, 4] = DOOR
    blocked = grid == 1
    goal = np.array([[3, 7]])
    blocked[0, 3, 7] = True
    dist = cell_distances(blocked, stop_cells(blocked, goal))
    wp = waypoints(dist, grid == DOOR, goal)

    def view(r, c, h, fov=90.0):
        views = {TARGET_VIEWS[int(target_view(grid, dist, wp, goal, np.array([r]), np.array([c]), np.array([h]), fov,
                                              compiled=compiled)[0])] for compiled in COMPILED}
        assert len(views) == 1
        return views.pop()

    assert view(3, 1, 0) == "ahead"  # the door straight ahead, three cells on
    assert view(1, 2, 0) == "right"  # facing east, the door 2 rows south (right), 2 columns on: 45 degrees
    assert view(5, 2, 0) == "left"
    assert view(1, 2, 0, fov=60.0) == "out of view"  # 45 degrees is beyond half of a 60-degree view
    assert view(3, 1, 2) == "out of view"  # facing away
    assert view(3, 3, 1) == "out of view"  # beside it (90 degrees)
    assert view(1, 3, 1) == "left"  # facing south along the wall: seen at a slant, past the wall beside it
    assert view(3, 6, 0) == "ahead"  # at a stop cell the target is the goal, next to it
    assert view(3, 4, 0) == "out of view"  # standing in the door it heads for
    # A wall between column 5 and the goal, open at its south end: from (1, 5) the target is the
    # goal (no door on the way), in a 150-degree view, but behind the wall.
    grid2, blocked2 = grid.copy(), blocked.copy()
    grid2[0, 1:5, 6] = 1
    blocked2 = (grid2 == 1) | blocked2
    dist2 = cell_distances(blocked2, stop_cells(blocked2, goal))
    wp2 = waypoints(dist2, grid2 == DOOR, goal)
    assert dist2[0, 1, 5] < UNREACHABLE and wp2[0, 1, 5].tolist() == [3, 7]
    rows, cols, heads = np.array([1]), np.array([5]), np.array([1])
    v = target_view(grid2, dist2, wp2, goal, rows, cols, heads, 150.0)  # facing south: 2 rows down, 2 across
    assert TARGET_VIEWS[int(v[0])] == "out of view"
    assert TARGET_VIEWS[int(target_view(grid, dist, wp, goal, rows, cols, heads, 150.0)[0])] == "left"  # no wall


def test_goal_view_points_at_the_goal_wherever_the_route_is():
    """The goal's place in the view, on the grid of the target-view test: before the door too, where
    the target view points at the door; behind a wall it is out of view."""
    grid = np.ones((1, 7, 9), np.uint8)
    grid[0, 1:6, 1:4] = 0
    grid[0, 1:6, 5:8] = 0
    grid[0, 3, 4] = DOOR
    goal = np.array([[3, 7]])

    def view(r, c, h, fov=90.0):
        views = {TARGET_VIEWS[int(goal_view(grid, goal, np.array([r]), np.array([c]), np.array([h]), fov,
                                            compiled=compiled)[0])] for compiled in COMPILED}
        assert len(views) == 1
        return views.pop()

    assert view(3, 1, 0) == "ahead"  # through the door, six cells on (the target view says: the door, ahead)
    assert view(3, 6, 0) == "ahead"  # next to it
    assert view(3, 4, 0) == "ahead"  # standing in the door: the goal is seen (the door, the target, is not)
    assert view(1, 6, 1) == "left"  # facing south, the goal two rows down and one column east
    assert view(5, 6, 3) == "right"
    assert view(3, 6, 2) == "out of view"  # facing away
    assert view(1, 2, 0) == "out of view"  # two rows up, behind the wall beside the door


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_compiled_target_views_match_numpy():
    env = gymnasium.make_vec("vln/FollowRoute-v0", num_envs=16, vectorization_mode="vector_entry_point", view_size=16,
                             expert="in_view")
    b = env.unwrapped.batch if hasattr(env, "unwrapped") else env.batch
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    views = []
    for _ in range(200):  # random moves: every heading, slants, walls in between, autoresets
        env.step(rng.integers(0, 3, 16))
        for fov in (90.0, 120.0):
            args = (b.grid, b.stop_dist, b.waypoint, b.goal, b.row, b.col, b.heading, fov)
            compiled = target_view(*args, compiled=True)
            np.testing.assert_array_equal(compiled, target_view(*args, compiled=False))
            views.append(compiled)
            goal_args = (b.grid, b.goal, b.row, b.col, b.heading, fov)
            np.testing.assert_array_equal(goal_view(*goal_args, compiled=True), goal_view(*goal_args, compiled=False))
    assert set(np.concatenate(views).tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_envs_give_target_view_with_the_in_view_expert(env_id):
    """Both envs label every step with the in-view expert (single and vector env alike); following
    the expert, the target is in view on most steps and straight ahead when it stops."""
    env = gymnasium.make(env_id, view_size=16, expert="in_view")
    venv = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", view_size=16, expert="in_view")
    seen, goals, stops = [], [], []
    _, vinfo = venv.reset(seed=20)
    for seed in range(20, 23):
        obs, info = env.reset(seed=seed)
        assert info["target_view"] == vinfo["target_view"][seed - 20]
        assert info["goal_view"] == vinfo["goal_view"][seed - 20]
        while True:
            seen.append(info["target_view"])
            goals.append(info["goal_view"])
            action = info["expert_action"]
            obs, _, term, trunc, info = env.step(action)
            if term or trunc:
                stops.append((seen[-1], goals[-1]))
                break
    assert set(seen) <= set(range(len(TARGET_VIEWS))) and np.mean(np.array(seen) > 0) > 0.5
    assert set(goals) <= set(range(len(TARGET_VIEWS))) and np.mean(np.array(goals) > 0) > 0.2
    ahead = TARGET_VIEWS.index("ahead")
    assert stops == [(ahead, ahead)] * 3  # at the stop the target is the goal
    first = gymnasium.make(env_id, view_size=16).reset(seed=0)[1]
    assert "target_view" not in first and "goal_view" not in first  # only with the in-view expert


def test_an_unknown_expert_is_refused():
    with pytest.raises(ValueError, match="expert must be one of"):
        gymnasium.make("vln/GoToObject-v0", expert="oracle")
