"""Tests for envs.core.expert: optimal (cell, heading) distances and the expert's actions."""

from collections import deque

import gymnasium
import numpy as np
import pytest

import envs
from envs.core import jit
from envs.core.constants import DIR_VEC, FORWARD, LEFT, RIGHT, STOP
from envs.core.expert import UNREACHABLE, action_distances, cell_distances, expert_actions, expert_path


def successors(state, blocked):
    """(action, next state) for the three moving actions, as the env applies them."""
    h, r, c = state
    dr, dc = DIR_VEC[h]
    nr, nc = r + dr, c + dc
    H, W = blocked.shape
    fwd = (h, nr, nc) if 0 <= nr < H and 0 <= nc < W and not blocked[nr, nc] else state
    return [(FORWARD, fwd), (LEFT, ((h - 1) % 4, r, c)), (RIGHT, ((h + 1) % 4, r, c))]


def brute_force(blocked, goal):
    """Fewest actions before STOP from every free (heading, cell): a forward BFS per state."""
    H, W = blocked.shape
    out = np.full((4, H, W), UNREACHABLE, np.int64)
    for start in np.ndindex(4, H, W):
        if blocked[start[1:]]:
            continue
        seen = {start}
        queue = deque([(start, 0)])
        while queue:
            state, d = queue.popleft()
            if goal[state[1:]]:
                out[start] = d
                break
            for _, nxt in successors(state, blocked):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, d + 1))
    return out


def brute_cells(blocked, goal):
    H, W = blocked.shape
    out = np.full((H, W), UNREACHABLE, np.int64)
    queue = deque()
    for cell in zip(*np.nonzero(goal)):
        out[cell] = 0
        queue.append(cell)
    while queue:
        r, c = queue.popleft()
        for dr, dc in DIR_VEC:
            nr, nc = r + dr, c + dc
            if 0 <= nr < H and 0 <= nc < W and not blocked[nr, nc] and out[nr, nc] == UNREACHABLE:
                out[nr, nc] = out[r, c] + 1
                queue.append((nr, nc))
    return out


def parse(rows):
    """'#' blocked, 'G' goal, '.' free."""
    arr = np.array([list(r) for r in rows])
    return arr == "#", arr == "G"


HAND_CASES = [
    # Straight corridor: the goal at the east end.
    ["#######",
     "#....G#",
     "#######"],
    # A U-turn around a wall.
    ["#######",
     "#.....#",
     "#.###.#",
     "#G#...#",
     "#######"],
    # Two goal cells; an unreachable pocket on the right.
    ["########",
     "#G...#.#",
     "#.##.#.#",
     "#...G#.#",
     "########"],
    # No walls around: the grid edge bounds the moves.
    ["....",
     ".#G.",
     "...."],
]


def random_case(rng, h, w):
    blocked = rng.random((h, w)) < 0.3
    goal = np.zeros((h, w), bool)
    goal[rng.integers(h), rng.integers(w)] = True
    if rng.random() < 0.5:
        goal[rng.integers(h), rng.integers(w)] = True
    goal &= ~blocked
    if not goal.any():
        r, c = rng.integers(h), rng.integers(w)
        blocked[r, c], goal[r, c] = False, True
    return blocked, goal


def all_cases():
    cases = [parse(rows) for rows in HAND_CASES]
    rng = np.random.default_rng(0)
    cases += [random_case(rng, 5, 6) for _ in range(12)]
    return cases


def check_distances(blocked, goal):
    dist = action_distances(blocked[None], goal[None])[0]
    np.testing.assert_array_equal(dist, brute_force(blocked, goal))
    np.testing.assert_array_equal(cell_distances(blocked[None], goal[None])[0], brute_cells(blocked, goal))
    return dist


@pytest.mark.parametrize("case", range(len(HAND_CASES)))
def test_action_distances_match_brute_force_on_hand_cases(case):
    check_distances(*parse(HAND_CASES[case]))


def test_hand_case_values():
    blocked, goal = parse(HAND_CASES[0])
    dist = action_distances(blocked[None], goal[None])[0]
    # Facing east at (1, 1): four forwards. Facing west: two turns then four forwards.
    assert dist[0, 1, 1] == 4 and dist[2, 1, 1] == 6 and dist[1, 1, 1] == 5 and dist[3, 1, 1] == 5
    assert (dist[:, 1, 5] == 0).all()
    assert (dist[:, blocked] == UNREACHABLE).all()
    blocked, goal = parse(HAND_CASES[2])
    dist = action_distances(blocked[None], goal[None])[0]
    assert (dist[:, 1:4, 6] == UNREACHABLE).all()  # the pocket


def test_action_distances_match_brute_force_on_random_grids_batched():
    cases = all_cases()[len(HAND_CASES):]
    blocked = np.stack([b for b, _ in cases])
    goal = np.stack([g for _, g in cases])
    dist = action_distances(blocked, goal)
    assert dist.shape == (len(cases), 4, 5, 6) and dist.dtype == np.int16
    for i, (b, g) in enumerate(cases):
        np.testing.assert_array_equal(dist[i], brute_force(b, g))


def test_expert_actions_are_optimal_from_every_state():
    for blocked, goal in all_cases():
        dist = action_distances(blocked[None], goal[None])[0]
        states = [s for s in np.ndindex(*dist.shape) if dist[s] < UNREACHABLE]
        heads, rows, cols = (np.array(v) for v in zip(*states))
        acts = expert_actions(np.broadcast_to(dist, (len(states),) + dist.shape), rows, cols, heads)
        for state, a in zip(states, acts.tolist()):
            if dist[state] == 0:
                assert a == STOP
                continue
            assert a != STOP
            nxt = dict(successors(state, blocked))[a]
            assert dist[nxt] == dist[state] - 1, (state, a)


def test_expert_path_follows_the_expert():
    blocked, goal = parse(HAND_CASES[1])
    dist = action_distances(blocked[None], goal[None])[0]
    path = expert_path(dist, (1, 1), 0)
    assert path[0] == (1, 1) and goal[path[-1]]
    assert path == [(1, 1), (2, 1), (3, 1)] and brute_cells(blocked, goal)[1, 1] == 2
    for a, b in zip(path, path[1:]):
        assert abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 and not blocked[b]
    blocked, goal = parse(HAND_CASES[2])
    dist = action_distances(blocked[None], goal[None])[0]
    with pytest.raises(ValueError):
        expert_path(dist, (1, 6), 0)


# ------------------------------------------------------------------ through the envs


def dedupe(cells):
    return [tuple(p) for i, p in enumerate(cells) if i == 0 or tuple(p) != tuple(cells[i - 1])]


def run_expert(env, seed):
    obs, info = env.reset(seed=seed)
    ep = env.unwrapped.episode
    optimal = int(ep.extras["expert_dist"][ep.start_dir, ep.start[0], ep.start[1]])
    steps, reward = 0, 0.0
    while True:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        steps += 1
        if term or trunc:
            return info, steps, optimal, reward, term


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("split", ["train", "unseen"])
def test_expert_succeeds_optimally(env_id, split):
    env = gymnasium.make(env_id, split=split, view_size=16)
    for seed in range(50):
        info, steps, optimal, reward, term = run_expert(env, seed)
        assert term and info["success"], (env_id, split, seed)
        assert steps == optimal + 1  # the shortest plan, then STOP
        assert info["path_length"] == info["shortest_path_length"]
        # One trajectory point per cell entered (turns add none): exactly the reference path.
        assert len(info["trajectory"]) == info["path_length"] + 1
        assert info["trajectory"] == info["reference_path"]
        assert reward > 0


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_expert_recovers_from_strayed_states(env_id):
    """DAgger: after random actions the expert's label still leads to the goal, optimally."""
    env = gymnasium.make(env_id, view_size=16, max_steps=400)
    rng = np.random.default_rng(0)
    for seed in range(20):
        obs, info = env.reset(seed=100 + seed)
        b = env.unwrapped.batch
        for _ in range(int(rng.integers(3, 15))):
            obs, _, term, trunc, info = env.step(int(rng.integers(3)))  # never STOP
            assert not (term or trunc)
        togo = int(b.dist[0, b.heading[0], b.row[0], b.col[0]])
        assert togo < UNREACHABLE
        steps = 0
        while True:
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            steps += 1
            if term or trunc:
                break
        assert term and info["success"], (env_id, seed)
        assert steps == togo + 1
        assert info["path_length"] >= info["shortest_path_length"]


def test_expert_action_in_info_matches_table():
    env = gymnasium.make("vln/FollowRoute-v0", view_size=16)
    obs, info = env.reset(seed=4)
    b = env.unwrapped.batch
    rng = np.random.default_rng(1)
    for _ in range(30):
        d = b.dist[0]
        h, r, c = int(b.heading[0]), int(b.row[0]), int(b.col[0])
        a = info["expert_action"]
        assert isinstance(a, int)
        if d[h, r, c] == 0:
            assert a == STOP
        else:
            nxt = dict(successors((h, r, c), b.blocked[0]))[a]
            assert d[nxt] == d[h, r, c] - 1
        obs, _, term, trunc, info = env.step(int(rng.integers(3)))
        if term or trunc:
            break


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_compiled_distances_match_the_numpy_relaxations():
    rng = np.random.default_rng(5)
    blocked = rng.random((40, 13, 19)) < 0.3
    region = rng.random((40, 13, 19)) < 0.02
    stops = rng.random((40, 4, 13, 19)) < 0.01
    for goal in (region, stops):
        np.testing.assert_array_equal(action_distances(blocked, goal, compiled=True),
                                      action_distances(blocked, goal, compiled=False))
    np.testing.assert_array_equal(cell_distances(blocked, region, compiled=True),
                                  cell_distances(blocked, region, compiled=False))


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_compiled_expert_path_matches_the_python_walk():
    rng = np.random.default_rng(6)
    blocked = rng.random((30, 9, 11)) < 0.25
    region = rng.random((30, 9, 11)) < 0.03
    dist = action_distances(blocked, region)
    for b in range(30):
        for h, r, c in zip(*np.nonzero(dist[b] < UNREACHABLE)):
            assert expert_path(dist[b], (r, c), h, compiled=True) == expert_path(dist[b], (r, c), h, compiled=False)
