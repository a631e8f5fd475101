#!/usr/bin/env python
"""Train a VLN agent: imitation (behaviour cloning + DAgger), then REINFORCE, then evaluation.

With no flags this is the README's main job: the default agent on vln/GoToObject-v0.
The backend is Keras's: set KERAS_BACKEND=jax (or tensorflow, the default) in the environment.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--env-kwargs", help='env keyword arguments as JSON, e.g. \'{"num_rooms": [2, 3]}\'')
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
    p.add_argument("--env-workers", type=int, help="processes the training env is sharded over (1: none)")
    p.add_argument("--mixed-precision", action="store_true", default=None,
                   help="compute in bfloat16 with float32 weights (GPUs)")
    p.add_argument("--rnn", choices=("lstm", "gru"), help="policy recurrent cell")
    p.add_argument("--hidden", type=int, help="units of the policy cell")
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional instruction encoder")
    p.add_argument("--batch-size", type=int, help="episodes per minibatch")
    p.add_argument("--chunk", type=int, help="truncated-BPTT length in steps")
    p.add_argument("--lr", type=float, help="learning rate of imitation")
    p.add_argument("--rl-lr", type=float, help="learning rate of REINFORCE")
    p.add_argument("--rl-baseline", choices=("value", "group"),
                   help="REINFORCE baseline: the value head, or the leave-one-out mean of --rl-group samples of each episode")
    p.add_argument("--rl-group", type=int, help="samples of each episode per update with --rl-baseline group")
    p.add_argument("--pg-coef", type=float,
                   help="weight of REINFORCE's policy-gradient term (0: imitation mix and value regression only, an ablation)")
    p.add_argument("--il-mix", type=float, help="imitation loss weight mixed into REINFORCE (0 disables)")
    p.add_argument("--time-budget", dest="time_budget_s", type=float,
                   help="training wall-clock budget in seconds; phases stop early once spent (0: none)")
    p.add_argument("--checkpoint-every", type=int, help="REINFORCE updates between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from vln.cli import run_guarded

    return run_guarded(lambda: _run(args))


def _run(args) -> int:
    from vln.cli import quiet_keras_import, require_non_negative, require_positive
    from vln.config import preset
    from vln.cli import parse_env_kwargs

    overrides = {k: v for k, v in vars(args).items()
                 if v is not None and k not in ("preset", "resume", "no_progress")}
    overrides.setdefault("out", f"runs/{args.preset}")
    if args.env_kwargs is not None:
        overrides["env_kwargs"] = parse_env_kwargs(args.env_kwargs)
    require_positive(num_envs=args.num_envs, hidden=args.hidden, batch_size=args.batch_size, chunk=args.chunk,
                     il_epochs=args.il_epochs, lr=args.lr, rl_lr=args.rl_lr, checkpoint_every=args.checkpoint_every,
                     env_workers=args.env_workers)
    require_non_negative(il_episodes=args.il_episodes, dagger_rounds=args.dagger_rounds,
                         dagger_episodes=args.dagger_episodes, rl_updates=args.rl_updates,
                         eval_episodes=args.eval_episodes, il_mix=args.il_mix, pg_coef=args.pg_coef, time_budget=args.time_budget_s)
    config = preset(args.preset, **overrides)
    if args.resume:
        from vln.config import TrainConfig

        config_path = Path(config.out) / "config.json"
        if not config_path.is_file():
            raise ValueError(f"--resume: no run in {config.out} to continue (start the run without --resume)")
        try:
            config.max_words = TrainConfig.load(config_path).max_words
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--resume: {config_path} is not a run's config ({exc})") from exc
    quiet_keras_import()
    from vln.train import run

    results = run(config, resume=args.resume, progress=not args.no_progress)
    if results:
        from vln.tables import format_table

        if results.get("split") == "train":  # an env without splits: one held-out set of seeds
            print(format_table({"held-out seeds": results}))
        else:
            print(format_table({"unseen": results, "seen": results["seen"]}))
    print(f"run folder: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
