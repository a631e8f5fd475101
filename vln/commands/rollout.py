"""vln-rollout (scripts/rollout.py): one annotated MP4 per episode of an agent, the expert or a random policy."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """Roll out an agent (greedy) or the expert / a random policy and write one MP4 per episode.

  python scripts/rollout.py --checkpoint runs/default --episodes 4 --video-dir videos
  python scripts/rollout.py --policy expert --env vln/FollowRoute-v0 --episodes 2
  python scripts/rollout.py --checkpoint runs/default --episodes 1 --still docs/rollout_still.png

Each video (H.264, yuv420p, plays in browsers) shows the first-person view, the top-down map
with the path so far and the goal, the instruction with each word shaded by the agent's
attention at that step, the action, the step count, the policy LSTM's most active cells,
and SUCCESS or FAIL at the end. The seeds match scripts/evaluate.py's, so episode k here is
row k of its CSV.
"""


def parse_args(argv=None) -> argparse.Namespace:
    from vln.cli import add_policy_arguments

    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_policy_arguments(p)
    p.add_argument("--episodes", type=int, default=4, help="episodes, one video each (default 4)")
    p.add_argument("--seed", type=int, default=1_000_000, help="first episode seed (default 1000000, as evaluate.py)")
    p.add_argument("--video-dir", default="videos", help="folder for the MP4s (default videos/)")
    p.add_argument("--num-envs", type=int, default=4, help="episodes stepped together (default 4)")
    p.add_argument("--max-words", type=int, help="instruction length for the agent (default: the run's)")
    p.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps)")
    p.add_argument("--no-lstm-strip", action="store_true", help="leave out the strip of LSTM cells")
    p.add_argument("--still", help="also save a PNG of a frame of the first episode here (e.g. docs/rollout_still.png)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    from vln.checkpoint import check_writable
    from vln.cli import parse_env_kwargs, resolve_inputs

    from vln.cli import require_positive

    require_positive(episodes=args.episodes, num_envs=args.num_envs, fps=args.fps)
    from vln.video import video_support

    reason = video_support()
    if reason is not None:
        raise ValueError(reason)
    env_kwargs = parse_env_kwargs(args.env_kwargs) if args.env_kwargs is not None else None
    check_writable(args.video_dir)
    if args.still:
        if Path(args.still).suffix.lower() != ".png":
            raise ValueError(f"--still must name a .png file, got {args.still}")
        check_writable(Path(args.still).parent)
    run = resolve_inputs(args.checkpoint, args.policy, args.env, env_kwargs, args.split, args.max_words, quiet=True)
    from vln.recording import rollout

    rows = rollout(run["policy"], run["env"], episodes=args.episodes, video_dir=args.video_dir, seed=args.seed,
                   split=run["split"], env_kwargs=run["env_kwargs"], num_envs=min(args.num_envs, args.episodes),
                   max_words=run["max_words"], fps=args.fps, lstm_strip=not args.no_lstm_strip,
                   name_prefix=run["name"], still=args.still)
    for row in rows:
        extra = f"  spl {row['spl']:.2f}" if "spl" in row else ""
        outcome = "SUCCESS" if row.get("success") else "FAIL"
        print(f"seed {row['seed']}  {outcome:<7}  steps {row['steps']:>3}{extra}  {row['video']}")
    from vln.metrics import METRIC_NAMES, summarize

    if all("ndtw" in row for row in rows):
        from vln.tables import format_table

        summary = summarize(rows)
        print(format_table({f"{run['name']}/{run['split']}": {k: summary[k] for k in METRIC_NAMES}}))
    if args.still:
        print(f"still: {args.still}")
    return 0

