"""Fixtures shared by the tests of vln's commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def save_tiny_goto_run(folder: Path, max_steps: int) -> Path:
    """A run folder holding an untrained tiny GoToObject agent and the config.json the commands read."""
    import keras

    from agents import AgentConfig, VLNAgent
    from agents.vocabulary import Vocabulary
    from vln.collection import sample_missions
    from vln.environments import make_vector_env

    keras.utils.set_random_seed(0)
    vocab = Vocabulary.build(sample_missions(make_vector_env("vln/GoToObject-v0", 4), 16, 0))
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=16, text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    agent.save(folder / "agent.keras")
    (folder / "config.json").write_text(json.dumps({"env": "vln/GoToObject-v0", "env_kwargs": {"max_steps": max_steps},
                                                    "max_words": 16}))
    return folder


@pytest.fixture
def tiny_goto_run(tmp_path) -> Path:
    """``save_tiny_goto_run`` in ``tmp_path / "run"``, episodes of at most 6 steps."""
    return save_tiny_goto_run(tmp_path / "run", max_steps=6)


@pytest.fixture
def script_results():
    """``run(script, folder, **env)``: ``python -c script folder`` in a subprocess on the CPU with
    ``env`` added (a backend, XLA flags), and the JSON it printed after ``RESULTS ``."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]

    def run(script: str, folder: Path, **env: str) -> dict:
        env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu", **env)
        proc = subprocess.run([sys.executable, "-c", script, str(folder)], env=env, capture_output=True, text=True,
                              timeout=400, cwd=root)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
        assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.loads(lines[0][len("RESULTS "):])
    return run
