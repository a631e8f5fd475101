"""How well an agent imitates: its teacher-forced predictions on the expert's own episodes.

Greedy success mixes two things: how well the policy fits the expert where the expert goes,
and how it copes once its own mistakes take it elsewhere. This measures the first alone.
The same figure on training layouts and on unseen ones tells underfitting (both low) from
overfitting (training high, unseen low); the errors by the expert's action say which
decisions it gets wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vln.batching import minibatch_arrays
from vln.collection import Trajectory, run_episodes
from vln.objectives import imitation_samples
from vln.policies import ExpertPolicy

ACTION_KINDS = {"forward": (0,), "turn": (1, 2), "stop": (3,)}  # the built-in envs' action ids


def expert_episodes(env, episodes: int, seed: int) -> list[Trajectory]:
    """``episodes`` noise-free expert episodes of ``env`` (a vector env giving expert actions)."""
    return run_episodes(env, ExpertPolicy(), episodes, seed)


def teacher_forced(agent, trajectories: list[Trajectory], max_words: int | None, batch_size: int = 32) -> dict[str, Any]:
    """Per-step accuracy and loss of ``agent`` fed the expert's frames and previous actions.

    Returns ``accuracy`` and ``loss`` (mean negative log-likelihood of the expert's action)
    over all steps, ``steps``, and for each kind of expert action (forward, turn, stop)
    its accuracy, its count and what the agent chose instead (``chose_<action kind>``:
    counts of its wrong choices).
    """
    if not trajectories:
        raise ValueError("no episodes to measure")
    correct, nll, expert, chosen = [], [], [], []
    none = agent.config.num_actions  # the "no previous action" id
    if not max_words:  # a bare agent file: as long as training would make it (padding is masked)
        from vln.train import default_max_words

        max_words = default_max_words([t.mission for t in trajectories])
    for start in range(0, len(trajectories), batch_size):
        batch = trajectories[start : start + batch_size]
        # The training minibatch's padded arrays, as one chunk as long as the longest episode.
        arrays = minibatch_arrays(agent, imitation_samples(batch), chunk=max(len(t) for t in batch), max_words=max_words)
        logits = agent.sequence_forward(arrays)["logits"]
        for i, t in enumerate(batch):
            z = logits[i, : len(t)].astype(np.float64)
            log_p = z - z.max(-1, keepdims=True)
            log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
            labels = t.expert.astype(np.int64)
            guess = z.argmax(-1)
            correct.append(guess == labels)
            nll.append(-log_p[np.arange(len(t)), labels])
            expert.append(labels)
            chosen.append(guess)
    correct, nll = np.concatenate(correct), np.concatenate(nll)
    expert, chosen = np.concatenate(expert), np.concatenate(chosen)
    kind_of = np.full(none + 1, "", object)
    for kind, ids in ACTION_KINDS.items():
        kind_of[list(ids)] = kind
    out: dict[str, Any] = {"accuracy": float(correct.mean()), "loss": float(nll.mean()), "steps": int(len(correct))}
    for kind, ids in ACTION_KINDS.items():
        sel = np.isin(expert, ids)
        row: dict[str, Any] = {"accuracy": float(correct[sel].mean()) if sel.any() else float("nan"),
                               "steps": int(sel.sum())}
        wrong = chosen[sel & ~correct]
        for other in ACTION_KINDS:
            row[f"chose_{other}"] = int((kind_of[wrong] == other).sum())
        out[kind] = row
    return out


def format_teacher_forced(results: dict[str, dict[str, Any]]) -> str:
    """A table: one row per split, the overall figures and each action kind's accuracy and errors."""
    lines = ["split     steps  accuracy  loss   | forward        turn           stop           | wrong turns: chose forward / other turn / stop"]
    for split, r in results.items():
        kinds = "  ".join(f"{r[k]['accuracy']:.3f} ({r[k]['steps']:>4})" for k in ACTION_KINDS)
        t = r["turn"]
        lines.append(f"{split:<8} {r['steps']:>6}  {r['accuracy']:.3f}     {r['loss']:.3f}  | {kinds} | "
                     f"{t['chose_forward']} / {t['chose_turn']} / {t['chose_stop']}")
    return "\n".join(lines)
