"""Tests for vln.teacher_forcing: teacher-forced accuracy on the expert's episodes, and its command."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from vln.environments import make_vector_env
from vln.teacher_forcing import expert_episodes, format_teacher_forced, teacher_forced

STOP = 3


class _Reader:
    """A stand-in agent whose logits are one-hot of ``choose(prev_actions)``."""

    def __init__(self, choose):
        self.config = SimpleNamespace(num_actions=4)
        self.vocab = SimpleNamespace(encode_batch=lambda missions, max_len=None: np.ones((len(missions), 4), np.int32))
        self.choose = choose

    def sequence_forward(self, batch):
        picks = np.minimum(self.choose(np.asarray(batch["prev_actions"])), 3)  # padding holds the "none" id
        return {"logits": np.eye(4, dtype=np.float32)[picks] * 20.0}


@pytest.fixture(scope="module")
def demos():
    env = make_vector_env("vln/FollowRoute-v0", 4, "unseen", {"num_rooms": [2, 2], "max_steps": 40}, imitation=True)
    try:
        return expert_episodes(env, 6, 7)
    finally:
        env.close()


def test_an_agent_that_copies_the_expert_scores_one(demos):
    # The expert's action at t is the previous action at t + 1; its last action is STOP.
    copier = _Reader(lambda prev: np.concatenate([prev[:, 1:], np.full((len(prev), 1), STOP)], axis=1))
    r = teacher_forced(copier, demos, max_words=4, batch_size=4)
    assert r["steps"] == sum(len(t) for t in demos)
    assert r["accuracy"] == 1.0 and r["loss"] < 1e-6
    assert r["forward"]["steps"] + r["turn"]["steps"] + r["stop"]["steps"] == r["steps"]
    assert r["stop"]["steps"] == len(demos)  # every expert episode ends with one STOP


def test_errors_are_counted_by_the_expert_action_and_the_choice(demos):
    walker = _Reader(lambda prev: np.zeros_like(prev))  # always forward
    r = teacher_forced(walker, demos, max_words=4)
    labels = np.concatenate([t.expert for t in demos])
    assert r["forward"]["accuracy"] == 1.0 and r["turn"]["accuracy"] == 0.0 and r["stop"]["accuracy"] == 0.0
    assert r["turn"]["chose_forward"] == int(np.isin(labels, (1, 2)).sum()) and r["turn"]["chose_turn"] == 0
    assert np.isclose(r["accuracy"], np.mean(labels == 0))
    assert "unseen" in format_teacher_forced({"unseen": r})
    with pytest.raises(ValueError, match="no episodes"):
        teacher_forced(walker, [], max_words=4)


def test_the_command_on_a_saved_agent(tmp_path, capsys, tiny_goto_run):
    from vln.commands.imitation_accuracy import main

    run = tiny_goto_run
    assert main(["--checkpoint", str(run), "--episodes", "3", "--splits", "unseen", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"unseen"} and 0.0 <= result["unseen"]["accuracy"] <= 1.0
    assert main(["--checkpoint", str(tmp_path / "missing"), "--episodes", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
