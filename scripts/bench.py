#!/usr/bin/env python
"""Benchmarks (not tests): env throughput against MiniGrid, policy stepping, training frames/s.

Each figure is measured beside its anchor in the same run; medians of repeats are
reported. Results go to stdout (a table) and, with --json, to a file.

  python scripts/bench.py                 # everything
  python scripts/bench.py --only env      # env throughput only (one CPU thread)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _median_rate(fn, count: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


def bench_native(env_id: str, num_envs: int = 256, steps: int = 100, repeats: int = 3) -> float:
    """Frames/s of the native vector env: random actions, autoreset included."""
    import gymnasium as gym
    import numpy as np

    import envs  # noqa: F401

    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=(steps, num_envs))
    for a in actions[:5]:
        env.step(a)  # warm up

    def go():
        for a in actions:
            env.step(a)

    return _median_rate(go, steps * num_envs, repeats)


def bench_minigrid(steps: int = 4000, repeats: int = 3) -> float:
    """Frames/s of MiniGrid BabyAI-GoToLocal-v0 with RGBImgPartialObsWrapper(tile_size=8), random actions."""
    import gymnasium as gym
    import minigrid  # noqa: F401
    from minigrid.wrappers import RGBImgPartialObsWrapper

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

    return _median_rate(go, steps, repeats)


def bench_policy_step(batch: int = 64, steps: int = 50, repeats: int = 3) -> dict[str, float]:
    """Env-steps/s of the agent stepping the native vector env at ``batch`` (env included)."""
    import gymnasium as gym

    import envs  # noqa: F401
    from agents import AgentConfig, VLNAgent
    from vln.collect import AgentPolicy
    from vln.tokenizer import Vocabulary

    env = gym.make_vec("vln/GoToObject-v0", num_envs=batch, vectorization_mode="vector_entry_point")
    obs, info = env.reset(seed=0)
    vocab = Vocabulary.build(list(obs["mission"]) * 2)
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4), vocab)
    policy = AgentPolicy(agent, "sample", max_words=16)
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

    return {"with_env": _median_rate(go, steps * batch, repeats), "policy_only": _median_rate(policy_only, steps * batch, repeats)}


def bench_training(batch: int, steps_per_seq: int, hidden: int, updates: int = 8, repeats: int = 3) -> float:
    """Training frames/s of one compiled imitation step on (batch, steps_per_seq) sequences."""
    import numpy as np

    from agents import AgentConfig, VLNAgent
    from vln.tokenizer import Vocabulary

    vocab = Vocabulary.build(["go to the red ball and stop next to it"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=hidden), vocab)
    agent.compile_for_training(learning_rate=1e-3, value_coef=0.0, entropy_coef=0.0)
    rng = np.random.default_rng(0)
    feed = {
        "tokens": rng.integers(1, len(vocab), (batch, 16)).astype(np.int32),
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

    return _median_rate(go, updates * batch * steps_per_seq, repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("env", "policy", "train"), help="run one group only")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    results: dict[str, float] = {}
    rows = []
    if args.only in (None, "env"):
        # One CPU thread for the env comparison, as the anchors were measured.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            mg = bench_minigrid(repeats=args.repeats)
            for env_id in ("vln/GoToObject-v0", "vln/FollowRoute-v0"):
                fps = bench_native(env_id, repeats=args.repeats)
                results[f"{env_id} frames/s"] = fps
                rows.append((f"{env_id} native vector env (256 envs, 64x64)", f"{fps:,.0f} frames/s", f"{fps / mg:.1f}x MiniGrid"))
        results["minigrid frames/s"] = mg
        rows.append(("MiniGrid BabyAI-GoToLocal-v0 + RGBImgPartialObs(8) (anchor)", f"{mg:,.0f} frames/s", "1.0x"))
    if args.only in (None, "policy"):
        r = bench_policy_step(repeats=args.repeats)
        results["policy step batch 64 env-steps/s"] = r["with_env"]
        results["policy step batch 64 policy-only steps/s"] = r["policy_only"]
        rows.append(("policy step, batch 64, with env (target >= 4,000)", f"{r['with_env']:,.0f} steps/s",
                     f"{r['with_env'] / 3800:.2f}x anchor 3,800"))
        rows.append(("policy step, batch 64, policy only", f"{r['policy_only']:,.0f} steps/s", ""))
    if args.only in (None, "train"):
        import keras

        default = bench_training(32, 20, 128, repeats=args.repeats)
        anchor_like = bench_training(32, 32, 256, repeats=args.repeats)
        results["train frames/s default (B32,T20,h128)"] = default
        results["train frames/s anchor-size (B32,T32,h256)"] = anchor_like
        rows.append((f"training step, default agent, B=32 T=20 ({keras.backend.backend()})", f"{default:,.0f} frames/s",
                     f"{default / 1800:.2f}x anchor 1,800"))
        rows.append((f"training step, anchor-size agent, B=32 T=32 h=256 ({keras.backend.backend()})",
                     f"{anchor_like:,.0f} frames/s", f"{anchor_like / 1800:.2f}x anchor 1,800"))
    width = max(len(r[0]) for r in rows)
    for name, fig, ratio in rows:
        print(f"{name:<{width}}  {fig:>20}  {ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
