"""vln-train (scripts/train.py): imitation, then REINFORCE, then evaluation, with flags generated from TrainConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """Train a VLN agent: imitation (behaviour cloning + DAgger), then REINFORCE, then evaluation.

With no flags this is the README's main job: a route follower on vln/FollowRoute-v0 (2-3 rooms)
by imitation of the in-view expert, then REINFORCE; --preset goto trains on vln/GoToObject-v0.
The backend is Keras's: set KERAS_BACKEND=jax (or tensorflow, the default) in the environment.
Every TrainConfig field is a flag; the defaults shown are those of --preset (and --out is
runs/<preset>), so `--preset route --help` shows the route preset's.
"""

# Flags the README has long used, kept beside the generated ones.
ALIASES = {"init_agent": ("--init",), "time_budget_s": ("--time-budget",)}


def parse_args(argv=None) -> argparse.Namespace:
    import dataclasses

    from vln.cli import add_dataclass_arguments
    from vln.config import PRESETS, TrainConfig, preset

    def add_preset(p: argparse.ArgumentParser) -> None:
        p.add_argument("--preset", default="default", choices=sorted(PRESETS),
                       help="named configuration to start from: its values are the defaults of the flags below "
                            "(default: default)")

    # Two stages: the preset first, then every field with that preset's values as defaults.
    first = argparse.ArgumentParser(add_help=False)
    add_preset(first)
    name = first.parse_known_args(argv)[0].preset
    defaults = {**dataclasses.asdict(preset(name)), "out": f"runs/{name}"}

    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset(p)
    add_dataclass_arguments(p, TrainConfig, defaults, aliases=ALIASES)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the flags ask for (ValueError, naming the flag, on a bad value)."""
    from vln.cli import dataclass_values
    from vln.config import TrainConfig
    from vln.cli import parse_env_kwargs

    values = dataclass_values(TrainConfig, args)
    values["env_kwargs"] = parse_env_kwargs(values["env_kwargs"])
    values["train_env_kwargs"] = parse_env_kwargs(values["train_env_kwargs"], "--train-env-kwargs")
    values["extra_env_kwargs"] = parse_env_kwargs(values["extra_env_kwargs"], "--extra-env-kwargs")
    return TrainConfig.from_dict(values)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    from vln.cli import quiet_keras_import

    config = config_from_args(args)
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


if __name__ == "__main__":  # python -m vln.commands.train (how a sweep starts its trials)
    import sys

    sys.exit(main())
