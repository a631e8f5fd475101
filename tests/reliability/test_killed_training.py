"""Killed training: SIGKILL ``scripts/train.py`` at exact points, ``--resume``, and compare.

The kills come from the test hook ``VLN_TEST_KILL_AT="point:n"`` (``vln.checkpoint.kill_point``):
the run SIGKILLs itself the n-th time it reaches the point, so every kill lands at the
same moment on every machine. Each chain kills one run several times in a row, resuming in
between; the finished run must log exactly the rows (phase, step) of a run never killed,
and its agent must load. ``tests/vln/test_train.py::test_resume_after_kill`` adds a kill
from outside at a moment the test does not choose.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from vln.checkpoint import KILL_ENV, STATE_MEMBER, read_state
from vln.config import preset

ROOT = Path(__file__).resolve().parents[2]
WORD_ENV = "examples.word_action_env:WordActionEnv"
# Imitation: 8 minibatches x 4 epochs = 32 (a row logged at the 25th); DAgger rounds of 10 and
# 12 minibatches; REINFORCE: 6 updates, a checkpoint every 2.
OPTIONS = dict(env=WORD_ENV, il_episodes=64, il_epochs=4.0, dagger_rounds=2, dagger_episodes=16, rl_updates=6,
               checkpoint_every=2, eval_episodes=0)
ARGS = ["--preset", "tiny", "--no-progress", "--env", WORD_ENV, "--il-episodes", "64", "--il-epochs", "4",
        "--dagger-rounds", "2", "--dagger-episodes", "16", "--rl-updates", "6", "--checkpoint-every", "2",
        "--eval-episodes", "0"]


def state_of(out: Path) -> dict | None:
    return read_state(out)


def rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def after_il_kill(out: Path) -> None:
    assert state_of(out) is None  # killed before the first checkpoint
    assert [r["phase"] for r in rows(out)] == ["il"]  # the row of minibatch 25


def after_dagger_kill(out: Path) -> None:
    state = state_of(out)
    assert (state["phase"], state["round"]) == ("dagger", 1)


def after_rl_kill(out: Path) -> None:
    state = state_of(out)
    assert (state["phase"], state["update"]) == ("rl", 2)
    assert [r["step"] for r in rows(out) if r["phase"] == "rl"] == ["1", "2", "3"]  # 3 is past the checkpoint


def after_write_kill(out: Path) -> None:
    # Killed with the next checkpoint (update 4) written beside the committed one: the old one stands.
    assert (out / "checkpoint" / ".agent.next.keras").exists()
    assert state_of(out)["update"] == 2


def after_commit_kill(out: Path) -> None:
    # Killed right after committing update 4: the readable copy still says 2; agent.keras decides.
    assert state_of(out)["update"] == 4
    assert '"update": 2' in (out / "checkpoint" / "state.json").read_text()


CHAINS = {
    "imitation-then-dagger": [("il-step:30", after_il_kill), ("dagger-step:15", after_dagger_kill)],
    "reinforce-then-checkpoint-writes": [("rl-update:3", after_rl_kill), ("checkpoint-write:1", after_write_kill),
                                         ("checkpoint-commit:1", after_commit_kill)],
}
KILL_POINTS = sum(len(chain) for chain in CHAINS.values())


def train(out: Path, resume: bool, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", **({KILL_ENV: kill} if kill else {}))
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), *ARGS, "--out", str(out)] + (["--resume"] if resume else [])
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def never_killed(tmp_path_factory) -> list[dict]:
    from vln.train import run

    out = tmp_path_factory.mktemp("never-killed") / "run"
    run(preset("tiny", out=str(out), **OPTIONS), progress=False)
    return rows(out)


def check_checkpoint_whole(out: Path) -> None:
    """Whatever the kill: agent.keras is a whole archive carrying its run state."""
    path = out / "checkpoint" / "agent.keras"
    if path.exists():
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            assert {"config.json", "model.weights.h5", STATE_MEMBER} <= set(zf.namelist())


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_killed_runs_resume_to_the_rows_of_a_run_never_killed(tmp_path, chain, never_killed):
    out = tmp_path / "run"
    for i, (point, check) in enumerate(CHAINS[chain]):
        done = train(out, resume=i > 0, kill=point)
        assert done.returncode == -signal.SIGKILL, f"{point} was never reached: {done.stderr[-2000:]}"
        check_checkpoint_whole(out)
        check(out)
    done = train(out, resume=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    got = rows(out)
    assert [(r["phase"], r["step"]) for r in got] == [(r["phase"], r["step"]) for r in never_killed]
    # Imitation restarted from scratch after its kill: the same data, the same frame counts.
    il = [r["train_frames"] for r in got if r["phase"] == "il"]
    assert il == [r["train_frames"] for r in never_killed if r["phase"] == "il"]
    assert state_of(out)["phase"] == "done"
    assert not list((out / "checkpoint").glob(".*.keras")), "temp files of killed saves left behind"
    from agents import load_agent

    for path in (out / "agent.keras", out / "checkpoint" / "agent.keras"):
        agent = load_agent(path)
        assert agent.config.num_actions == 4


# ----------------------------------------------------------------------------- stop signals
def stop_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stderr.strip().splitlines()[-1]


def test_stop_signals_checkpoint_at_the_next_safe_point_and_resume_to_the_same_rows(tmp_path, never_killed):
    """SIGTERM in behaviour cloning, then SIGINT (Ctrl-C) in REINFORCE, each sent by the run to
    itself at an exact point: a checkpoint, one line naming the resume command, 143 / 130."""
    out = tmp_path / "run"
    done = train(out, resume=False, kill="il-step:20:SIGTERM")  # minibatch 20 of 32
    line = stop_line(done)
    assert done.returncode == 143, done.stderr[-2000:]
    assert line.startswith("stopped by SIGTERM during behaviour cloning; checkpoint saved after behaviour cloning "
                           "minibatch 20; resume with: python ")
    assert line.endswith(f"--out {out} --resume")
    assert (state_of(out)["phase"], state_of(out)["minibatch"]) == ("il", 20)
    check_checkpoint_whole(out)
    done = train(out, resume=True, kill="rl-update:3:SIGINT")  # checkpoints come every 2 updates
    assert done.returncode == 130, done.stderr[-2000:]
    assert "during REINFORCE update 4; checkpoint saved after REINFORCE update 3; resume with:" in stop_line(done)
    assert state_of(out)["update"] == 3
    done = train(out, resume=True)
    assert done.returncode == 0, done.stderr[-2000:]
    got = rows(out)
    assert [(r["phase"], r["step"]) for r in got] == [(r["phase"], r["step"]) for r in never_killed]
    # Cloning went on in the same minibatch order, over the same frames.
    il = [(r["env_frames"], r["train_frames"]) for r in got if r["phase"] == "il"]
    assert il == [(r["env_frames"], r["train_frames"]) for r in never_killed if r["phase"] == "il"]
    assert not list(out.rglob(".*.tmp")) and not list((out / "checkpoint").glob(".*.keras"))


def test_sigterm_from_outside_stops_and_resumes_to_the_same_rows(tmp_path, never_killed):
    """A real SIGTERM, sent at a moment the test does not choose (once the first checkpoint is in)."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), *ARGS, "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (out / "checkpoint" / "state.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=240)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal landed")
    assert proc.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("stopped by SIGTERM during ")
    check_checkpoint_whole(out)
    done = train(out, resume=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [(r["phase"], r["step"]) for r in rows(out)] == [(r["phase"], r["step"]) for r in never_killed]


def test_a_stop_during_demonstrations_says_why_nothing_is_saved(tmp_path, monkeypatch):
    import vln.run_state
    from vln.preemption import Stopped
    from vln.train import run

    monkeypatch.setattr(vln.run_state, "requested", lambda: signal.SIGTERM)
    with pytest.raises(Stopped) as stopped:
        run(preset("tiny", out=str(tmp_path / "run"), **OPTIONS), progress=False)
    assert stopped.value.exit_code == 143
    assert stopped.value.summary == ("stopped by SIGTERM during demonstration collection; the demonstrations are "
                                     "collected again from their seeds on --resume; no checkpoint was written yet")
    assert state_of(tmp_path / "run") is None
