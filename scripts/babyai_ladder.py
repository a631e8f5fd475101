#!/usr/bin/env python
"""BabyAI demo-count ladder: how many bot demonstrations our agent needs on pixels.

For each demo count N of the ladder, trains a fresh agent by behaviour cloning on N
BabyAIBot demonstrations of the level (pixels from RGBImgPartialObsWrapper, through
vln's MiniGrid adapter; no DAgger, no REINFORCE, as BabyAI's imitation baselines; the
demos carry the preset's DART-style noise unless --il-noise 0), then
evaluates it greedily on held-out seeds. Prints success per count, the smallest count
reaching the target (99%), and BabyAI's published figures beside it (Chevalier-Boisvert
et al., ICLR 2019, symbolic 7x7x3 observations: demos needed for 99% success).

  python scripts/babyai_ladder.py                                   # GoToRedBallGrey: 1k, 2k, 5k, 10k, 20k
  python scripts/babyai_ladder.py --level BabyAI-GoToRedBall-v0 --counts 5000,10000,20000,50000
  python scripts/babyai_ladder.py --counts 16 --eval-episodes 4 --preset tiny --out /tmp/ladder   # smoke test

Each rung is a training run folder under --out (``<level>-<N>``: agent.keras, eval.json, ...);
rungs already finished there are read back, not retrained, so a stopped ladder continues.
The results go to ``<out>/ladder.json`` and ``<out>/ladder.md`` (a Markdown table for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Demos BabyAI's imitation learning needed to reach 99% success (ICLR 2019, Table 3: the
# range over their runs), with symbolic 7x7 observations.
PUBLISHED = {
    "BabyAI-GoToRedBallGrey-v0": (8_400, 12_400),
    "BabyAI-GoToRedBall-v0": (49_700, 62_000),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", default="BabyAI-GoToRedBallGrey-v0", help="BabyAI level id")
    p.add_argument("--counts", default="1000,2000,5000,10000,20000", help="comma-separated demo counts (the ladder)")
    p.add_argument("--target", type=float, default=0.99, help="success rate to reach (default 0.99)")
    p.add_argument("--eval-episodes", type=int, default=1000, help="held-out episodes per rung (default 1000)")
    p.add_argument("--eval-seed", type=int, default=1_000_000, help="first held-out seed (training uses 0..N-1)")
    p.add_argument("--preset", default="goto", help="training preset the rungs start from (tiny for smoke tests)")
    p.add_argument("--il-epochs", type=float, default=20.0, help="passes over the demos (default 20)")
    p.add_argument("--min-updates", type=int, default=2000,
                   help="at least this many minibatch updates per rung (small ladders get more epochs; 0 disables)")
    p.add_argument("--batch-size", type=int, default=64, help="episodes per minibatch")
    p.add_argument("--chunk", type=int, default=16, help="truncated-BPTT length in steps")
    p.add_argument("--hidden", type=int, help="units of the policy cell (default: the preset's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    p.add_argument("--il-noise", type=float,
                   help="DART-style noise of the demos (random actions, the bot's labels; default: the preset's; "
                        "0 gives BabyAI's clean bot demos)")
    p.add_argument("--num-envs", type=int, default=64, help="envs stepped together when collecting and evaluating")
    p.add_argument("--tile-size", type=int, default=8, help="pixels per grid cell (8: 56x56 frames)")
    p.add_argument("--actions", choices=("all", "nav"), default="all",
                   help="all 7 MiniGrid actions (as BabyAI) or the navigation subset")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--stop-at-target", action="store_true", help="stop climbing once a rung reaches the target")
    p.add_argument("--out", default="runs/babyai_ladder", help="folder of the rungs and the results")
    return p.parse_args(argv)


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def rung_config(args, n: int):
    from vln.config import preset

    overrides = dict(env=args.level, env_kwargs={"tile_size": args.tile_size, "actions": args.actions},
                     out=str(Path(args.out) / f"{args.level}-{n}"), seed=args.seed, il_episodes=n, dagger_rounds=0,
                     rl_updates=0, eval_episodes=args.eval_episodes, eval_seed=args.eval_seed, batch_size=args.batch_size,
                     chunk=args.chunk, num_envs=args.num_envs)
    epochs = args.il_epochs
    if args.min_updates > 0:
        epochs = max(epochs, args.min_updates * args.batch_size / n)
    overrides["il_epochs"] = float(epochs)
    if args.hidden is not None:
        overrides["hidden"] = args.hidden
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.il_noise is not None:
        overrides["il_noise"] = args.il_noise
    return preset(args.preset, **overrides)


def run_rung(args, n: int) -> dict:
    from vln.train import run

    config = rung_config(args, n)
    eval_path = Path(config.out) / "eval.json"
    if eval_path.exists():
        results = json.loads(eval_path.read_text())
        print(f"  {n} demos: read back from {eval_path}", flush=True)
    else:
        t = time.time()
        results = run(config, progress=False)
        print(f"  {n} demos: {results['success_rate']:.3f} success in {time.time() - t:.0f} s", flush=True)
    sr, episodes = float(results["success_rate"]), int(results["episodes"])
    lo, hi = wilson(sr * episodes, episodes)
    return {"demos": n, "il_noise": config.il_noise, "success_rate": sr, "ci95": [lo, hi], "episodes": episodes, "epochs": config.il_epochs,
            "wall_time_s": results.get("wall_time_s"), "train_frames": results.get("train_frames"),
            "path_length": results.get("path_length"), "run": config.out}


def first_reaching(rows: list[dict], target: float) -> int | None:
    hits = [r["demos"] for r in rows if r["success_rate"] >= target]
    return min(hits) if hits else None


def format_report(level: str, rows: list[dict], target: float, args) -> str:
    lines = [f"### {level}: success on held-out seeds after behaviour cloning on N bot demos (pixels)", "",
             f"{args.eval_episodes} greedy episodes per rung; frames {7 * args.tile_size}x{7 * args.tile_size} RGB; "
             f"actions: {args.actions}; preset {args.preset}; demo noise {rows[0]['il_noise'] if rows else ''} "
             "(DART-style: random actions, the bot's labels).", "",
             "| demos | success | 95% CI | epochs | wall time (s) |", "|---:|---:|---|---:|---:|"]
    for r in rows:
        lo, hi = r["ci95"]
        wall = "" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f}"
        lines.append(f"| {r['demos']:,} | {r['success_rate']:.3f} | {lo:.3f}–{hi:.3f} | {r['epochs']:.1f} | {wall} |")
    ours = first_reaching(rows, target)
    pub = PUBLISHED.get(level)
    lines += ["", f"| demos to reach {target:.0%} | ours (pixels) | BabyAI (symbolic 7x7, ICLR 2019) |", "|---|---:|---:|"]
    ours_text = f"{ours:,}" if ours is not None else f"not reached (> {max(r['demos'] for r in rows):,})"
    pub_text = f"{pub[0] / 1000:.1f}k–{pub[1] / 1000:.1f}k" if pub else "n/a"
    lines.append(f"| {level} | {ours_text} | {pub_text} |")
    if ours is not None and pub is not None:
        verdict = "fewer than" if ours < pub[0] else ("within" if ours <= pub[1] else "more than")
        lines += ["", f"Ours reaches {target:.0%} with {ours:,} demos: {verdict} BabyAI's {pub_text} "
                      "(the ladder's resolution is its rungs: the true count lies between the last rung below and this one)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
        if not counts or counts[0] < 1:
            raise ValueError(f"--counts needs positive integers, got {args.counts!r}")
        if args.eval_episodes < 1:
            raise ValueError(f"--eval-episodes must be positive, got {args.eval_episodes}")
        from vln.environments import make_vector_env

        make_vector_env(args.level, 1, env_kwargs={"tile_size": args.tile_size, "actions": args.actions},
                        imitation=True).close()  # checks the level and its bot before any training
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.level}: ladder {counts}, {args.eval_episodes} held-out episodes per rung", flush=True)
    rows = []
    for n in counts:
        rows.append(run_rung(args, n))
        if args.stop_at_target and rows[-1]["success_rate"] >= args.target:
            break
    report = format_report(args.level, rows, args.target, args)
    from vln.checkpoint import atomic_write_json, atomic_write_text

    atomic_write_json(out / "ladder.json", {"level": args.level, "target": args.target, "rows": rows,
                                            "demos_to_target": first_reaching(rows, args.target),
                                            "published": PUBLISHED.get(args.level), "args": vars(args),
                                            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])})
    atomic_write_text(out / "ladder.md", report + "\n")
    print()
    print(report)
    print(f"\nwrote {out / 'ladder.json'} and {out / 'ladder.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
