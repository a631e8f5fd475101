"""Tests for the native vector env (envs.nav_env.VLNVectorEnv)."""

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import envs
from envs import VLNVectorEnv
from envs.core.constants import LEFT, STOP
from envs.tasks import FollowRouteVectorEnv, GoToObjectVectorEnv

GOTO_ID, ROUTE_ID = envs.ENV_IDS


def make_vec(env_id, n, **kw):
    kw.setdefault("view_size", 24)
    return gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_make_vec_returns_native_vector_env(env_id):
    venv = make_vec(env_id, 4)
    assert isinstance(venv, VLNVectorEnv)
    assert isinstance(venv, {GOTO_ID: GoToObjectVectorEnv, ROUTE_ID: FollowRouteVectorEnv}[env_id])
    assert venv.num_envs == 4
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert venv.single_action_space == gymnasium.spaces.Discrete(4)
    assert venv.action_space.shape == (4,)
    obs, info = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    assert obs["image"].shape == (4, 24, 24, 3) and obs["image"].dtype == np.uint8
    assert isinstance(obs["mission"], tuple) and len(obs["mission"]) == 4
    assert info["expert_action"].shape == (4,) and info["_expert_action"].all()
    assert info["seed"].tolist() == [0, 1, 2, 3]
    obs, r, term, trunc, info = venv.step(venv.action_space.sample())
    assert venv.observation_space.contains(obs)
    assert r.shape == term.shape == trunc.shape == (4,)
    assert term.dtype == bool and trunc.dtype == bool


def test_info_arrays_and_masks_at_episode_end():
    venv = make_vec(GOTO_ID, 3)
    venv.reset(seed=0)
    obs, r, term, trunc, info = venv.step(np.array([STOP, LEFT, LEFT]))
    assert term.tolist() == [True, False, False] and not trunc.any()
    assert info["_expert_action"].all()
    for key in ("success", "distance_to_goal", "path_length", "shortest_path_length", "reference_path",
                "trajectory", "oracle_success"):
        assert isinstance(info[key], np.ndarray) and info[key].shape == (3,), key
        assert info["_" + key].tolist() == [True, False, False], key
    assert info["success"][0] == False  # noqa: E712 (numpy bool)
    assert info["distance_to_goal"][0] > 0
    assert info["reference_path"][0][0] == info["trajectory"][0][0]
    # The next step autoresets env 0 (ignoring its action) and has no end keys.
    obs2, r2, term2, trunc2, info2 = venv.step(np.array([STOP, LEFT, LEFT]))
    assert r2[0] == 0.0 and not term2[0] and not trunc2[0]
    assert "success" not in info2


def single_reset_obs(env_id, seed, first_actions, **kw):
    env = gymnasium.make(env_id, view_size=24, **kw)
    env.reset(seed=seed)
    for a in first_actions:
        env.step(a)
    return env.reset()


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_next_step_autoreset(env_id):
    venv = make_vec(env_id, 2)
    obs, _ = venv.reset(seed=30)
    obs, r, term, trunc, _ = venv.step(np.array([STOP, LEFT]))
    assert term.tolist() == [True, False]
    ended_image = obs["image"][0].copy()
    obs, r, term, trunc, info = venv.step(np.array([LEFT, LEFT]))  # env 0's action is ignored
    assert r[0] == 0.0 and not term[0] and not trunc[0]
    assert venv.unwrapped.batch.steps[0] == 0
    expect, expect_info = single_reset_obs(env_id, 30, [STOP])
    np.testing.assert_array_equal(obs["image"][0], expect["image"])
    assert obs["mission"][0] == expect["mission"]
    assert info["expert_action"][0] == expect_info["expert_action"]
    assert (obs["image"][0] != ended_image).any()


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_vector_matches_single_envs_through_autoresets(env_id):
    """Vector reset(seed=s) == single env i reset(seed=s+i); after each ending the vector
    autoresets and the single env is reset() without a seed: they must keep agreeing."""
    n, seed, max_steps = 3, 17, 12
    venv = make_vec(env_id, n, max_steps=max_steps)
    singles = [gymnasium.make(env_id, view_size=24, max_steps=max_steps) for _ in range(n)]
    obs, vinfo = venv.reset(seed=seed)
    sobs, sinfo, pending = [], [], [False] * n
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=seed + i)
        sobs.append(o)
        sinfo.append(inf)
    rng = np.random.default_rng(0)
    resets = terminations = truncations = 0

    def compare():
        for i in range(n):
            np.testing.assert_array_equal(obs["image"][i], sobs[i]["image"])
            assert obs["mission"][i] == sobs[i]["mission"]
            assert vinfo["expert_action"][i] == sinfo[i]["expert_action"]

    compare()
    for t in range(60):
        actions = np.array([sinfo[i]["expert_action"] if rng.random() < 0.75 else int(rng.integers(4))
                            for i in range(n)])
        obs, r, term, trunc, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            if pending[i]:
                sobs[i], sinfo[i] = env.reset()
                pending[i] = False
                resets += 1
                assert r[i] == 0.0 and not term[i] and not trunc[i]
                continue
            o, sr, st, str_, inf = env.step(int(actions[i]))
            sobs[i], sinfo[i] = o, inf
            assert (r[i], term[i], trunc[i]) == (sr, st, str_), (t, i)
            if st or str_:
                pending[i] = True
                terminations += st
                truncations += str_
                for key in ("success", "distance_to_goal", "path_length", "shortest_path_length",
                            "oracle_success"):
                    assert vinfo["_" + key][i] and vinfo[key][i] == inf[key], key
                assert vinfo["trajectory"][i] == inf["trajectory"]
                assert vinfo["reference_path"][i] == inf["reference_path"]
        compare()
    assert resets >= n and terminations > 0 and truncations > 0


def test_reset_with_seed_list_and_without_seed():
    venv = make_vec(ROUTE_ID, 3)
    obs_a, info_a = venv.reset(seed=[5, 9, 5])
    assert info_a["seed"].tolist() == [5, 9, 5]
    assert obs_a["mission"][0] == obs_a["mission"][2]
    np.testing.assert_array_equal(obs_a["image"][0], obs_a["image"][2])
    obs_b, _ = venv.reset(seed=5)
    np.testing.assert_array_equal(obs_b["image"][0], obs_a["image"][0])
    obs_c, info_c = venv.reset()
    assert obs_c["image"].shape == (3, 24, 24, 3) and info_c["seed"].shape == (3,)
    with pytest.raises(ValueError):
        venv.reset(seed=[1, 2])


@pytest.mark.parametrize(
    "actions",
    [np.zeros(3, int), np.zeros((4, 1), int), np.zeros(5, int), 0, [[0, 1], [2, 3]], np.zeros((2, 2), int)],
)
def test_wrong_shaped_actions_raise(actions):
    venv = make_vec(GOTO_ID, 4)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(actions)


@pytest.mark.parametrize("bad", [5, -1, 4])
def test_invalid_action_values_raise_naming_the_action(bad):
    venv = make_vec(GOTO_ID, 4)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=f"invalid action {bad}"):
        venv.step(np.array([0, 1, bad, 2]))


def test_non_integer_actions_raise():
    venv = make_vec(GOTO_ID, 2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="1.5"):
        venv.step(np.array([1.5, 0.0]))
    venv.step(np.array([1.0, 2.0]))  # integral floats are fine
    venv.step([0, 1])


@pytest.mark.parametrize("n", [0, -2])
def test_num_envs_must_be_positive(n):
    with pytest.raises(ValueError):
        make_vec(GOTO_ID, n)
    with pytest.raises(ValueError):
        GoToObjectVectorEnv(num_envs=n)


@pytest.mark.parametrize(
    "kw",
    [dict(room_size=3, num_distractors=9), dict(split="test")],
)
def test_vector_bad_configs(kw):
    with pytest.raises(ValueError):
        make_vec(GOTO_ID, 2, **kw)
    for rooms in (0, 1, 7):
        with pytest.raises(ValueError):
            make_vec(ROUTE_ID, 2, num_rooms=rooms)


def test_vector_expert_succeeds():
    venv = make_vec(ROUTE_ID, 6, split="unseen")
    obs, info = venv.reset(seed=200)
    done = np.zeros(6, bool)
    successes = np.zeros(6, bool)
    for _ in range(200):
        obs, r, term, trunc, info = venv.step(info["expert_action"])
        ended = (term | trunc) & ~done
        if ended.any():
            successes[ended] = info["success"][ended]
            done |= ended
        if done.all():
            break
    assert done.all() and successes.all()


def test_partial_reset():
    """options["reset_mask"] resets only those envs, with their seeds; the others go on untouched."""
    import gymnasium as gym

    n = 4
    env = gym.make_vec("vln/FollowRoute-v0", num_envs=n, vectorization_mode="vector_entry_point")
    first, _ = env.reset(seed=3)
    before = first["image"].copy()
    stepped, *_ = env.step(np.zeros(n, int))
    kept = stepped["image"].copy()
    mask = np.array([False, True, False, True])
    obs, info = env.reset(seed=[0, 50, 0, 70], options={"reset_mask": mask})
    np.testing.assert_array_equal(first["image"], before)  # earlier observations are not changed
    np.testing.assert_array_equal(obs["image"][~mask], kept[~mask])
    np.testing.assert_array_equal(info["_seed"], mask)
    np.testing.assert_array_equal(info["seed"][mask], [50, 70])
    fresh = gym.make_vec("vln/FollowRoute-v0", num_envs=1, vectorization_mode="vector_entry_point")
    for i, s in ((1, 50), (3, 70)):
        one, one_info = fresh.reset(seed=s)
        np.testing.assert_array_equal(obs["image"][i], one["image"][0])
        assert obs["mission"][i] == one["mission"][0]
        assert info["expert_action"][i] == one_info["expert_action"][0]
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.zeros(n, bool)})
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.ones(n - 1, bool)})
