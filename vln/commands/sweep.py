"""vln-sweep (scripts/sweep.py): trainings over a grid of TrainConfig fields and seeds, as Ray Tune trials."""

from __future__ import annotations

import argparse

DESCRIPTION = """Run many trainings: a preset, a grid over TrainConfig fields, and seeds, on Ray Tune.

  python scripts/sweep.py --preset tiny --seeds 3 --out sweeps/lr --set lr=1e-3,3e-4

Each trial trains into its own run folder under --out (evaluate.py, rollout.py and compare.py
work on it unchanged). --out/results.csv holds one row per trial; the table printed gives,
per config across its seeds, the mean and the IQM of SR and SPL with 95% bootstrap intervals.
Local Ray by default; --address joins a running cluster. SIGTERM or Ctrl-C stops the
trials at their next checkpoint; a stopped or killed sweep continues with --resume: finished
trials (those with eval.json) are kept, the others resume from their checkpoints.
"""


def parse_args(argv=None) -> argparse.Namespace:
    from vln.config import PRESETS

    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="the trials' configuration (default: default)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per config: 0 .. N-1 (default 3)")
    p.add_argument("--out", required=True, help="sweep folder: the trials' run folders and results.csv")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a TrainConfig field and its values (one value: a fixed override); repeat for a grid")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs each trial reserves (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="GPUs each trial reserves (default: 1 where the cluster has GPUs, else 0)")
    p.add_argument("--max-concurrent", type=int, default=0,
                   help="trials running at once at most (default 0: as many as the CPUs and GPUs hold)")
    p.add_argument("--address", help="a running Ray cluster's address, e.g. ray://head:10001 (default: local Ray)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out: finished trials are kept")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    from vln.sweep import SweepSpec, parse_grid, run_sweep, summary_table

    spec = SweepSpec(preset=args.preset, seeds=args.seeds, out=args.out, grid=parse_grid(args.set),
                     cpus=args.cpus_per_trial, gpus=args.gpus_per_trial, address=args.address,
                     max_concurrent=args.max_concurrent)
    rows = run_sweep(spec, resume=args.resume)
    print(summary_table(rows))
    print(f"results: {args.out}/results.csv")
    return 0
