"""The functional (JAX) envs give the CPU envs' episodes, frames, rewards and flags.

On JAX's CPU backend: the bank holds the CPU envs' episodes for the same seeds; the
jitted vector env and the CPU ``VLNVectorEnv`` run the same episodes under the same
actions and must agree byte for byte on every frame and exactly on every reward (as
float32 without ``jax_enable_x64``), flag and expert action; the device raycaster draws
the CPU raycaster's frames on random scenes; and the Gymnasium classes pass the checker.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
jax = pytest.importorskip("jax")

import gymnasium as gym  # noqa: E402

import envs  # noqa: E402,F401  (registers the ids)
from envs.functional import nav  # noqa: E402
from envs.functional.bank import build_bank, mission_tokens  # noqa: E402
from envs.functional.gym_env import NavFunctional  # noqa: E402
from envs.functional.tables import render_tables  # noqa: E402
from envs.core.constants import DOOR, FLOOR, WALL  # noqa: E402
from envs.render.raycast import RaycastRenderer, SceneBatch  # noqa: E402
from envs.tasks import FollowRouteTask, FollowRouteVectorEnv, GoToObjectTask, GoToObjectVectorEnv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_ENVS = 8

# (jax id, CPU vector env, kwargs, first seed, steps); the shaped cases share the plain
# ones' shapes, so they reuse their compiled step. FollowRoute's 30 steps truncate some.
CASES = [
    pytest.param("vln/GoToObject-jax-v0", GoToObjectVectorEnv, {}, 0, 44, id="goto"),
    pytest.param("vln/GoToObject-jax-v0", GoToObjectVectorEnv, {"reward_shaping": True}, 1000, 44, id="goto-shaped"),
    pytest.param("vln/FollowRoute-jax-v0", FollowRouteVectorEnv, {"max_steps": 30}, 7, 34, id="route"),
    pytest.param("vln/FollowRoute-jax-v0", FollowRouteVectorEnv, {"reward_shaping": True, "max_steps": 30}, 5000, 34,
                 id="route-shaped"),
]


def mixed_actions(rng: np.random.Generator, expert: np.ndarray) -> np.ndarray:
    """The expert's action two times in three (so episodes succeed), else a random one."""
    random = rng.choice(4, size=expert.shape, p=[0.5, 0.2, 0.2, 0.1])
    return np.where(rng.random(expert.shape) < 0.65, expert, random)


@pytest.mark.parametrize("env_id, cpu_cls, kwargs, first_seed, n_steps", CASES)
def test_same_frames_rewards_and_flags_as_the_cpu_env(env_id, cpu_cls, kwargs, first_seed, n_steps):
    seeds = list(range(first_seed, first_seed + N_ENVS))
    cpu = cpu_cls(num_envs=N_ENVS, **kwargs)
    dev = gym.make_vec(env_id, num_envs=N_ENVS, vectorization_mode="vector_entry_point", bank_size=N_ENVS,
                       bank_start=first_seed, **kwargs)
    c_obs, c_info = cpu.reset(seed=seeds)
    d_obs, d_info = dev.reset(seed=0, options={"episodes": np.arange(N_ENVS)})  # bank episode i: seed first_seed + i
    np.testing.assert_array_equal(np.asarray(d_obs["image"]), c_obs["image"])
    np.testing.assert_array_equal(np.asarray(d_info["expert_action"]), c_info["expert_action"])
    rng = np.random.default_rng(first_seed)
    first = np.ones(N_ENVS, bool)  # still in the first episode (the CPU env then draws its own next seeds)
    just_ended = np.zeros(N_ENVS, bool)
    ends = {"terminated": 0, "truncated": 0, "success": 0}
    for _ in range(n_steps):
        actions = mixed_actions(rng, c_info["expert_action"])
        c_obs, c_rew, c_term, c_trunc, c_info = cpu.step(actions)
        d_obs, d_rew, d_term, d_trunc, d_info = dev.step(actions)
        d_rew, d_term, d_trunc = np.asarray(d_rew), np.asarray(d_term), np.asarray(d_trunc)
        live = first & ~just_ended
        np.testing.assert_array_equal(np.asarray(d_obs["image"])[live], c_obs["image"][live])
        np.testing.assert_array_equal(d_rew[live], c_rew[live].astype(d_rew.dtype))
        np.testing.assert_array_equal(d_term[live], c_term[live])
        np.testing.assert_array_equal(d_trunc[live], c_trunc[live])
        np.testing.assert_array_equal(np.asarray(d_info["expert_action"])[live], c_info["expert_action"][live])
        ended_now = live & (c_term | c_trunc)
        np.testing.assert_array_equal(np.asarray(d_info["_success"])[ended_now], True)
        if ended_now.any():
            np.testing.assert_array_equal(np.asarray(d_info["success"])[ended_now], c_info["success"][ended_now])
        # The step after an end resets, as the CPU env: action ignored, reward 0, no flags.
        assert (d_rew[just_ended] == 0).all() and not d_term[just_ended].any() and not d_trunc[just_ended].any()
        ended = live & (c_term | c_trunc)
        ends["terminated"] += int(c_term[live].sum())
        ends["truncated"] += int(c_trunc[live].sum())
        ends["success"] += int(np.asarray(c_info.get("success", np.zeros(N_ENVS, bool)))[ended].sum())
        first &= ~just_ended
        just_ended = ended
    # The actions reached the cases that matter: successes, failed stops or truncations.
    assert ends["success"] > 0 and ends["terminated"] + ends["truncated"] >= N_ENVS // 2, ends
    cpu.close()
    dev.close()


@pytest.mark.parametrize("split", ["train", "unseen"])
@pytest.mark.parametrize("task", [GoToObjectTask(), FollowRouteTask()], ids=["goto", "route"])
def test_the_bank_holds_the_cpu_envs_episodes(task, split):
    seeds = list(range(40, 46))
    bank = build_bank(task, seeds, split)
    cpu_cls = GoToObjectVectorEnv if isinstance(task, GoToObjectTask) else FollowRouteVectorEnv
    cpu = cpu_cls(num_envs=len(seeds), split=split)
    obs, _ = cpu.reset(seed=seeds)
    b = cpu.batch
    np.testing.assert_array_equal(bank.seed, seeds)
    np.testing.assert_array_equal(bank.grid, b.grid)
    np.testing.assert_array_equal(bank.door_color, b.door_color)
    np.testing.assert_array_equal(bank.blocked, b.blocked)
    np.testing.assert_array_equal(bank.obj_type, b.obj_type)
    np.testing.assert_array_equal(bank.obj_color, b.obj_color)
    present = b.obj_type >= 0
    np.testing.assert_array_equal(bank.obj_row[present] + 0.5, b.obj_pos[..., 0][present])
    np.testing.assert_array_equal(bank.obj_col[present] + 0.5, b.obj_pos[..., 1][present])
    np.testing.assert_array_equal(bank.start, np.stack([b.row, b.col, b.heading], axis=1))
    np.testing.assert_array_equal(bank.cell_dist, b.geo)
    np.testing.assert_array_equal(bank.expert_dist, b.dist)
    assert bank.missions == tuple(obs["mission"])
    np.testing.assert_array_equal(bank.mission, mission_tokens(obs["mission"]))
    # The same seeds give the same bank (determinism).
    np.testing.assert_array_equal(build_bank(task, seeds, split).grid, bank.grid)


def random_scenes(rng: np.random.Generator, n: int, gh: int, gw: int, k: int) -> SceneBatch:
    """Random walls, coloured doors and objects (some sharing a cell or a depth, some absent,
    some in walls or at the eye); eyes at free cell centres, any heading."""
    grid = np.where(rng.random((n, gh, gw)) < 0.25, WALL, FLOOR).astype(np.uint8)
    grid[rng.random((n, gh, gw)) < 0.08] = DOOR
    door_color = np.where(grid == DOOR, rng.integers(0, 6, (n, gh, gw)), -1).astype(np.int8)
    pos = np.array([(free := np.argwhere(g != WALL))[rng.integers(len(free))] for g in grid]) + 0.5
    obj_pos = rng.integers(0, [gh, gw], (n, k, 2)) + 0.5
    obj_pos[:, 1] = obj_pos[:, 0]
    obj_pos[:, 2] = pos
    obj_type = np.where(rng.random((n, k)) < 0.8, rng.integers(0, 4, (n, k)), -1)
    return SceneBatch(grid, door_color, pos, rng.integers(0, 4, n), obj_pos, obj_type, rng.integers(0, 6, (n, k)))


@pytest.mark.parametrize("grid, k, view, fov, vfov", [((9, 9), 6, 64, 90.0, None), ((13, 19), 13, 64, 90.0, None),
                                                     ((13, 19), 5, 40, 70.0, 50.0)])
def test_the_device_raycaster_draws_the_cpu_frames(grid, k, view, fov, vfov):
    renderer = RaycastRenderer(view, view, fov, vfov)
    tables = nav.upload_tables(render_tables(renderer, grid))
    scene = random_scenes(np.random.default_rng(grid[1] + k), 48, *grid, k)
    draw = jax.jit(jax.vmap(nav.render_view, in_axes=(None, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
    frames = draw(tables, scene.grid, scene.door_color, scene.pos[:, 0].astype(np.int32), scene.pos[:, 1].astype(np.int32),
                  scene.heading.astype(np.int32), scene.obj_pos[..., 0].astype(np.int32),
                  scene.obj_pos[..., 1].astype(np.int32), scene.obj_type.astype(np.int32), scene.obj_color.astype(np.int32))
    np.testing.assert_array_equal(np.asarray(frames), renderer.render(scene))
    np.testing.assert_array_equal(np.asarray(frames), RaycastRenderer(view, view, fov, vfov, compiled=False).render(scene))


class ToNumpy(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """What ``check_env`` wraps jax envs in (``JaxToNumpy``), without its extra dependency
    (array_api_compat, not one of ours): observations and infos as NumPy arrays."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.metadata = {**env.metadata, "jax": False}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return jax.tree.map(np.asarray, obs), jax.tree.map(np.asarray, info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return jax.tree.map(np.asarray, obs), reward, terminated, truncated, jax.tree.map(np.asarray, info)


def test_the_single_env_passes_gymnasiums_checker():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("vln/GoToObject-jax-v0", bank_size=16, render_mode="rgb_array", disable_env_checker=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(ToNumpy(env.unwrapped))
    obs, info = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(np.asarray(obs["image"]), np.asarray(again["image"]))
    assert obs["image"].dtype == np.uint8 and obs["image"].shape == (64, 64, 3)
    assert env.observation_space.contains({k: np.asarray(v) for k, v in obs.items()})
    assert env.render().shape == (64, 64, 3)
    done, steps = False, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        done, steps = terminated or truncated, steps + 1
    assert terminated and not truncated and reward > 0 and info["success"]  # the expert succeeds
    with pytest.raises(RuntimeError):
        env.step(0)
    env.close()


def test_the_vector_env_refills_its_bank_and_draws_from_it():
    # The shapes of the frame tests' FollowRoute env (8 envs, a bank of 8, 30 steps): no new compilation.
    dev = gym.make_vec("vln/FollowRoute-jax-v0", num_envs=N_ENVS, vectorization_mode="vector_entry_point",
                       bank_size=N_ENVS, max_steps=30, render_mode="rgb_array")
    func: NavFunctional = dev.unwrapped.func_env
    obs, _ = dev.reset(seed=11)
    assert obs["image"].shape == (N_ENVS, 64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["mission"].shape == (N_ENVS, 512)
    # Same seed, same episodes; every index is in the bank.
    again, _ = dev.reset(seed=11)
    np.testing.assert_array_equal(np.asarray(obs["image"]), np.asarray(again["image"]))
    assert set(np.asarray(dev.unwrapped.state[:, nav.IDX]).tolist()) <= set(range(N_ENVS))
    old_grid = np.asarray(func.default_params.bank.grid)
    func.refill(range(100, 100 + N_ENVS))
    np.testing.assert_array_equal(np.asarray(func.default_params.bank.seed), np.arange(100, 100 + N_ENVS))
    assert not np.array_equal(np.asarray(func.default_params.bank.grid), old_grid)
    obs, _ = dev.reset(seed=1, options={"episodes": np.arange(N_ENVS)})
    cpu = FollowRouteVectorEnv(num_envs=N_ENVS, max_steps=30)
    np.testing.assert_array_equal(np.asarray(obs["image"]), cpu.reset(seed=list(range(100, 100 + N_ENVS)))[0]["image"])
    views = dev.render()  # the first-person views
    assert len(views) == N_ENVS and all(np.array_equal(v, o) for v, o in zip(views, np.asarray(obs["image"])))
    turn = np.full(N_ENVS, 1)  # turning in place never ends an episode: all truncate at step 30
    for t in range(31):
        _, reward, terminated, truncated, _ = dev.step(turn)
        assert not np.asarray(terminated).any() and np.asarray(truncated).all() == (t == 29)
    assert (np.asarray(dev.unwrapped.state[:, nav.STEPS]) == 0).all()  # the step after truncation reset them
    dev.close()


def test_envs_import_without_jax():
    code = "import sys, envs, gymnasium; gymnasium.make('vln/GoToObject-v0'); assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "VLN_NUMPY_ENVS": "1"})


def test_unpacking_colours():
    from envs.functional.tables import pack_rgb

    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(nav.unpack_rgb(jax.numpy.asarray(pack_rgb(rgb)))), rgb)
