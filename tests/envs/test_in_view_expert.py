"""Tests for envs.core.in_view_expert: as short in cells as the shortest path, its target kept in view."""

import gymnasium
import numpy as np
import pytest

import envs
from envs.core import jit
from envs.core.constants import DIR_VEC, DOOR, FORWARD, LEFT, RIGHT, STOP
from envs.core.expert import UNREACHABLE, cell_distances
from envs.core.in_view_expert import in_view_actions, stop_cells, waypoints


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


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("split", ["train", "unseen"])
def test_it_succeeds_in_as_few_moves_as_the_shortest_path(env_id, split):
    env = gymnasium.make(env_id, split=split, view_size=16, expert="in_view")
    longer = 0
    for seed in range(40):
        *_, (_, info) = run(env, seed)
        assert info["success"], (env_id, seed)
        # Moves: never more than the shortest path (to a stop cell, possibly another one).
        assert info["path_length"] <= info["shortest_path_length"]
        longer += info["episode_steps"] > info["path_length"] + 1
    assert longer > 0  # it turns more than it must somewhere: the staircase is not the shortest-action path


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_it_recovers_from_strayed_states(env_id):
    env = gymnasium.make(env_id, view_size=16, max_steps=400, expert="in_view")
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


def test_an_unknown_expert_is_refused():
    with pytest.raises(ValueError, match="expert must be one of"):
        gymnasium.make("vln/GoToObject-v0", expert="oracle")
