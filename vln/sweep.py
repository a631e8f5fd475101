"""Sweeps: many trainings (a grid over ``TrainConfig`` fields, times seeds) as Ray Tune trials.

``run_sweep(spec)`` runs each trial as an ordinary training (``scripts/train.py``, in its own
process) into its own run folder under ``spec.out``, so ``evaluate.py``, ``rollout.py`` and
``compare.py`` work on it unchanged. Ray Tune schedules the trials: on local Ray by default,
on a cluster with ``address``; each trial asks for ``cpus`` CPUs and ``gpus`` GPUs, so no more
run at once than the machine (or cluster) holds. A trial whose process dies is retried from
its own checkpoint (the training's ``--resume``). A finished trial is one whose run folder
has ``eval.json``: ``resume=True`` skips those and resumes the others.

The results are read back from the run folders, not from Ray, so a resumed sweep reports
every trial: ``results.csv`` holds one row per trial, and ``summary_table`` one line per
config across its seeds (mean and IQM, with 95% bootstrap intervals; ``vln.stats``).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import subprocess
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vln.checkpoint import atomic_write_text
from vln.cli import flag_name
from vln.config import TrainConfig, preset

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("success_rate", "spl")
# Set by the sweep itself for each trial: a grid over them would be ambiguous.
RESERVED = ("out", "seed")


@dataclasses.dataclass
class SweepSpec:
    """What a sweep runs: a preset, a grid over TrainConfig fields, and seeds 0 .. seeds - 1."""

    preset: str
    seeds: int
    out: str
    grid: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    cpus: float = 1.0
    gpus: float | None = None  # None: 1 per trial where the cluster has GPUs, else 0
    address: str | None = None
    max_failures: int = 1  # retries of a trial whose process died, each from its checkpoint
    workdir: str = ""  # the folder trials train in (custom envs import from it); "": the driver's

    def check(self) -> None:
        """ValueError naming the first bad part (a field, a value, a count)."""
        if self.seeds <= 0:
            raise ValueError(f"--seeds must be positive, got {self.seeds}")
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        for name, values in self.grid.items():
            if name in RESERVED:
                raise ValueError(f"--set {name}: the sweep sets {name} for each trial itself")
            if name not in fields:
                raise ValueError(f"--set {name}: TrainConfig has no field {name!r}")
            if not values:
                raise ValueError(f"--set {name}: no values")
        for overrides, _ in self.configs():  # every config must be a valid TrainConfig
            preset(self.preset, **overrides).check()

    def configs(self) -> list[tuple[dict[str, Any], str]]:
        """(field values, config name) for each point of the grid, in order."""
        names = list(self.grid)
        points = [dict(zip(names, values)) for values in itertools.product(*(self.grid[n] for n in names))]
        return [(p, ",".join(f"{k}={v}" for k, v in p.items()) or self.preset) for p in points]

    def trials(self) -> list[dict[str, Any]]:
        """One per config and seed: its name (the run folder's), config, seed and overrides."""
        out = []
        for overrides, config in self.configs():
            for seed in range(self.seeds):
                folder = "_".join([*(f"{k}-{v}" for k, v in overrides.items()), f"seed-{seed}"])
                out.append({"name": folder, "config": config, "seed": seed, "overrides": overrides})
        return out


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["lr=1e-3,3e-4", "rnn=gru"]`` -> ``{"lr": [0.001, 0.0003], "rnn": ["gru"]}``, each value
    of its field's type (ValueError naming the item on a bad one)."""
    hints = typing.get_type_hints(TrainConfig)
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name:
            raise ValueError(f"--set {item!r}: write FIELD=V1,V2,...")
        if name not in hints:
            raise ValueError(f"--set {name}: TrainConfig has no field {name!r}")
        hint = hints[name]
        kind = type(typing.get_args(hint)[0]) if typing.get_origin(hint) is typing.Literal else hint
        if kind not in (int, float, str, bool):
            raise ValueError(f"--set {name}: a sweep takes int, float, str or bool fields, not {hint}")
        grid[name] = [_value(kind, v.strip(), name) for v in text.split(",")]
    return grid


def _value(kind: type, text: str, name: str) -> Any:
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {name}: {text!r} is not true or false")
        return text.lower() in ("true", "1")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"--set {name}: {text!r} is not a {kind.__name__}") from None


def trial_command(spec: SweepSpec, trial: dict[str, Any], resume: bool) -> list[str]:
    """The training command of one trial: the preset, its grid values, its seed and folder."""
    # The module, not scripts/train.py, so that an installed kit (no scripts/ folder) sweeps too.
    cmd = [sys.executable, "-m", "vln.commands.train", "--preset", spec.preset, "--no-progress",
           "--seed", str(trial["seed"]), "--out", str(Path(spec.out) / trial["name"])]
    for name, value in trial["overrides"].items():
        if isinstance(value, bool):
            cmd.append(flag_name(name) if value else "--no-" + flag_name(name)[2:])
        else:
            cmd += [flag_name(name), str(value)]
    return cmd + (["--resume"] if resume else [])


def run_trial(spec: SweepSpec, trial: dict[str, Any]) -> dict[str, Any]:
    """Train one trial to its eval.json: skipped when finished, ``--resume`` when it has a checkpoint."""
    folder = Path(spec.out) / trial["name"]
    if not (folder / "eval.json").exists():
        started = (folder / "config.json").exists()
        with open(Path(spec.out) / f".{trial['name']}.log", "a") as log:
            # Ray runs a trial in a folder of its own: train in the sweep's working folder, and
            # find this checkout's packages first (an installed kit finds itself anyway).
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
            done = subprocess.run(trial_command(spec, trial, resume=started), cwd=spec.workdir or None, stdout=log,
                                  stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=path))
        if done.returncode != 0:  # Ray retries it (max_failures), from its checkpoint
            raise RuntimeError(f"trial {trial['name']} exited with {done.returncode}; see {log.name}")
    return trial_result(spec.out, trial)


def trial_result(out: str | Path, trial: dict[str, Any]) -> dict[str, Any]:
    """One row of results.csv, from the trial's eval.json (metrics empty where it has none)."""
    import json

    path = Path(out) / trial["name"] / "eval.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    row = {"trial": trial["name"], "config": trial["config"], "seed": trial["seed"], **trial["overrides"]}
    row.update({m: "" if results.get(m) is None else results[m] for m in METRICS})
    return row


def run_sweep(spec: SweepSpec, resume: bool = False) -> list[dict[str, Any]]:
    """Run the sweep's unfinished trials on Ray Tune; write and return results.csv's rows."""
    spec.check()
    # Trials run where Ray puts them: absolute paths keep a relative --out where the user meant it.
    spec = dataclasses.replace(spec, out=str(Path(spec.out).resolve()), workdir=spec.workdir or os.getcwd())
    out = Path(spec.out)
    if not resume and (out / "results.csv").exists():
        raise ValueError(f"{out} already holds a sweep: pass --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    trials = spec.trials()
    todo = [t for t in trials if not (out / t["name"] / "eval.json").exists()]
    if todo:
        _tune(spec, todo)
    rows = [trial_result(out, t) for t in trials]
    write_results(out / "results.csv", rows)
    return rows


def _tune(spec: SweepSpec, trials: list[dict[str, Any]]) -> None:
    import logging

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no progress boxes around the table printed after
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise ValueError("a sweep needs Ray Tune: pip install 'ray[tune]'") from exc

    ray.init(address=spec.address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             logging_level=logging.WARNING)
    try:
        gpus = spec.gpus if spec.gpus is not None else (1 if ray.cluster_resources().get("GPU", 0) else 0)
        by_name = {t["name"]: t for t in trials}

        def trainable(params: dict[str, Any]) -> dict[str, Any]:
            row = run_trial(spec, by_name[params["trial"]])
            return {m: float(row[m]) if row[m] != "" else float("nan") for m in METRICS}

        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": spec.cpus, "gpu": gpus}),
            param_space={"trial": tune.grid_search(list(by_name))},
            run_config=tune.RunConfig(storage_path=str(Path(spec.out).resolve() / ".tune"), name="sweep", verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=spec.max_failures)),
        )
        grid = tuner.fit()
        failed = [r for r in grid if r.error is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(trials)} trials failed: {failed[0].error}")
    finally:
        ray.shutdown()


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    lines: list[str] = []

    class _Lines:
        def write(self, text: str) -> None:
            lines.append(text)

    writer = csv.DictWriter(_Lines(), fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, "".join(lines))


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per config: seeds, then per metric the mean and the IQM, each with its 95% interval."""
    from vln.stats import across_seeds

    configs = list(dict.fromkeys(r["config"] for r in rows))
    width = max([len(c) for c in configs] + [6])
    head = f"{'config':<{width}} {'seeds':>5}" + "".join(
        f"  {label + ' ' + kind:<24}" for label in ("SR", "SPL") for kind in ("mean", "IQM"))
    lines = [head]
    for config in configs:
        cells = []
        values = {m: [float(r[m]) for r in rows if r["config"] == config and r[m] != ""] for m in METRICS}
        for m in METRICS:
            s = across_seeds(values[m])
            for kind in ("mean", "iqm"):
                ci = s[f"{kind}_ci"]
                text = "-" if s[kind] is None else f"{s[kind]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
                cells.append(f"  {text:<24}")
        lines.append(f"{config:<{width}} {len(values['success_rate']):>5}" + "".join(cells))
    return "\n".join(lines)
