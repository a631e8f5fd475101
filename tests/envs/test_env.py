"""Tests for the single env (envs.nav_env.VLNEnv): Gymnasium API, spaces, bad input."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import VLNEnv
from envs.core.constants import FORWARD, LEFT, NUM_ACTIONS, RIGHT
from envs.tasks import FollowRouteEnv, FollowRouteTask, GoToObjectEnv, GoToObjectTask

GOTO_ID, ROUTE_ID = envs.ENV_IDS


def test_ids_registered():
    assert set(envs.ENV_IDS) == {"vln/GoToObject-v0", "vln/FollowRoute-v0"}
    for env_id in envs.ENV_IDS:
        spec = gymnasium.spec(env_id)
        assert spec.entry_point and spec.vector_entry_point


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_check_env(env_id):
    env = gymnasium.make(env_id).unwrapped
    assert isinstance(env, VLNEnv)
    check_env(env)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("split", ["seen", "unseen"])
def test_check_env_other_splits_and_options(env_id, split):
    check_env(gymnasium.make(env_id, split=split, view_size=32, fov_deg=70.0, reward_shaping=True).unwrapped)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_spaces_and_observations(env_id):
    env = gymnasium.make(env_id)
    assert env.action_space == gymnasium.spaces.Discrete(NUM_ACTIONS) and NUM_ACTIONS == 4
    space = env.observation_space
    assert isinstance(space, gymnasium.spaces.Dict) and set(space.spaces) == {"image", "mission"}
    assert isinstance(space["mission"], gymnasium.spaces.Text)
    for ch in " ,":
        assert ch in space["mission"].character_set
    rng = np.random.default_rng(0)
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        assert space.contains(obs), obs["mission"]
        assert isinstance(info["expert_action"], int) and 0 <= info["expert_action"] < 4
        for _ in range(5):
            obs, r, term, trunc, info = env.step(int(rng.integers(3)))
            assert space.contains(obs)
            assert isinstance(r, float) and isinstance(term, bool) and isinstance(trunc, bool)
            assert isinstance(info["expert_action"], int)


def test_actions_move_and_turn():
    env = gymnasium.make(GOTO_ID, view_size=16, num_distractors=0, room_size=7)
    env.reset(seed=0)
    b = env.unwrapped.batch
    h0 = int(b.heading[0])
    env.step(LEFT)
    assert b.heading[0] == (h0 - 1) % 4
    env.step(RIGHT)
    env.step(RIGHT)
    assert b.heading[0] == (h0 + 1) % 4
    # Walk forward until a wall stops the agent: the position then stays put.
    seen = []
    for _ in range(10):
        env.step(FORWARD)
        seen.append((int(b.row[0]), int(b.col[0])))
    assert seen[-1] == seen[-2] and len(set(seen)) >= 1
    assert not b.blocked[0][seen[-1]]


def test_numpy_integer_actions_are_accepted():
    env = gymnasium.make(GOTO_ID, view_size=16)
    env.reset(seed=0)
    env.step(np.int64(1))
    env.step(np.array(2))
    env.unwrapped.step(np.int32(1))


@pytest.mark.parametrize("bad", [5, -1, 1.5, 4, "1", None])
def test_invalid_action_raises(bad):
    env = gymnasium.make(GOTO_ID, view_size=16).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action") as err:
        env.step(bad)
    assert repr(bad) in str(err.value) or str(bad) in str(err.value)


@pytest.mark.parametrize("bad", [5, -1, 1.5])
def test_invalid_action_names_the_action(bad):
    env = gymnasium.make(ROUTE_ID, view_size=16).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=str(bad).replace(".", r"\.")):
        env.step(bad)


def test_step_before_reset_raises():
    env = GoToObjectEnv(view_size=16)
    with pytest.raises(RuntimeError):
        env.step(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gymnasium.make(GOTO_ID, room_size=3, num_distractors=9),
        lambda: GoToObjectEnv(room_size=4, num_distractors=(0, 20)),
        lambda: GoToObjectTask(room_size=2),
        lambda: GoToObjectTask(num_distractors=-1),
        lambda: GoToObjectTask(room_size=(7, 5)),
        lambda: gymnasium.make(ROUTE_ID, num_rooms=0),
        lambda: gymnasium.make(ROUTE_ID, num_rooms=1),
        lambda: gymnasium.make(ROUTE_ID, num_rooms=7),
        lambda: FollowRouteEnv(num_rooms=(1, 3)),
        lambda: FollowRouteEnv(num_rooms=(4, 3)),
        lambda: FollowRouteTask(room_size=2),
        lambda: FollowRouteTask(landmarks_per_room=(0, 99)),
        lambda: gymnasium.make(GOTO_ID, split="test"),
        lambda: gymnasium.make(ROUTE_ID, split="val_unseen"),
        lambda: gymnasium.make(GOTO_ID, max_steps=0),
        lambda: gymnasium.make(GOTO_ID, view_size=4),
        lambda: gymnasium.make(GOTO_ID, fov_deg=180.0),
        lambda: GoToObjectEnv(render_mode="human"),  # gymnasium.make would wrap it in HumanRendering
        lambda: GoToObjectTask().generate(0, "validation"),
    ],
)
def test_impossible_configs_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_bad_config_messages_say_what_is_wrong():
    with pytest.raises(ValueError, match="too many objects"):
        GoToObjectEnv(room_size=4, num_distractors=9)
    with pytest.raises(ValueError, match="split"):
        GoToObjectEnv(split="test")
    with pytest.raises(ValueError, match="num_rooms"):
        FollowRouteEnv(num_rooms=1)


def test_largest_valid_configs_work():
    # At the edge of what fits: every episode still generates and the expert succeeds.
    for env in (GoToObjectEnv(room_size=5, num_distractors=15, view_size=16),
                FollowRouteEnv(num_rooms=6, view_size=16), FollowRouteEnv(num_rooms=2, view_size=16)):
        for seed in range(5):
            obs, info = env.reset(seed=seed)
            for _ in range(200):
                obs, r, term, trunc, info = env.step(info["expert_action"])
                if term or trunc:
                    break
            assert term and info["success"]


def test_reset_info_has_seed():
    env = gymnasium.make(ROUTE_ID, view_size=16)
    _, info = env.reset(seed=42)
    assert info["seed"] == 42
    _, info = env.reset()
    assert isinstance(info["seed"], int)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_check_env_with_render_mode(env_id):
    check_env(gymnasium.make(env_id, render_mode="rgb_array", view_size=32).unwrapped)
