"""Sweeps on Ray Tune: the grid and its trials, the table's statistics, a real 2-seed sweep stopped by
SIGTERM and resumed, and the parent-death signal that keeps trials from outliving their worker."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vln.stats import across_seeds
from vln.sweep import SweepSpec, die_with_parent, parse_grid, summary_table, trial_command

ROOT = Path(__file__).resolve().parents[2]


def test_across_seeds_on_hand_made_numbers():
    s = across_seeds([0.0, 0.5, 0.6, 0.7, 1.0])
    assert s["n"] == 5 and s["mean"] == pytest.approx(0.56)
    assert s["iqm"] == pytest.approx(0.6)  # 5 seeds: the lowest and the highest are trimmed
    for kind in ("mean", "iqm"):
        low, high = s[f"{kind}_ci"]
        assert 0.0 <= low < s[kind] < high <= 1.0
    assert across_seeds([0.3, 0.3])["mean_ci"] == (0.3, 0.3)
    one = across_seeds([0.4, float("nan")])  # a metric the env cannot give is left out
    assert one["n"] == 1 and one["mean"] == 0.4 and one["mean_ci"] is None
    assert across_seeds([])["mean"] is None


def test_the_iqm_interval_is_scipys_percentile_bootstrap():
    from scipy import stats

    values = np.array([0.1, 0.2, 0.25, 0.4, 0.8, 0.9])
    res = stats.bootstrap((values,), lambda x, axis=-1: stats.trim_mean(x, 0.25, axis=axis), n_resamples=10_000,
                          method="percentile", rng=np.random.default_rng(0))
    assert across_seeds(values)["iqm_ci"] == (res.confidence_interval.low, res.confidence_interval.high)


def test_the_table_has_a_line_per_config():
    rows = [{"config": "lr=0.001", "success_rate": sr, "spl": sr / 2} for sr in (0.2, 0.4, 0.6)]
    rows += [{"config": "lr=0.0003", "success_rate": 0.5, "spl": ""}]
    lines = summary_table(rows).splitlines()
    assert lines[0].split()[:4] == ["config", "seeds", "SR", "mean"]
    assert lines[1].startswith("lr=0.001") and lines[1].split()[1:3] == ["3", "0.400"]
    assert lines[2].split()[1:3] == ["1", "0.500"] and lines[2].rstrip().endswith("-")  # no SPL


def test_the_grid_gives_one_trial_per_config_and_seed():
    grid = parse_grid(["lr=1e-3,3e-4", "rnn=gru", "bidirectional=true"])
    assert grid == {"lr": [0.001, 0.0003], "rnn": ["gru"], "bidirectional": [True]}
    spec = SweepSpec(preset="tiny", seeds=2, out="sweep", grid=grid)
    spec.check()
    names = [t["name"] for t in spec.trials()]
    assert names[:2] == ["lr-0.001_rnn-gru_bidirectional-True_seed-0", "lr-0.001_rnn-gru_bidirectional-True_seed-1"]
    assert len(names) == 4
    cmd = trial_command(spec, spec.trials()[3], resume=True)
    assert cmd[-8:] == ["--out", str(Path("sweep") / names[3]), "--lr", "0.0003", "--rnn", "gru", "--bidirectional",
                        "--resume"]
    assert cmd[cmd.index("--seed") + 1] == "1"


@pytest.mark.parametrize("item, message", [("lrr=1", "no field 'lrr'"), ("lr=fast", "'fast' is not a float"),
                                           ("lr", "FIELD=V1,V2"), ("env_kwargs={}", "int, float, str or bool"),
                                           ("rnn=transformer", "rnn")])
def test_bad_grids_are_one_line(item, message):
    with pytest.raises(ValueError, match=message):
        SweepSpec(preset="tiny", seeds=1, out="x", grid=parse_grid([item])).check()


def test_a_sweep_of_the_reserved_fields_is_refused():
    with pytest.raises(ValueError, match="sets seed for each trial itself"):
        SweepSpec(preset="tiny", seeds=1, out="x", grid=parse_grid(["seed=1,2"])).check()


# A sweep small enough to kill and resume in about a minute: the word env, no DAgger, and a
# checkpoint at every one of 30 REINFORCE updates, so a trial is stopped mid-run, checkpointed.
SETS = ["env=examples.word_action_env:WordActionEnv", "il_episodes=16", "eval_episodes=4", "dagger_rounds=0",
        "rl_updates=30", "checkpoint_every=1"]


def sweep_command(out: Path, *extra: str) -> list[str]:
    # A relative --out from the user's folder: the trials must land there, not in the folder
    # Ray runs them in. One trial at a time: the first finishes before the second starts.
    return [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--preset", "tiny", "--seeds", "2", "--out", out.name,
            "--max-concurrent", "1", *(a for item in SETS for a in ("--set", item)), *extra]


def sweep_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")


def sweep(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(out, *extra), cwd=out.parent, env=sweep_env(), capture_output=True, text=True,
                          timeout=300)


def training_processes(out: Path) -> list[str]:
    """The command lines of live training processes writing under ``out`` (from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "vln.commands.train" in args and any(a.startswith(str(out)) for a in args):
            found.append(" ".join(args))
    return found


def rows(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv") as f:
        return list(csv.DictReader(f))


def rl_checkpoint(folder: Path) -> dict | None:
    """The readable copy of the trial's checkpoint state once it is past a REINFORCE update."""
    import json

    try:
        state = json.loads((folder / "checkpoint" / "state.json").read_text())
    except (OSError, ValueError):  # not there yet, or being replaced
        return None
    return state if state.get("phase") == "rl" and state.get("update", 0) >= 1 else None


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="looks for surviving trials in /proc")
def test_a_sweep_stopped_by_sigterm_resumes_without_redoing_a_finished_trial(tmp_path):
    """A real stop: SIGTERM to the driver while the second trial trains. No training outlives it,
    and --resume keeps the finished trial as it was and continues the other from its checkpoint."""
    pytest.importorskip("ray.tune")
    out = tmp_path / "sweep"
    names = [t["name"] for t in SweepSpec(preset="tiny", seeds=2, out=str(out), grid=parse_grid(SETS)).trials()]
    first, second = (out / name for name in names)
    proc = subprocess.Popen(sweep_command(out), cwd=tmp_path, env=sweep_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while rl_checkpoint(second) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep ended before its 2nd trial checkpointed: " + proc.stderr.read()[-2000:]
        assert rl_checkpoint(second) is not None, "no REINFORCE checkpoint of the second trial in 240 s"
        assert (first / "eval.json").exists(), "the trials ran at once (--max-concurrent 1)"
        assert not (second / "eval.json").exists()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in stderr, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert proc.returncode == 143, stderr[-3000:]
    flags = " --out sweep --max-concurrent 1 " + " ".join(f"--set {item}" for item in SETS) + " --resume"
    assert line.startswith("stopped by SIGTERM during the sweep; 1 of 2 trials finished, the others stopped at their "
                           "last checkpoints; resume with: python ") and line.endswith(flags), line
    assert training_processes(out) == []  # the driver waited for its trial to exit
    # The trial was stopped by the driver's SIGTERM, checkpointed, at a REINFORCE update.
    log = (out / f".{names[1]}.log").read_text()
    assert log.count("stopped by SIGTERM during REINFORCE update") == 1, log[-2000:]
    stopped_at = json_file(second / "checkpoint" / "state.json")
    assert stopped_at["phase"] == "rl" and 1 <= stopped_at["update"] < 30
    assert not (out / ".stop").exists() and not list(out.glob(".*.running"))
    kept_files = (first / "eval.json", first / "metrics.csv", out / f".{names[0]}.log")
    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in kept_files}
    before = rows(second)

    done = sweep(out, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    # The finished trial was not run again: its files are untouched, its log has no new line.
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in kept_files} == finished
    # The stopped one continued from its checkpoint: the rows up to it are the very same rows
    # (a run from scratch would log them again, with other wall times), then the rest, once each.
    after = rows(second)
    assert after[:stopped_at["metrics_rows"]] == before[:stopped_at["metrics_rows"]]
    steps = [(r["phase"], int(r["step"])) for r in after]
    assert steps == [("il", 0)] + [("rl", k) for k in range(1, 31)]
    assert steps == [(r["phase"], int(r["step"])) for r in rows(first)]  # the rows of a trial never stopped
    assert (second / "eval.json").exists() and json_file(second / "checkpoint" / "state.json")["phase"] == "done"
    with open(out / "results.csv") as f:
        results = list(csv.DictReader(f))
    assert [r["trial"] for r in results] == names
    assert all(0.0 <= float(r["success_rate"]) <= 1.0 for r in results)
    table = [line for line in done.stdout.splitlines() if line.startswith(",".join(SETS) + " ")]
    assert len(table) == 1 and table[0].split()[1] == "2"
    assert training_processes(out) == []
    for folder in (first, second):  # ordinary run folders
        assert {"config.json", "agent.keras", "eval.json", "metrics.csv"} <= {p.name for p in folder.iterdir()}
    assert "already holds a sweep" in sweep(out).stderr  # not without --resume


def json_file(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def test_a_trial_gets_sigterm_when_the_thread_that_started_it_dies(tmp_path):
    """die_with_parent: a worker SIGKILLed (OOM, a crash) leaves no training behind; it gets
    SIGTERM, which a training turns into a checkpoint. Started from a thread, as Tune does."""
    if die_with_parent() is None:
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    child = ("import signal, sys, time; from pathlib import Path; "
             "signal.signal(signal.SIGTERM, lambda *a: (Path(sys.argv[1]).write_text('SIGTERM'), sys.exit(0))); "
             "Path(sys.argv[1] + '.up').touch(); time.sleep(60)")
    parent = ("import subprocess, sys, threading, time; from vln.sweep import die_with_parent; "
              f"t = threading.Thread(target=subprocess.run, args=([sys.executable, '-c', {child!r}, sys.argv[1]],), "
              "kwargs=dict(preexec_fn=die_with_parent())); t.start(); time.sleep(60)")
    got = tmp_path / "got"
    proc = subprocess.Popen([sys.executable, "-c", parent, str(got)], env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{got}.up").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"{got}.up").exists(), "the child never started"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while not got.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.exists() and got.read_text() == "SIGTERM"


def test_a_negative_max_concurrent_is_one_line():
    with pytest.raises(ValueError, match="--max-concurrent must be 0"):
        SweepSpec(preset="tiny", seeds=1, out="x", max_concurrent=-1).check()
