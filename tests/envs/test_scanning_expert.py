"""Tests for ``expert="scanning"``: it turns left until its target has been in view, then walks as the in-view expert
(its success, in as few moves, and from strayed states: tests/envs/test_in_view_expert.py, for both experts)."""

import gymnasium
import numpy as np
import pytest

import envs
from envs.core.constants import LEFT
from envs.core.in_view_expert import in_view_actions, scanning_actions, target_cells


def test_scanning_actions():
    walk = np.array([0, 1, 2, 3])
    known = np.array([False, False, True, True])
    in_sight = np.array([True, False, True, False])
    assert scanning_actions(walk, known, in_sight).tolist() == [LEFT, 1, 2, 3]


def follow(env, seed):
    """Follow the expert from ``seed``'s start: yields (batch, target view, expert action) per step, then the end info."""
    _, info = env.reset(seed=seed)
    batch = env.unwrapped.batch
    while True:
        yield batch, info["target_view"], info["expert_action"]
        _, _, term, trunc, info = env.step(info["expert_action"])
        if term or trunc:
            yield None, None, info
            return


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_it_scans_for_a_target_it_has_not_seen_then_walks_as_the_in_view_expert(env_id):
    """Kept apart from the env's own memory: the targets in view so far are tracked here from
    ``info["target_view"]``; an unseen target some heading of the cell shows means LEFT, anything
    else the in-view expert's action from the same state."""
    env = gymnasium.make(env_id, view_size=16, expert="scanning")
    scans = walks = 0
    for seed in range(30):
        seen: set[tuple[int, int]] = set()
        for b, view, action in follow(env, seed):
            if b is None:
                assert action["success"]
                break
            args = (b.stop_dist, b.waypoint, b.goal, b.row, b.col)
            target = tuple(target_cells(*args)[0].tolist())
            if view > 0:
                seen.add(target)
            headings = [int(b.target_view(np.array([0]), np.array([h]))[0]) for h in range(4)]
            assert headings[int(b.heading[0])] == view
            if target not in seen and any(headings):
                assert action == LEFT, (seed, target)
                scans += 1
            else:
                walk, _ = in_view_actions(b.stop_dist, b.waypoint, b.goal, b.row, b.col, b.heading)
                assert action == int(walk[0]), (seed, target)
                walks += 1
    assert scans > 20 and walks > 2 * scans  # a scan is a few turns an episode at most


def test_the_vector_env_remembers_per_episode_as_the_single_env():
    """The vector env's expert is the single env's, episode for episode: the memory of what was
    seen is each env's own and starts afresh at every autoreset."""
    venv = gymnasium.make_vec("vln/FollowRoute-v0", num_envs=3, vectorization_mode="vector_entry_point",
                              view_size=16, expert="scanning")
    env = gymnasium.make("vln/FollowRoute-v0", view_size=16, expert="scanning")
    _, vinfo = venv.reset(seed=7)
    seeds = list(vinfo["seed"])
    expected = {}
    for s in seeds:
        expected[int(s)] = [a for b, _, a in follow(env, int(s)) if b is not None]
    got = {int(s): [] for s in seeds}
    live = [True] * 3
    for _ in range(70):
        actions = vinfo["expert_action"]
        for i in range(3):
            if live[i]:
                got[int(seeds[i])].append(int(actions[i]))
        _, _, term, trunc, vinfo = venv.step(actions)
        live = [lv and not (t or u) for lv, t, u in zip(live, term, trunc)]
        if not any(live):
            break
    assert got == expected
