"""Sweeps on Ray Tune: the grid and its trials, the table's statistics, a real 2-seed sweep and its resume."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vln.stats import across_seeds
from vln.sweep import SweepSpec, parse_grid, summary_table, trial_command

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


def sweep(out: Path, *extra: str) -> subprocess.CompletedProcess:
    # Smaller than the tiny preset: the two trials share the machine. A relative --out from the
    # user's folder: the trials must land there, not in the folder Ray runs them in.
    cmd = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--preset", "tiny", "--seeds", "2", "--out", out.name,
           "--set", "il_episodes=16", "--set", "eval_episodes=4", *extra]
    return subprocess.run(cmd, cwd=out.parent, env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
                          capture_output=True, text=True, timeout=600)


def test_a_two_seed_sweep_on_local_ray_then_resume(tmp_path):
    pytest.importorskip("ray.tune")
    out = tmp_path / "sweep"
    done = sweep(out)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == ["il_episodes-16_eval_episodes-4_seed-0", "il_episodes-16_eval_episodes-4_seed-1"]
    assert all(0.0 <= float(r["success_rate"]) <= 1.0 for r in rows)
    table = [line for line in done.stdout.splitlines() if line.startswith("il_episodes=16,eval_episodes=4 ")]
    assert len(table) == 1 and table[0].split()[1] == "2"
    for r in rows:  # ordinary run folders
        assert {"config.json", "agent.keras", "eval.json", "metrics.csv"} <= {p.name for p in (out / r["trial"]).iterdir()}
    assert "already holds a sweep" in sweep(out).stderr  # not without --resume

    # One trial finished, one "killed" after training: --resume keeps the first and resumes the second.
    first, second = (out / r["trial"] for r in rows)
    kept = (first / "eval.json").stat().st_mtime_ns
    metrics = (second / "metrics.csv").read_text()
    (second / "eval.json").unlink()
    done = sweep(out, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (first / "eval.json").stat().st_mtime_ns == kept
    assert (second / "eval.json").exists()
    assert (second / "metrics.csv").read_text().splitlines()[: len(metrics.splitlines())] == metrics.splitlines()
