#!/usr/bin/env python
"""Benchmarks (not tests): env, policy step, imitation training and REINFORCE throughput.

One command prints a table and writes bench.json. Each figure is the median of repeats,
measured beside its anchor in the same run (MiniGrid for the envs) or beside the anchor
figures under "Anchors" in BENCHMARKS.md, and labelled with the Keras backend and hardware.
It runs unchanged on a CPU machine and on a GPU machine (KERAS_BACKEND=jax there); on a
GPU the batch sizes grow to what a GPU needs (see ``sizes``).

  python scripts/bench.py                 # everything (a few minutes on a 2-core CPU)
  python scripts/bench.py --quick         # under a minute: fewer steps and repeats
  python scripts/bench.py --only env      # one group: env, policy, train, pipeline, reinforce or device
  KERAS_BACKEND=jax python scripts/bench.py --only device   # the functional (JAX) env's step + render
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GROUPS = ("env", "policy", "train", "pipeline", "reinforce", "device")
# BENCHMARKS.md's H100 row: REINFORCE end to end with the CPU envs (1,024 envs over 12 processes),
# what the device rollout's REINFORCE rows are read against.
H100_REINFORCE = 24_153
# Worker processes of the sharded env start by forkserver: a fresh server process, so
# nothing is forked from this process once JAX or TensorFlow run threads.
CONTEXT = "forkserver"


# ------------------------------------------------------------------------- hardware
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def accelerator() -> str | None:
    """The GPU Keras's backend computes on (its name), or None on a CPU-only machine."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return devices[0].device_kind if devices else None
    if backend == "tensorflow":
        import tensorflow as tf  # optional corner: only to name the device

        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else None
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


def hardware() -> dict[str, Any]:
    import keras

    gpu = accelerator()
    cores = os.cpu_count() or 1
    return {"backend": keras.backend.backend(), "accelerator": gpu, "cpu": cpu_name(), "cpu_cores": cores,
            "label": f"{keras.backend.backend()} on {gpu or 'CPU'} + {cores} CPU cores"}


def sizes(gpu: bool, quick: bool, cores: int) -> dict[str, Any]:
    """Batch sizes, env workers and step counts for this machine."""
    workers = max(1, min(15, cores - 1))  # one core left for the learner
    s = {
        "env_steps": 40 if quick else 100,
        "workers": workers,
        "policy_batch": 1024 if gpu else 64,
        "policy_steps": 20 if quick else 50,
        # (batch, T, hidden, mixed precision): the default agent at the anchor's batch, then GPU sizes.
        "train": [(32, 20, 128, False)] + ([(512, 32, 128, False), (2048, 32, 128, True)] if gpu else []),
        "train_updates": 4 if quick else 8,
        "pipeline": (256, 32, 2048) if gpu else (32, 20, 128),  # batch, chunk, episodes
        "rl_envs": 2048 if gpu else 64,
        "rl_updates": 2 if quick else 4,
        "repeats": 1 if quick else 3,
        # The functional env's batches (jit + vmap + scan over device_steps steps a call).
        "device_batches": [256, 1024] if quick else [256, 1024, 4096, 16384],
        "device_steps": 8 if quick else 32,
    }
    return s


def median_rate(fn: Callable[[], Any], count: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


# ----------------------------------------------------------------------------- envs
def make_env(env_id: str, num_envs: int, workers: int = 1, sharded: bool = False, **kwargs: Any):
    import gymnasium as gym

    import envs  # noqa: F401
    from envs.parallel import ShardedVectorEnv

    if workers > 1 or sharded:
        return ShardedVectorEnv(env_id, num_envs, workers, context=CONTEXT, **kwargs)
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


# Action mixes of the env benchmark: (forward, left, right, stop) probabilities. Uniform
# random actions end an episode by STOP one step in four (resets dominate); a policy's
# episodes run longer (STOP 5%, forward most often).
ACTION_MIXES = {"uniform random": (0.25, 0.25, 0.25, 0.25), "policy-like, STOP 5%": (0.55, 0.2, 0.2, 0.05)}


def bench_native(env_id: str, num_envs: int = 256, steps: int = 100, repeats: int = 3, workers: int = 1,
                 mix: tuple[float, ...] = ACTION_MIXES["uniform random"], sharded: bool = False) -> float:
    """Frames/s of the native vector env (``sharded``: through ``ShardedVectorEnv`` even for
    one worker), actions drawn from ``mix``, autoreset included."""
    import numpy as np

    env = make_env(env_id, num_envs, workers, sharded=sharded)
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        actions = rng.choice(4, size=(steps, num_envs), p=mix)
        for a in actions[:5]:
            env.step(a)  # warm up

        def go():
            for a in actions:
                env.step(a)

        return median_rate(go, steps * num_envs, repeats)
    finally:
        env.close()


def bench_render(env_id: str, num_envs: int = 256, repeats: int = 3) -> float:
    """Frames/s of the first-person renderer alone (the compiled kernel where numba is),
    on the states of a native vector env after a few policy-like steps."""
    import numpy as np

    env = make_env(env_id, num_envs)
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(10):
            env.step(rng.choice(4, size=num_envs, p=ACTION_MIXES["policy-like, STOP 5%"]))
        batch, every = env.unwrapped.batch, np.arange(num_envs)

        def go():
            for _ in range(20):
                batch.render(every)

        return median_rate(go, 20 * num_envs, repeats)
    finally:
        env.close()


def bench_episodes(env_id: str, batch: int = 64, batches: int = 8, repeats: int = 3) -> float:
    """Episodes/s of the task's generator alone (layout, expert tables, route, mission), in batches of ``batch`` seeds."""
    task = make_env(env_id, 1).unwrapped.task
    task.generate_batch(range(batch))  # warm up (and the kernels' first use)
    start = iter(range(10**6, 10**9, batch))

    def go():
        for _ in range(batches):
            s = next(start)
            task.generate_batch(range(s, s + batch))

    return median_rate(go, batch * batches, repeats)


def bench_jit_start(env_id: str) -> dict[str, float]:
    """Seconds to import the envs, make a vector env, reset it and step it once, in a fresh
    process: with an empty numba cache (the first use compiles every kernel) and again with
    the cache that run wrote. Empty where the kernels are off (numba missing, VLN_NUMPY_ENVS=1)."""
    import subprocess
    import tempfile

    code = ("import time; t = time.perf_counter(); import gymnasium as gym, envs; "
            f"e = gym.make_vec({env_id!r}, num_envs=8, vectorization_mode='vector_entry_point'); "
            "e.reset(seed=0); e.step([0] * 8); print(time.perf_counter() - t)")
    from envs.core import jit

    if not jit.ENABLED:
        return {}  # no kernels to compile: numba missing or VLN_NUMPY_ENVS=1
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for name in ("empty cache", "cached"):
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  cwd=Path(__file__).resolve().parent.parent, check=True)
            out[name] = float(proc.stdout.split()[-1])
    return out


def bench_minigrid(steps: int = 4000, repeats: int = 3) -> float | None:
    """Frames/s of MiniGrid BabyAI-GoToLocal-v0 with RGBImgPartialObsWrapper(tile_size=8), random actions."""
    try:
        import gymnasium as gym
        import minigrid  # noqa: F401
        from minigrid.wrappers import RGBImgPartialObsWrapper
    except ImportError:
        return None  # the anchor needs the minigrid package; the table says so

    env = RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0"), tile_size=8)
    env.reset(seed=0)
    space = env.action_space
    space.seed(0)

    def go():
        # MiniGrid prints every rejected layout sample; keep the table readable.
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(steps):
                _, _, term, trunc, _ = env.step(space.sample())
                if term or trunc:
                    env.reset()

    return median_rate(go, steps, repeats)


def bench_device(env_id: str, num_envs: int, steps: int, repeats: int, bank_size: int = 1024) -> float:
    """Frames/s of the functional (JAX) env alone: ``steps`` steps of ``num_envs`` envs (next-step
    autoreset from a bank of ``bank_size`` episodes, policy-like random actions drawn on the
    device) and their first-person frames, in one jitted ``jax.lax.scan`` of vmapped steps.

    ``env_id`` is a CPU id; its ``-jax-`` twin is made. Every frame is summed into a checksum
    (what the call returns), so none of the render can be compiled away.
    """
    import jax
    import jax.numpy as jnp

    from envs.functional import nav

    jax_id = env_id.replace("-v0", "-jax-v0")
    env = make_env(jax_id, num_envs, bank_size=bank_size)
    params = env.unwrapped.func_env.default_params
    mix = jnp.asarray(ACTION_MIXES["policy-like, STOP 5%"])
    step_all = jax.vmap(nav.autoreset_step, in_axes=(None, 0, 0, 0, 0))
    render_all = jax.vmap(nav.render, in_axes=(None, 0))

    @jax.jit
    def rollout(params, state, done, key):
        def one(carry, key):
            state, done, total = carry
            k_act, k_reset = jax.random.split(key)
            actions = jax.random.choice(k_act, 4, (num_envs,), p=mix)
            state, _, term, trunc = step_all(params, state, done, actions, jax.random.split(k_reset, num_envs))
            total = total + jnp.sum(render_all(params, state), dtype=jnp.uint32)
            return (state, term | trunc, total), None

        (state, done, total), _ = jax.lax.scan(one, (state, done, jnp.uint32(0)), jax.random.split(key, steps))
        return state, done, total

    key = jax.random.PRNGKey(0)
    state = jax.vmap(nav.initial, in_axes=(None, 0))(params, jax.random.split(key, num_envs))
    done = jnp.zeros(num_envs, bool)
    keys = iter(jax.random.split(key, 1 + repeats))
    state, done, total = rollout(params, state, done, next(keys))  # compile
    total.block_until_ready()

    def go():
        nonlocal state, done
        state, done, total = rollout(params, state, done, next(keys))
        total.block_until_ready()

    return median_rate(go, steps * num_envs, repeats)


def bench_device_rollout(num_envs: int, repeats: int, updates: bool = True) -> dict[str, float]:
    """Env-steps/s of whole waves of the default agent (sampled actions) on FollowRoute, 2-3 rooms,
    60 steps, shaped rewards: ``vln.device_rollout.DeviceRollout`` (the agent's stateless call
    and the functional env in one ``lax.scan``, the frames brought back to the host) beside
    ``vln.collection.run_wave`` on the CPU vector env (the agent's compiled step per env step);
    then (``updates``) REINFORCE updates from device waves, through ``fit`` and on the device.

    A wave steps every env until the slowest episode ends (the CPU path) or for the step
    limit (the device path); both count steps taken, ignored ones included.
    """
    import jax
    import numpy as np

    from vln.collection import run_wave, sample_missions
    from vln.device_rollout import DeviceRollout, bank_tokenizer, device_reinforce_update, reinforce_update
    from vln.objectives import objective
    from vln.policies import AgentPolicy

    kwargs = {"num_rooms": [2, 3], "max_steps": 60, "reward_shaping": True}
    cpu = make_env("vln/FollowRoute-v0", num_envs, **kwargs)
    try:
        agent = make_agent(sample_missions(cpu, 256, 30_000_000))
        kernel, bias = agent.policy_head.get_weights()
        bias[3] -= 4.0  # as bench_reinforce: an untrained agent's episodes last as a learner's do
        agent.policy_head.set_weights([kernel, bias])
        func = make_env("vln/FollowRoute-jax-v0", 1, bank_size=1024, tokenize=bank_tokenizer(agent, 48),
                        **kwargs).unwrapped.func_env
        roll = DeviceRollout(agent, func, mode="sample")
        episodes = np.arange(num_envs) % func.bank.size
        roll.collect(episodes, jax.random.PRNGKey(0))  # compile
        keys = iter(jax.random.split(jax.random.PRNGKey(1), repeats))
        device = median_rate(lambda: roll.collect(episodes, next(keys)), func.max_steps * num_envs, repeats)
        policy = AgentPolicy(agent, "sample", max_words=48)
        run_wave(cpu, policy, list(range(num_envs)))  # compile
        rates = []
        for r in range(repeats):
            t = time.perf_counter()
            trajs = run_wave(cpu, policy, list(range(1000 * (r + 1), 1000 * (r + 1) + num_envs)))
            rates.append(max(len(tr) for tr in trajs) * num_envs / (time.perf_counter() - t))
        out = {"device": device, "cpu": statistics.median(rates)}
        if not updates:
            return out
        # REINFORCE updates from device waves: frames through the host and fit, or kept on the device.
        agent.compile_for_training(objective(value_coef=0.5, entropy_coef=0.01), learning_rate=1e-4)
        rng, steps = np.random.default_rng(0), func.max_steps * num_envs
        paths = {
            "host": lambda k: reinforce_update(agent, roll, episodes, k, gamma=0.95, batch_size=num_envs,
                                               chunk=func.max_steps, max_words=48, rng=rng),
            "on_device": lambda k: device_reinforce_update(agent, roll, episodes, k, gamma=0.95, max_words=48),
        }
        for name, update in paths.items():
            update(jax.random.PRNGKey(2))  # compile
            keys = iter(jax.random.split(jax.random.PRNGKey(3), repeats))
            out[f"reinforce_{name}"] = median_rate(lambda: update(next(keys)), steps, repeats)
        return out
    finally:
        cpu.close()


def device_name() -> str:
    """The device JAX computes on."""
    import jax

    d = jax.devices()[0]
    return "CPU (JAX's CPU backend)" if d.platform == "cpu" else d.device_kind


# ------------------------------------------------------------------------- the agent
def make_agent(missions: list[str], hidden: int = 128):
    from agents import AgentConfig, VLNAgent
    from agents.vocabulary import Vocabulary

    vocab = Vocabulary.build(list(missions))
    return VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=hidden), vocab)


def bench_policy_step(batch: int, steps: int, repeats: int, workers: int) -> dict[str, float]:
    """Env-steps/s of the agent stepping the native vector env at ``batch`` (env included)."""
    from vln.policies import AgentPolicy

    env = make_env("vln/GoToObject-v0", batch, workers)
    try:
        obs, info = env.reset(seed=0)
        policy = AgentPolicy(make_agent(list(obs["mission"])), "sample", max_words=16)
        policy.begin(list(obs["mission"]))
        expert = info["expert_action"]
        for _ in range(5):
            a, _ = policy.act(obs["image"], expert)
            obs, *_ = env.step(a)

        def go():
            nonlocal obs
            for _ in range(steps):
                a, _ = policy.act(obs["image"], expert)
                obs, *_ = env.step(a)

        def policy_only():
            for _ in range(steps):
                policy.act(obs["image"], expert)

        return {"with_env": median_rate(go, steps * batch, repeats),
                "policy_only": median_rate(policy_only, steps * batch, repeats)}
    finally:
        env.close()


def bench_training(batch: int, steps_per_seq: int, hidden: int, mixed: bool, updates: int = 8, repeats: int = 3) -> float:
    """Training frames/s of the compiled imitation step on (batch, steps_per_seq) sequences."""
    import numpy as np

    from vln.objectives import objective
    from vln.train import compute_precision

    with compute_precision(mixed):
        agent = make_agent(["go to the red ball and stop next to it"], hidden)
        agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-3)
    rng = np.random.default_rng(0)
    feed = {
        "tokens": rng.integers(1, len(agent.vocab), (batch, 16)).astype(np.int32),
        "images": rng.integers(0, 255, (batch, steps_per_seq, 64, 64, 3), dtype=np.uint8),
        "prev_actions": rng.integers(0, 5, (batch, steps_per_seq)).astype(np.int32),
        "actions": rng.integers(0, 4, (batch, steps_per_seq)).astype(np.int32),
        "weights": np.ones((batch, steps_per_seq), np.float32),
        "mask": np.ones((batch, steps_per_seq), np.float32),
    }
    agent.train_batch(feed)  # compile

    def go():
        for _ in range(updates):
            agent.train_batch(feed)

    return median_rate(go, updates * batch * steps_per_seq, repeats)


def bench_pipeline(batch: int, chunk: int, episodes: int, repeats: int) -> float:
    """Imitation frames/s through ``vln.optimiser.fit``: padding, truncated BPTT chunks, transfers.

    Episodes of 10-60 steps (FollowRoute's range) with random frames; the figure counts
    real (unpadded) frames, so it is what an imitation phase gets, below the bare step's.
    """
    import numpy as np

    from vln.collection import Trajectory
    from vln.objectives import imitation_samples, objective
    from vln.optimiser import fit

    rng = np.random.default_rng(0)
    missions = ["go through the red door , turn left and stop next to the blue key"]
    agent = make_agent(missions)
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-3)
    trajs = []
    for k in range(episodes):
        t = int(rng.integers(10, 61))
        trajs.append(Trajectory(missions[0], k, rng.integers(0, 255, (t, 64, 64, 3), dtype=np.uint8),
                                rng.integers(0, 4, t), rng.integers(0, 4, t), np.zeros(t), np.zeros(t), {}))
    samples = imitation_samples(trajs)
    frames = sum(len(t) for t in trajs)

    def go():
        fit(agent, samples, epochs=1.0, batch_size=batch, chunk=chunk, max_words=16, rng=rng)

    go()  # compile
    return median_rate(go, frames, repeats)


def bench_reinforce(num_envs: int, updates: int, workers: int, repeats: int) -> dict[str, float]:
    """REINFORCE end to end on vln/FollowRoute-v0: sampled rollouts + advantages + update.

    Returns the episode frames used for training per second (``frames``) and the env
    steps taken per second (``env_steps``; a wave steps every env until its slowest
    episode ends, so it counts the finished envs' ignored steps too).
    """
    import numpy as np

    from vln.collection import run_episodes, sample_missions

    from vln.policies import AgentPolicy
    from vln.objectives import objective, reinforce_samples
    from vln.optimiser import fit

    env = make_env("vln/FollowRoute-v0", num_envs, workers, num_rooms=[2, 3], max_steps=60, reward_shaping=True)
    try:
        agent = make_agent(sample_missions(env, 256, 30_000_000))
        # An untrained agent stops within ~4 steps (STOP is one action in four); lower its
        # STOP bias so episodes last as a learner's do (tens of steps).
        kernel, bias = agent.policy_head.get_weights()
        bias[3] -= 4.0
        agent.policy_head.set_weights([kernel, bias])
        agent.compile_for_training(objective(value_coef=0.5, entropy_coef=0.01), learning_rate=1e-4)
        rng = np.random.default_rng(0)
        counts = {"frames": 0, "env_steps": 0}

        def one_update(u: int):
            policy = AgentPolicy(agent, "sample", seed=u, max_words=48)
            trajs = run_episodes(env, policy, num_envs, 1_000 * u)
            samples = reinforce_samples(trajs, 0.95)
            fit(agent, samples, epochs=1.0, batch_size=len(samples), chunk=20, max_words=48, rng=rng)
            counts["frames"] += sum(len(t) for t in trajs)
            counts["env_steps"] += max(len(t) for t in trajs) * num_envs

        one_update(0)  # compile (twice: a second chunk's state pass compiles on the first long episode)
        one_update(0)
        frames, steps = [], []
        for r in range(repeats):
            counts.update(frames=0, env_steps=0)
            t = time.perf_counter()
            for u in range(updates):
                one_update(1 + r * updates + u)
            dt = time.perf_counter() - t
            frames.append(counts["frames"] / dt)
            steps.append(counts["env_steps"] / dt)
        return {"frames": statistics.median(frames), "env_steps": statistics.median(steps)}
    finally:
        env.close()


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=GROUPS, action="append", help="run only this group (repeatable)")
    p.add_argument("--quick", action="store_true", help="fewer steps and one repeat: under a minute on a CPU")
    p.add_argument("--json", default="bench.json", help="write the results here ('' to skip)")
    args = p.parse_args(argv)
    groups = args.only or GROUPS
    hw = hardware()
    sz = sizes(hw["accelerator"] is not None, args.quick, hw["cpu_cores"])
    reps = sz["repeats"]
    rows: list[dict[str, Any]] = []

    def row(name: str, value: float, unit: str, anchor: str = "", **extra: Any) -> None:
        rows.append({"name": name, "value": round(value, 1), "unit": unit, "vs_anchor": anchor, **extra})
        print(f"  {name}: {value:,.{1 if unit == 's' else 0}f} {unit} {anchor}", flush=True)

    print(f"bench: {hw['label']} ({hw['cpu']})", flush=True)
    if "env" in groups:
        # One CPU thread, as the anchors were measured: MiniGrid first, then both tasks under
        # both action mixes in the same process, so the ratios compare like with like.
        from threadpoolctl import threadpool_limits

        # MiniGrid is measured between the cases too and its median taken: on a shared
        # machine the load drifts within a run.
        tasks = ("vln/GoToObject-v0", "vln/FollowRoute-v0")
        mg_steps = 1000 if args.quick else 4000
        with threadpool_limits(1):
            mg_runs, cases = [bench_minigrid(steps=mg_steps, repeats=reps)], []
            for env_id in tasks:
                for mix_name, mix in ACTION_MIXES.items():
                    cases.append((env_id, mix_name, bench_native(env_id, steps=sz["env_steps"], repeats=reps, mix=mix)))
                    mg_runs.append(bench_minigrid(steps=mg_steps, repeats=1))
            mg = statistics.median(mg_runs) if None not in mg_runs else None
            for env_id, mix_name, fps in cases:
                row(f"{env_id} native vector env, 256 envs, 1 process, {mix_name}", fps, "frames/s",
                    f"{fps / mg:.1f}x MiniGrid" if mg else "(minigrid not installed)", mix=mix_name)
            for env_id in tasks:
                row(f"{env_id} episode generation (layout, expert tables, route, mission), batches of 64",
                    bench_episodes(env_id, batches=2 if args.quick else 8, repeats=reps), "episodes/s")
            for env_id in tasks:
                row(f"{env_id} first-person renderer alone, 256 frames a call", bench_render(env_id, repeats=reps),
                    "frames/s", "(memory bound for 64x64x3: ~10^6 per core)")
        if mg:
            row("MiniGrid BabyAI-GoToLocal-v0 + RGBImgPartialObs(8), 1 process (anchor)", mg, "frames/s",
                f"1.0x (median of {len(mg_runs)} runs between the cases)", runs=[round(r, 1) for r in mg_runs])
        # The sharded env's scaling: 1, 2, 4, ... worker processes up to the workers this
        # machine has, 256 envs per worker, the policy-like mix.
        one = None
        for w in [n for n in (1, 2, 4, 8, 16) if n <= max(sz["workers"], 2)]:
            with threadpool_limits(1):
                fps = bench_native("vln/FollowRoute-v0", 256 * w, sz["env_steps"], reps, workers=w,
                                   mix=ACTION_MIXES["policy-like, STOP 5%"], sharded=True)
            one = one or fps
            row(f"vln/FollowRoute-v0 sharded over {w} process(es), {256 * w} envs, policy-like", fps, "frames/s",
                f"{fps / one:.2f}x 1 process" + (f", {fps / mg:.1f}x MiniGrid" if mg else ""), workers=w)
        if not args.quick:
            for name, seconds in bench_jit_start("vln/FollowRoute-v0").items():
                row(f"numba kernels: import, make, reset and step a vector env in a new process, {name}",
                    seconds, "s")
    if "policy" in groups:
        b = sz["policy_batch"]
        r = bench_policy_step(b, sz["policy_steps"], reps, sz["workers"] if b > 64 else 1)
        row(f"policy step, batch {b}, with GoToObject env", r["with_env"], "env-steps/s",
            "(target >= 4,000 at batch 64 on CPU)" if b == 64 else "(anchor: prototype step alone ~169,000 at 1024)")
        row(f"policy step, batch {b}, policy only", r["policy_only"], "steps/s")
    if "train" in groups:
        for batch, t, hidden, mixed in sz["train"]:
            fps = bench_training(batch, t, hidden, mixed, sz["train_updates"], reps)
            anchor = {32: "1,800 (CPU prototype, batch 32)", 512: "70,000 (GPU prototype, fp32)",
                      2048: "173,000 (GPU prototype, bf16); target >= 250,000"}[batch]
            row(f"imitation training, default agent, B={batch} T={t} {'bf16' if mixed else 'fp32'}", fps,
                "frames/s", f"anchor {anchor}", batch=batch, mixed_precision=mixed)
    if "pipeline" in groups:
        batch, chunk, episodes = sz["pipeline"]
        fps = bench_pipeline(batch, chunk, episodes if not args.quick else episodes // 4, reps)
        row(f"imitation pipeline (vln.optimiser.fit: padding, TBPTT chunks of {chunk}, transfers), B={batch}", fps,
            "frames/s", "real frames of 10-60 step episodes")
    if "reinforce" in groups:
        n = sz["rl_envs"]
        w = sz["workers"] if n > 64 else 1
        r = bench_reinforce(n, sz["rl_updates"], w, reps)
        row(f"REINFORCE end to end, FollowRoute 2-3 rooms, {n} envs, {w} env process(es): episode frames",
            r["frames"], "frames/s", "(GPU target >= 50,000 env-steps/s)" if n > 64 else "")
        row("REINFORCE end to end, same run: env steps taken (waves)", r["env_steps"], "env-steps/s")
    if "device" in groups:
        try:
            import jax  # noqa: F401
        except ImportError:
            jax = None
        if jax is None:
            print("  device: skipped (jax is not installed)", flush=True)
        elif hw["backend"] != "jax" and not args.only:
            # Beside another backend JAX would claim the accelerator's memory too: only when asked.
            print("  device: skipped (runs with KERAS_BACKEND=jax, or --only device)", flush=True)
        else:
            # Anchor: the CPU native vector env at the same batch, same action mix, same run.
            steps = sz["device_steps"]
            for env_id in ("vln/FollowRoute-v0",) if args.quick else ("vln/GoToObject-v0", "vln/FollowRoute-v0"):
                for n in sz["device_batches"]:
                    fps = bench_device(env_id, n, steps, reps)
                    cpu = bench_native(env_id, n, max(4, steps // 2), reps, mix=ACTION_MIXES["policy-like, STOP 5%"])
                    row(f"{env_id.replace('-v0', '-jax-v0')} step + render, jit/vmap/scan {steps} steps, {n} envs, "
                        f"on {device_name()}", fps, "frames/s", f"{fps / cpu:.2f}x the CPU vector env ({cpu:,.0f}); "
                        f"GPU target >= 1,000,000", batch=n, anchor_frames_per_s=round(cpu, 1))
            if hw["backend"] == "jax" and not args.quick:  # (an agent to build and compile: not in a quick run)
                n = sz["rl_envs"]
                # The updates only on an accelerator: on a CPU they take minutes and time its training.
                on_gpu = jax.devices()[0].platform != "cpu"
                r = bench_device_rollout(n, reps, updates=on_gpu)
                row(f"agent + env waves in one lax.scan (vln.device_rollout), FollowRoute 2-3 rooms, {n} envs, "
                    f"on {device_name()}", r["device"], "env-steps/s",
                    f"{r['device'] / r['cpu']:.2f}x run_wave on the CPU vector env ({r['cpu']:,.0f})", batch=n,
                    anchor_env_steps_per_s=round(r["cpu"], 1))
                for name, how in (("host", "frames through the host and fit"),
                                  ("on_device", "frames kept on the device, update_on_device")) if on_gpu else ():
                    row(f"REINFORCE from device waves ({how}), same {n} envs: wave + update", r[f"reinforce_{name}"],
                        "env-steps/s", f"{r[f'reinforce_{name}'] / H100_REINFORCE:.1f}x the H100's CPU-env REINFORCE "
                        f"({H100_REINFORCE:,} env-steps/s, BENCHMARKS.md); target >= 250,000", batch=n)

    print()
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark (' + hw['label'] + ')':<{width}}  {'value':>14}  unit          vs anchor")
    for r in rows:
        value = f"{r['value']:>14,.1f}" if r["unit"] == "s" else f"{r['value']:>14,.0f}"
        print(f"{r['name']:<{width}}  {value}  {r['unit']:<12}  {r['vs_anchor']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"hardware": hw, "quick": args.quick, "sizes": sz, "results": rows},
                                              indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
