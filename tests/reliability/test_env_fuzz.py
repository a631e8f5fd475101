"""Env fuzzing: random configurations within the documented bounds and random actions.

Every registered id and its native vector env. Invariants checked on every step:
observations inside their spaces, the agent never inside a wall or an object, episodes
ending exactly as documented (STOP terminates, ``max_steps`` truncates), the expert
reaching the goal from whatever state the random actions led to, the same seed giving the
same trajectory, and the vector env agreeing with single envs. Invalid actions always
raise ``ValueError`` and leave the env as it was.

Budget: ``VLN_FUZZ_EXAMPLES`` examples per test and env id (default ``CI_EXAMPLES``, fast
enough for CI); release checks run ``VLN_FUZZ_EXAMPLES=500`` (RELIABILITY.md). The examples
are derandomized, so a run is deterministic.
"""

from __future__ import annotations

import os

import gymnasium
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.core.constants import DIR_VEC, FORWARD, LEFT, NUM_ACTIONS, RIGHT, STOP
from envs.core.expert import UNREACHABLE, expert_actions
from envs.core.mission import SPLITS

CI_EXAMPLES = 40
EXAMPLES = int(os.environ.get("VLN_FUZZ_EXAMPLES", CI_EXAMPLES))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GOTO_ID, ROUTE_ID = envs.ENV_IDS
MAX_ACTIONS = 80


# ----------------------------------------------------------------------------- strategies
@st.composite
def goto_kwargs(draw) -> dict:
    """GoToObject within its documented bounds: rooms of 4+ cells a side, objects that fit."""
    lo = draw(st.integers(4, 8))
    hi = draw(st.integers(lo, lo + 3))
    d_hi = draw(st.integers(0, min(8, lo * lo - 10)))
    d_lo = draw(st.integers(0, d_hi))
    return {"room_size": (lo, hi), "num_distractors": (d_lo, d_hi), "max_steps": draw(st.integers(1, 60))}


@st.composite
def route_kwargs(draw) -> dict:
    """FollowRoute within its documented bounds: 2-6 rooms, rooms of 3+ cells a side."""
    lo = draw(st.integers(2, 6))
    size = draw(st.integers(3, 7))
    l_hi = draw(st.integers(0, min(3, size * size - 2)))
    return {"num_rooms": (lo, draw(st.integers(lo, 6))), "room_size": size,
            "landmarks_per_room": (draw(st.integers(0, l_hi)), l_hi), "max_steps": draw(st.integers(1, 200))}


@st.composite
def env_kwargs(draw, env_id: str) -> dict:
    kw = draw(goto_kwargs() if env_id == GOTO_ID else route_kwargs())
    kw.update(split=draw(st.sampled_from(SPLITS)), view_size=draw(st.integers(8, 40)),
              fov_deg=draw(st.floats(20.0, 150.0)), reward_shaping=draw(st.booleans()))
    return kw


SEEDS = st.integers(0, 2**31 - 2)
# Mostly moves (a STOP one time in 25), so episodes wander and often reach max_steps.
MOVES = st.lists(st.integers(0, 24).map(lambda k: STOP if k == 0 else (FORWARD, FORWARD, LEFT, RIGHT)[k % 4]),
                 min_size=1, max_size=MAX_ACTIONS)


# ----------------------------------------------------------------------------- invariants
def check_state(env, obs, info) -> None:
    """Observation in its space, agent on a free cell, a valid expert action."""
    base = env.unwrapped
    assert base.observation_space.contains(obs), obs["mission"]
    b = base.batch
    assert not b.blocked[0, b.row[0], b.col[0]], "the agent is inside a wall or an object"
    assert 0 <= info["expert_action"] < NUM_ACTIONS


def expert_walk(batch, i: int = 0) -> tuple[int, bool]:
    """Follow the expert's table from env ``i``'s state, without a step limit: (steps, reached the goal)."""
    row, col, heading = int(batch.row[i]), int(batch.col[i]), int(batch.heading[i])
    dist = batch.dist[i : i + 1]
    for steps in range(1, 4 * dist.shape[2] * dist.shape[3] + 2):
        action = int(expert_actions(dist, np.array([row]), np.array([col]), np.array([heading]))[0])
        if action == STOP:
            return steps, bool(batch.geo[i, row, col] == 0)
        if action == FORWARD:
            nr, nc = row + DIR_VEC[heading, 0], col + DIR_VEC[heading, 1]
            assert not batch.blocked[i, nr, nc], "the expert walked into a wall or an object"
            row, col = nr, nc
        else:
            heading = (heading + (1 if action == RIGHT else -1)) % 4
    return -1, False


def play(env_id: str, kwargs: dict, seed: int, actions: list[int]) -> list[tuple]:
    """Reset with ``seed``, take ``actions`` (then the expert's) checking every invariant.

    Returns the trajectory (mission, image bytes, reward, terminated, truncated, expert action).
    """
    env = gymnasium.make(env_id, **kwargs)
    obs, info = env.reset(seed=seed)
    check_state(env, obs, info)
    b = env.unwrapped.batch
    max_steps = env.unwrapped.max_steps
    traj = [(obs["mission"], obs["image"].tobytes(), 0.0, False, False, info["expert_action"])]
    ended = False
    for t, action in enumerate(actions, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        check_state(env, obs, info)
        traj.append((obs["mission"], obs["image"].tobytes(), reward, terminated, truncated, info["expert_action"]))
        assert terminated == (action == STOP), "only STOP terminates"
        assert truncated == (not terminated and t == max_steps), "truncation is exactly at max_steps"
        assert t <= max_steps
        if not kwargs["reward_shaping"]:
            assert 0.0 <= reward <= 1.0
        if terminated or truncated:
            assert info["success"] == (terminated and b.geo[0, b.row[0], b.col[0]] == 0)
            assert info["path_length"] <= t and info["shortest_path_length"] >= 0
            ended = True
            break
    if not ended:
        # The expert reaches the goal from here (by its table), in the steps its table says...
        d = int(b.dist[0, b.heading[0], b.row[0], b.col[0]])
        assert d < UNREACHABLE, "the goal is unreachable from a reachable state"
        steps, reached = expert_walk(b)
        assert reached and steps == d + 1
        # ...and in the env itself when the step budget allows.
        left = max_steps - int(b.steps[0])
        for _ in range(left):
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            check_state(env, obs, info)
            traj.append((obs["mission"], obs["image"].tobytes(), reward, terminated, truncated, info["expert_action"]))
            if terminated or truncated:
                break
        assert terminated or truncated, "the episode outlived max_steps"
        if d + 1 <= left:
            assert terminated and info["success"]
        else:
            assert truncated and not info["success"]
    env.close()
    return traj


# ----------------------------------------------------------------------------- tests
def count_examples(check) -> int:
    """Run a ``@given`` test; returns how many examples it tried (RELIABILITY.md counts them)."""
    calls = [0]
    inner = check.hypothesis.inner_test

    def counted(*args, **kwargs):
        calls[0] += 1
        return inner(*args, **kwargs)

    check.hypothesis.inner_test = counted
    check()
    return calls[0]


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_single_env_invariants_and_same_seed_same_trajectory(env_id):
    @FUZZ
    @given(kwargs=env_kwargs(env_id), seed=SEEDS, actions=MOVES)
    def check(kwargs, seed, actions):
        first = play(env_id, kwargs, seed, actions)
        assert play(env_id, kwargs, seed, actions) == first, "the same seed gave another trajectory"

    examples = count_examples(check)
    assert examples >= EXAMPLES, f"only {examples} examples ran"


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_vector_env_agrees_with_single_envs(env_id):
    """The native vector env (seeds s..s+n-1, next-step autoreset) steps exactly as n single envs."""

    @FUZZ
    @given(kwargs=env_kwargs(env_id), seed=SEEDS, n=st.integers(1, 4), data=st.data())
    def check(kwargs, seed, n, data):
        venv = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
        singles = [gymnasium.make(env_id, **kwargs) for _ in range(n)]
        obs, vinfo = venv.reset(seed=seed)
        assert venv.observation_space.contains(obs)
        sobs, sinfo = zip(*[env.reset(seed=seed + i) for i, env in enumerate(singles)])
        sobs, sinfo, pending = list(sobs), list(sinfo), [False] * n
        steps = data.draw(st.integers(1, 60), label="steps")
        for _ in range(steps):
            actions = np.array(data.draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 3]), min_size=n, max_size=n)))
            obs, reward, term, trunc, vinfo = venv.step(actions)
            assert venv.observation_space.contains(obs)
            b = venv.unwrapped.batch
            assert not b.blocked[np.arange(n), b.row, b.col].any(), "an agent is inside a wall or an object"
            for i, env in enumerate(singles):
                if pending[i]:  # the vector env autoresets, ignoring the action
                    sobs[i], sinfo[i] = env.reset()
                    pending[i] = False
                    assert (reward[i], term[i], trunc[i]) == (0.0, False, False)
                else:
                    sobs[i], r, t, tr, sinfo[i] = env.step(int(actions[i]))
                    assert (reward[i], term[i], trunc[i]) == (r, t, tr)
                    if t or tr:
                        pending[i] = True
                        assert vinfo["_success"][i] and vinfo["success"][i] == sinfo[i]["success"]
                        assert vinfo["trajectory"][i] == sinfo[i]["trajectory"]
                np.testing.assert_array_equal(obs["image"][i], sobs[i]["image"])
                assert obs["mission"][i] == sobs[i]["mission"]
                assert vinfo["expert_action"][i] == sinfo[i]["expert_action"]
        venv.close()

    examples = count_examples(check)
    assert examples >= EXAMPLES, f"only {examples} examples ran"


BAD_ACTIONS = st.one_of(
    st.integers(max_value=-1), st.integers(min_value=NUM_ACTIONS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none(),
    st.lists(st.integers(0, 3), min_size=2, max_size=3).map(np.array),
)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_invalid_actions_raise_value_error_and_change_nothing(env_id):
    @FUZZ
    @given(bad=BAD_ACTIONS, seed=SEEDS)
    def check(bad, seed):
        env = gymnasium.make(env_id, view_size=8)
        obs, info = env.reset(seed=seed)
        b = env.unwrapped.batch
        before = (int(b.row[0]), int(b.col[0]), int(b.heading[0]), int(b.steps[0]))
        with pytest.raises(ValueError, match="invalid action"):
            env.step(bad)
        assert (int(b.row[0]), int(b.col[0]), int(b.heading[0]), int(b.steps[0])) == before
        env.step(info["expert_action"])  # still usable

    examples = count_examples(check)
    assert examples >= EXAMPLES, f"only {examples} examples ran"


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_invalid_vector_actions_raise_value_error_and_change_nothing(env_id):
    @FUZZ
    @given(n=st.integers(1, 4), seed=SEEDS, data=st.data())
    def check(n, seed, data):
        venv = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", view_size=8)
        venv.reset(seed=seed)
        b = venv.unwrapped.batch
        before = (b.row.copy(), b.col.copy(), b.heading.copy(), b.steps.copy())
        good = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        bad = data.draw(st.one_of(
            st.integers(0, n - 1).flatmap(lambda i: st.sampled_from([-1, 4, 99, -(2**40)]).map(
                lambda v: np.array(good[:i] + [v] + good[i + 1 :]))),
            st.just(np.array(good + [0])), st.just(np.array(good[:-1])), st.just(np.array(good, float) + 0.5),
        ))
        with pytest.raises(ValueError):
            venv.step(bad)
        after = (b.row, b.col, b.heading, b.steps)
        assert all(np.array_equal(x, y) for x, y in zip(before, after))
        venv.step(np.array(good))

    examples = count_examples(check)
    assert examples >= EXAMPLES, f"only {examples} examples ran"
