"""scripts/bench.py --quick: one command, every group, a table and bench.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["hardware"]["backend"] and data["hardware"]["cpu_cores"] >= 1
    names = [r["name"] for r in data["results"]]
    for part in ("GoToObject-v0 native", "FollowRoute-v0 native", "MiniGrid", "policy step", "imitation training",
                 "imitation pipeline",
                 "REINFORCE end to end"):
        assert any(part in n for n in names), (part, names)
    assert all(r["value"] > 0 for r in data["results"])
    # The table is printed last, labelled with the backend and hardware.
    assert data["hardware"]["label"] in proc.stdout.splitlines()[-2 - len(names)]


def test_bench_device_quick(tmp_path):
    """``--only device --quick`` on JAX's CPU backend: the functional env beside the CPU vector env."""
    out = tmp_path / "bench.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--only", "device", "--quick", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]
    assert [r["batch"] for r in rows] == [256, 1024]
    assert all("FollowRoute-jax-v0 step + render" in r["name"] and r["value"] > 0 and r["anchor_frames_per_s"] > 0
               and "x the CPU vector env" in r["vs_anchor"] for r in rows)
