#!/usr/bin/env python
"""Train a VLN agent: imitation (behaviour cloning + DAgger), then REINFORCE, then evaluation.

With no flags this is the README's main job: the default agent on vln/GoToObject-v0.
The backend is Keras's: set KERAS_BACKEND=jax (or tensorflow, the default) in the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, os.getcwd())  # custom envs given as package.module:Class from the working folder
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    from vln.config import PRESETS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--env", help="Gymnasium env id (default: the preset's, vln/GoToObject-v0)")
    p.add_argument("--env-kwargs", type=json.loads, help='env keyword arguments as JSON, e.g. \'{"num_rooms": [2, 3]}\'')
    p.add_argument("--out", help="run folder (default: runs/<preset>)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="named configuration to start from")
    p.add_argument("--init", dest="init_agent", metavar="PATH",
                   help="start from a saved agent (agent.keras or a run folder) and skip imitation")
    p.add_argument("--il-episodes", type=int, help="expert demonstrations for behaviour cloning (0 skips imitation)")
    p.add_argument("--il-epochs", type=float, help="passes over the demonstrations")
    p.add_argument("--dagger-rounds", type=int, help="DAgger rounds: agent drives, expert labels (0 skips)")
    p.add_argument("--dagger-episodes", type=int, help="episodes per DAgger round")
    p.add_argument("--rl-updates", type=int, help="REINFORCE updates of --num-envs episodes each (0 skips)")
    p.add_argument("--eval-episodes", type=int, help="held-out episodes per split for eval.json (0 skips)")
    p.add_argument("--num-envs", type=int, help="envs of the native vector env")
    p.add_argument("--rnn", choices=("lstm", "gru"), help="policy recurrent cell")
    p.add_argument("--hidden", type=int, help="units of the policy cell")
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional instruction encoder")
    p.add_argument("--batch-size", type=int, help="episodes per minibatch")
    p.add_argument("--chunk", type=int, help="truncated-BPTT length in steps")
    p.add_argument("--lr", type=float, help="learning rate of imitation")
    p.add_argument("--rl-lr", type=float, help="learning rate of REINFORCE")
    p.add_argument("--il-mix", type=float, help="imitation loss weight mixed into REINFORCE (0 disables)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from vln.config import preset

    overrides = {k: v for k, v in vars(args).items()
                 if v is not None and k not in ("preset", "resume", "no_progress")}
    overrides.setdefault("out", f"runs/{args.preset}")
    try:
        config = preset(args.preset, **overrides)
        if args.resume:
            from vln.config import TrainConfig

            saved = TrainConfig.load(Path(config.out) / "config.json")
            config.max_words = saved.max_words
        from vln.train import run

        results = run(config, resume=args.resume, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if results:
        from vln.report import format_table

        if results.get("split") == "train":  # an env without splits: one held-out set of seeds
            print(format_table({"held-out seeds": results}))
        else:
            print(format_table({"unseen": results, "seen": results["seen"]}))
    print(f"run folder: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
