"""The sharded vector env: the same episodes as the native vector env, over worker processes."""

import numpy as np
import pytest

import gymnasium as gym

import envs  # noqa: F401
from envs.parallel import ShardedVectorEnv, merge_infos


def _assert_infos_equal(a: dict, b: dict, n: int) -> None:
    assert set(a) == set(b)
    for key, value in a.items():
        if key.startswith("_"):
            np.testing.assert_array_equal(value, b[key])
            continue
        mask = a.get("_" + key, np.ones(n, bool))
        for i in np.flatnonzero(mask):
            assert str(value[i]) == str(b[key][i]), (key, i)


@pytest.mark.parametrize("env_id", ["vln/GoToObject-v0", "vln/FollowRoute-v0"])
def test_sharded_equals_native(env_id):
    n = 7  # uneven shards: 3 + 2 + 2
    native = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", split="unseen", max_steps=12)
    sharded = ShardedVectorEnv(env_id, n, 3, split="unseen", max_steps=12)
    try:
        assert sharded.sizes == [3, 2, 2]
        assert sharded.single_observation_space == native.single_observation_space
        assert sharded.metadata["autoreset_mode"] == native.metadata["autoreset_mode"]
        (oa, ia), (ob, ib) = native.reset(seed=11), sharded.reset(seed=11)
        np.testing.assert_array_equal(oa["image"], ob["image"])
        assert oa["mission"] == ob["mission"]
        _assert_infos_equal(ia, ib, n)
        rng = np.random.default_rng(0)
        ended = 0
        for _ in range(40):  # several autoresets (max_steps 12)
            actions = rng.integers(0, 4, n)
            a, b = native.step(actions), sharded.step(actions)
            np.testing.assert_array_equal(a[0]["image"], b[0]["image"])
            assert a[0]["mission"] == b[0]["mission"]
            for x, y in zip(a[1:4], b[1:4]):
                np.testing.assert_array_equal(x, y)
            _assert_infos_equal(a[4], b[4], n)
            ended += int(np.sum(a[2] | a[3]))
        assert ended > n
        assert sharded.observation_space.contains(b[0])
    finally:
        native.close()
        sharded.close()


def test_sharded_errors():
    env = ShardedVectorEnv("vln/GoToObject-v0", 4, 2)
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="invalid action 7"):
            env.step(np.array([0, 1, 7, 0]))
        with pytest.raises(ValueError, match="expected 4 action"):
            env.step(np.zeros(3, int))
        with pytest.raises(ValueError, match="expected 4 seeds"):
            env.reset(seed=[1, 2])
        env.step(np.zeros(4, int))  # still usable after refused input
    finally:
        env.close()
    with pytest.raises(ValueError, match="num_rooms must be at least 2"):  # raised here, before any worker starts
        ShardedVectorEnv("vln/FollowRoute-v0", 2, 2, num_rooms=[1, 1])


def test_merge_infos_fills_absent_keys():
    parts = [{"x": np.array([1, 2]), "_x": np.array([True, False])}, {}]
    out = merge_infos(parts, [2, 3])
    np.testing.assert_array_equal(out["x"], [1, 2, 0, 0, 0])
    np.testing.assert_array_equal(out["_x"], [True, False, False, False, False])


def test_partial_reset_matches_native():
    n = 6
    native = gym.make_vec("vln/GoToObject-v0", num_envs=n, vectorization_mode="vector_entry_point")
    sharded = ShardedVectorEnv("vln/GoToObject-v0", n, 3)
    try:
        native.reset(seed=0)
        sharded.reset(seed=0)
        for env in (native, sharded):
            env.step(np.zeros(n, int))
        mask = np.array([False, True, False, False, False, True])  # shards 0 and 2; shard 1 untouched
        seeds = [0, 101, 0, 0, 0, 105]
        (oa, ia), (ob, ib) = (env.reset(seed=seeds, options={"reset_mask": mask}) for env in (native, sharded))
        np.testing.assert_array_equal(oa["image"], ob["image"])
        assert oa["mission"] == ob["mission"]
        np.testing.assert_array_equal(ia["seed"][mask], ib["seed"][mask])
        np.testing.assert_array_equal(ib["_seed"], mask)
        np.testing.assert_array_equal(ia["expert_action"][mask], ib["expert_action"][mask])
        actions = np.ones(n, int)
        np.testing.assert_array_equal(native.step(actions)[0]["image"], sharded.step(actions)[0]["image"])
    finally:
        native.close()
        sharded.close()
