"""scripts/evaluate.py and scripts/rollout.py as a user runs them: outputs, and one-line errors on bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
METRICS = {"success_rate", "spl", "navigation_error", "oracle_success_rate", "ndtw", "sdtw", "path_length", "episodes"}


def run_script(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_evaluate_expert_writes_json_and_csv(tmp_path):
    out = tmp_path / "results" / "expert.json"
    done = run_script("evaluate.py", "--policy", "expert", "--env", "vln/FollowRoute-v0", "--episodes", "5",
                      "--num-envs", "3", "--seed", "100", "--split", "seen", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "SR" in done.stdout and "expert/seen" in done.stdout
    data = json.loads(out.read_text())
    assert set(data) >= METRICS
    assert data["success_rate"] == 1.0 and data["episodes"] == 5 and data["split"] == "seen"
    with open(tmp_path / "results" / "expert_episodes.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [100, 101, 102, 103, 104]
    assert set(rows[0]) >= {"seed", "mission", "success", "steps", "spl", "ndtw", "sdtw", "navigation_error"}
    assert all(r["success"] == "1" and r["mission"] for r in rows)
    # The failure breakdown: printed, in the JSON, and each row's outcome and route progress.
    assert "Route progress" in done.stdout and data["breakdown"]["failures"]["episodes"] == 0
    assert all(r["outcome"] == "success" and r["doors_passed"] == r["route_doors"] and int(r["num_rooms"]) >= 2
               for r in rows)


def test_rollout_random_writes_one_video_per_episode(tmp_path):
    done = run_script("rollout.py", "--policy", "random", "--episodes", "2", "--video-dir", str(tmp_path / "v"),
                      "--env-kwargs", '{"max_steps": 8}')
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["random-000-seed1000000.mp4", "random-001-seed1000001.mp4"]


def _zip(path: Path, class_name: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": class_name, "registered_name": f"vln>{class_name}"}))
    return path


@pytest.mark.parametrize("script", ["evaluate.py", "rollout.py"])
@pytest.mark.parametrize("case", ["missing-checkpoint", "corrupt-checkpoint", "not-an-agent", "unknown-env", "unwritable-out"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, script, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"\x00not a zip at all")
    out_flag = ["--out", str(tmp_path / "ok.json")] if script == "evaluate.py" else ["--video-dir", str(tmp_path / "v")]
    args = {
        "missing-checkpoint": ["--checkpoint", str(tmp_path / "nope" / "agent.keras")],
        "corrupt-checkpoint": ["--checkpoint", str(garbage)],
        "not-an-agent": ["--checkpoint", str(_zip(tmp_path / "other.keras", "Sequential"))],
        "unknown-env": ["--policy", "expert", "--env", "vln/NoSuchEnv-v0"],
        "unwritable-out": ["--policy", "expert"],
    }[case]
    if case == "unwritable-out":
        out_flag = ["--out", str(blocker / "eval.json")] if script == "evaluate.py" else ["--video-dir", str(blocker / "v")]
    done = run_script(script, *args, *out_flag, "--episodes", "2")
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in done.stderr
    expected = {"missing-checkpoint": "not found", "corrupt-checkpoint": "corrupt", "not-an-agent": "VLN agent",
                "unknown-env": "NoSuchEnv", "unwritable-out": "cannot write"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "ok.json").exists()


def test_agent_file_without_weights_is_one_line_and_exit_2(tmp_path):
    """Gets as far as Keras (slow: TensorFlow starts), whose log lines must not leak to stderr."""
    broken = _zip(tmp_path / "agent.keras", "VLNAgent")
    done = run_script("evaluate.py", "--checkpoint", str(broken), "--episodes", "2")
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(broken) in lines[0], done.stderr


def test_rollout_and_evaluate_a_saved_agent(tmp_path, tiny_goto_run):
    """A run folder (agent.keras + config.json): the scripts take its env and instruction length."""
    run = tiny_goto_run
    done = run_script("rollout.py", "--checkpoint", str(run), "--episodes", "1", "--video-dir", str(tmp_path / "v"))
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "v").iterdir()] == ["agent-000-seed1000000.mp4"]
    assert "agent/unseen" in done.stdout
