"""Numerical faults: a NaN or Inf loss stops training at once, names the phase and step,
and leaves the last good checkpoint on disk; gradient clipping is on by default."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vln.config import PRESETS, TrainConfig, preset
from vln.objectives import imitation_samples, objective
from vln.optimiser import NonFiniteLoss, fit

ROOT = Path(__file__).resolve().parents[2]
WORD_ENV = "examples.word_action_env:WordActionEnv"


@pytest.fixture(scope="module")
def demos():
    from vln.collection import run_episodes
    from vln.policies import ExpertPolicy
    from vln.environments import make_vector_env

    return run_episodes(make_vector_env(WORD_ENV, 4), ExpertPolicy(), 8, seed=0)


def tiny_agent(demos):
    from agents import AgentConfig, VLNAgent
    from agents.vocabulary import Vocabulary

    vocab = Vocabulary.build([t.mission for t in demos])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=8, text_hidden=8,
                                 conv_filters=(4, 4, 4)), vocab)
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0))
    return agent


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_loss_stops_at_its_minibatch(demos, bad):
    agent = tiny_agent(demos)
    samples = imitation_samples(demos)
    for s in samples:
        s.weights = np.full_like(s.weights, bad)
    seen = []
    with pytest.raises(NonFiniteLoss, match="the loss is") as err:
        fit(agent, samples, epochs=2.0, batch_size=4, chunk=2, max_words=4, rng=np.random.default_rng(0),
                      on_step=lambda stats, frames: seen.append(stats))
    assert err.value.update == 1 and seen == []  # stopped at the first minibatch, nothing reported as trained


def test_exploding_reinforce_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A learning rate of 1e30 blows REINFORCE up: the run stops naming the update, and the
    checkpoint on disk is the last one written before it, with finite weights."""
    import vln.run_state
    import vln.train
    from agents import load_agent
    from vln.checkpoint import read_state

    committed = []

    def write_and_remember(agent, folder, state):
        write_checkpoint(agent, folder, state)
        committed.append((state["phase"], state["update"], hashlib.sha256((Path(folder) / "agent.keras").read_bytes()).hexdigest()))

    write_checkpoint = vln.run_state.write_checkpoint
    monkeypatch.setattr(vln.run_state, "write_checkpoint", write_and_remember)
    out = tmp_path / "run"
    config = preset("tiny", env=WORD_ENV, out=str(out), il_episodes=16, dagger_rounds=0, rl_updates=20, checkpoint_every=1,
                    eval_episodes=0, rl_lr=1e30)
    with pytest.raises(NonFiniteLoss, match=r"in REINFORCE update \d+, minibatch 1; training stopped, .* keeps the last good"):
        vln.train.run(config, progress=False)
    phase, update, digest = committed[-1]
    assert phase == "rl" and update < 20
    path = out / "checkpoint" / "agent.keras"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert read_state(out)["update"] == update
    assert all(np.isfinite(w).all() for w in load_agent(path).get_weights())
    assert not (out / "agent.keras").exists()  # no final agent from broken weights


def test_broken_weights_are_never_checkpointed(tmp_path, demos):
    from vln.run_state import RunState as Run

    agent = tiny_agent(demos)
    R = Run(TrainConfig(out=str(tmp_path / "run")), progress=False)
    R.save_checkpoint(agent)
    before = (R.ckpt_dir / "agent.keras").read_bytes()
    weights = agent.get_weights()
    weights[0] = np.full_like(weights[0], np.nan)
    agent.set_weights(weights)
    with pytest.raises(NonFiniteLoss, match="NaN or Inf.*keeps the last good checkpoint"):
        R.save_checkpoint(agent)
    assert (R.ckpt_dir / "agent.keras").read_bytes() == before


def test_cli_reports_a_nan_loss_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--preset", "tiny", "--env", WORD_ENV,
                           "--lr", "1e30", "--il-epochs", "4", "--no-progress", "--out", str(tmp_path / "run")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]] and "Traceback" not in done.stderr, done.stderr
    assert "in behaviour cloning, minibatch" in errors[0] and "no checkpoint was written yet" in errors[0]
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_gradient_clipping_is_on_by_default(demos):
    assert TrainConfig().clipnorm == 1.0
    assert all(preset(name).clipnorm > 0 for name in PRESETS)
    agent = tiny_agent(demos)  # compile_for_training(objective()) with its defaults
    assert agent.optimizer.global_clipnorm == 1.0
