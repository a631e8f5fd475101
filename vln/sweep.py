"""Sweeps: many trainings (a grid over ``TrainConfig`` fields, times seeds) as Ray Tune trials.

``run_sweep(spec)`` runs each trial as an ordinary training (``python -m vln.commands.train``,
in its own process) into its own run folder under ``spec.out``, so ``evaluate.py``, ``rollout.py`` and
``compare.py`` work on it unchanged. Ray Tune schedules the trials: on local Ray by default,
on a cluster with ``address``; each trial asks for ``cpus`` CPUs and ``gpus`` GPUs, so no more
run at once than the machine (or cluster) holds. A trial whose process dies is retried from
its own checkpoint (the training's ``--resume``). A finished trial is one whose run folder
has ``eval.json``: ``resume=True`` skips those and resumes the others.

Stopping the driver stops its trials. On SIGTERM or SIGINT the driver writes ``.stop`` in
the sweep folder (which every node shares); each trial's worker then sends its training
SIGTERM, which checkpoints and exits 143 (``vln.preemption``). The driver waits for them
(``.<trial>.running`` gone), shuts Ray down and raises ``Stopped`` (one line naming the
``--resume`` command). A SIGKILLed driver cannot do that: Ray then ends the job's workers,
which end their trainings (a crashed worker's gets SIGTERM: ``die_with_parent``); the last
checkpoints stand.

The results are read back from the run folders, not from Ray, so a resumed sweep reports
every trial: ``results.csv`` holds one row per trial, and ``summary_table`` one line per
config across its seeds (mean and IQM, with 95% bootstrap intervals; ``vln.stats``).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vln.checkpoint import atomic_write_text
from vln.cli import flag_name
from vln.config import TrainConfig, preset
from vln.preemption import SIGNALS, Stopped

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("success_rate", "spl")
# Set by the sweep itself for each trial: a grid over them would be ambiguous.
RESERVED = ("out", "seed")
STOP_FILE = ".stop"  # in the sweep folder: the driver asks the trials to stop
STOP_WAIT_S = 120.0  # how long a stopped driver waits for its trials to checkpoint and exit


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
    max_concurrent: int = 0  # trials running at once at most; 0: as many as the resources hold
    workdir: str = ""  # the folder trials train in (custom envs import from it); "": the driver's

    def check(self) -> None:
        """ValueError naming the first bad part (a field, a value, a count)."""
        if self.seeds <= 0:
            raise ValueError(f"--seeds must be positive, got {self.seeds}")
        if self.max_concurrent < 0:
            raise ValueError(f"--max-concurrent must be 0 (no limit) or more, got {self.max_concurrent}")
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
    """Train one trial to its eval.json: skipped when finished, ``--resume`` when it has a checkpoint.

    While it trains, ``.<trial>.running`` (host and process id) says so, and a ``.stop`` file in
    the sweep folder (the driver's, on SIGTERM / SIGINT) sends the training SIGTERM.
    """
    import socket

    out = Path(spec.out)
    folder = out / trial["name"]
    if not (folder / "eval.json").exists():
        if (out / STOP_FILE).exists():  # scheduled while the driver was stopping
            raise RuntimeError(f"trial {trial['name']} not started: the sweep is stopping")
        started = (folder / "config.json").exists()
        running = out / f".{trial['name']}.running"
        with open(out / f".{trial['name']}.log", "a") as log:
            # Ray runs a trial in a folder of its own: train in the sweep's working folder, and
            # find this checkout's packages first (an installed kit finds itself anyway).
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
            proc = subprocess.Popen(trial_command(spec, trial, resume=started), cwd=spec.workdir or None, stdout=log,
                                    stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=path),
                                    preexec_fn=die_with_parent())
            signalled = False
            try:
                atomic_write_text(running, f"{socket.gethostname()} {proc.pid}\n")
                while proc.poll() is None:
                    if not signalled and (out / STOP_FILE).exists():
                        proc.send_signal(signal.SIGTERM)  # once: a second would end it unsaved
                        signalled = True
                    time.sleep(0.25)
            finally:
                if proc.poll() is None:  # this thread is leaving on an error: stop it saved, not orphaned
                    if not signalled:
                        proc.send_signal(signal.SIGTERM)
                    proc.wait()
                running.unlink(missing_ok=True)
        if proc.returncode != 0:  # Ray retries it (max_failures), from its checkpoint
            raise RuntimeError(f"trial {trial['name']} exited with {proc.returncode}; see {log.name}")
    return trial_result(spec.out, trial)


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` by which the child gets ``signum`` when the thread that started it dies.

    Why this and not a process group the driver kills: the driver does not start the trials,
    Ray's workers do (on other machines, on a cluster), and a SIGKILLed driver kills nothing.
    Ray ends a job's workers when its driver dies, and a worker that exits in order SIGKILLs
    its children itself; one that crashes (OOM, SIGKILL) does not: then the kernel sends its
    training ``signum``. The signal is tied to the thread that forked, which waits on the child
    for its whole life. SIGTERM, not SIGKILL: the training checkpoints and exits 143.
    None where Linux's prctl is not there.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        # Between fork and exec: no imports, no locks. The worker's threads may block signals,
        # and the mask survives exec.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        prctl(1, int(signum), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took hold
            os._exit(128 + int(signum))

    return set_death_signal


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
        (out / STOP_FILE).unlink(missing_ok=True)  # left by a driver killed while stopping
        for stale in out.glob(".*.running"):  # of trials whose worker died with them
            stale.unlink()
        try:
            _tune(spec, todo)
        except _Interrupted as exc:
            finished = sum((out / t["name"] / "eval.json").exists() for t in trials)
            kept = (f"{finished} of {len(trials)} trials finished, the others stopped at their last checkpoints"
                    if finished < len(trials) else f"all {finished} trials finished")
            if exc.left:
                kept += f" (still running after {STOP_WAIT_S:.0f} s: {', '.join(exc.left)})"
            raise Stopped(exc.signum, "the sweep", kept, str(out)) from None
        finally:
            (out / STOP_FILE).unlink(missing_ok=True)  # Ray is down: no trial is left to read it
    rows = [trial_result(out, t) for t in trials]
    write_results(out / "results.csv", rows)
    return rows


class _Interrupted(BaseException):
    """SIGTERM / SIGINT reached the driver, which stopped the trials (``left``: those it gave
    up waiting for). A BaseException: Tune's loop must not catch it."""

    def __init__(self, signum: int, left: list[str]) -> None:
        self.signum, self.left = signum, left
        super().__init__(signal.Signals(signum).name)


class _StopTrialsOnSignals:
    """Inside: SIGTERM or SIGINT stops the trials (``_stop_trials``) right in the handler, then
    raises ``_Interrupted`` to leave Tune's loop; a second signal ends the driver at once, as
    ``vln.preemption`` does for a training. After the block, ``check()`` raises it again: a
    raise inside Ray's compiled code comes out as another error (SystemError)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.signum: int | None = None
        self.left: list[str] = []

    def _handler(self, signum: int, frame) -> None:
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        self.left = _stop_trials(self.out)
        self.check()

    def check(self) -> None:
        if self.signum is not None:
            raise _Interrupted(self.signum, self.left)

    def __enter__(self) -> _StopTrialsOnSignals:
        import threading

        self.previous = {}
        if threading.current_thread() is threading.main_thread():  # else Python cannot set handlers
            self.previous = {s: signal.getsignal(s) for s in SIGNALS}
            for s in SIGNALS:
                signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> bool:
        for s, old in self.previous.items():
            signal.signal(s, old)
        return False


def _stop_trials(out: Path) -> list[str]:
    """Ask the running trials to stop (``.stop``), and wait up to STOP_WAIT_S for them to
    checkpoint and exit; the names of those still running then.

    A marker whose process is gone from this machine (its worker crashed) is not waited for.
    """
    import socket

    atomic_write_text(out / STOP_FILE, "stop\n")
    host = socket.gethostname()
    deadline = time.monotonic() + STOP_WAIT_S
    while True:
        left = []
        for marker in out.glob(".*.running"):
            try:
                where, pid = marker.read_text().split()
            except (OSError, ValueError):  # removed meanwhile
                continue
            if where != host or not Path("/proc").is_dir() or Path(f"/proc/{pid}").exists():
                left.append(marker.name[1:-len(".running")])
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _tune(spec: SweepSpec, trials: list[dict[str, Any]]) -> None:
    import logging

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no progress boxes around the table printed after
    # SIGINT is the driver's (_StopTrialsOnSignals): Tune's own handler would stop scheduling
    # but leave the running trials to a clean-up of up to 600 s.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise ValueError("a sweep needs Ray Tune: pip install 'ray[tune]'") from exc

    try:
        ray.init(address=spec.address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 logging_level=logging.WARNING)
        gpus = spec.gpus if spec.gpus is not None else (1 if ray.cluster_resources().get("GPU", 0) else 0)
        by_name = {t["name"]: t for t in trials}

        def trainable(params: dict[str, Any]) -> dict[str, Any]:
            row = run_trial(spec, by_name[params["trial"]])
            return {m: float(row[m]) if row[m] != "" else float("nan") for m in METRICS}

        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": spec.cpus, "gpu": gpus}),
            param_space={"trial": tune.grid_search(list(by_name))},
            tune_config=tune.TuneConfig(max_concurrent_trials=spec.max_concurrent or None),
            run_config=tune.RunConfig(storage_path=str(Path(spec.out).resolve() / ".tune"), name="sweep", verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=spec.max_failures)),
        )
        # After ray.init, which puts a SIGTERM handler of its own (a stack dump, then exit). The
        # trials stop before ray.shutdown: a worker that exits SIGKILLs its training, unsaved.
        with _StopTrialsOnSignals(Path(spec.out)) as stop:
            try:
                grid = tuner.fit()
            except BaseException:
                stop.check()  # whatever the interruption came out as
                raise
            stop.check()  # in case Tune swallowed it and ended with the trials stopped
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
