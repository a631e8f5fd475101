"""Padded, chunked training batches from trajectories, and the loop that trains on them.

Imitation and REINFORCE share one weighted cross-entropy step: each step of a sample has
a target action, a weight (1 on expert labels for imitation, the advantage for
REINFORCE) and optionally a return for the value head. Episodes longer than ``chunk``
are trained by truncated BPTT: chunk after chunk, the recurrent state carried across.
Every batch has the same shape (batch_size, chunk), so the compiled step never retraces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from vln.collect import Trajectory

BUCKET_BATCHES = 32  # minibatches per length-sorting window


class NonFiniteLoss(FloatingPointError):
    """A training step gave a NaN or infinite loss; ``update`` is its minibatch (1-based)."""

    update: int = 0


@dataclass
class Sample:
    """A trajectory with its per-step training targets."""

    traj: Trajectory
    targets: np.ndarray  # (T,) int: the action to make more (or less) likely
    weights: np.ndarray  # (T,) float: its weight
    returns: np.ndarray | None = None  # (T,) float: value targets, or None for no value loss


def imitation_samples(trajs: Sequence[Trajectory], weight: float = 1.0) -> list[Sample]:
    """Expert labels on every visited state, weight ``weight``."""
    out = []
    for t in trajs:
        if (t.expert < 0).any():
            raise ValueError("imitation needs info['expert_action'] on every step; this env gives none")
        out.append(Sample(t, t.expert, np.full(len(t), weight, np.float32)))
    return out


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out = np.zeros(len(rewards), np.float64)
    acc = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        acc = rewards[i] + gamma * acc
        out[i] = acc
    return out


def reinforce_samples(trajs: Sequence[Trajectory], gamma: float, normalize: bool = True) -> list[Sample]:
    """Taken actions weighted by the advantage (return minus the value baseline)."""
    returns = [discounted_returns(t.rewards, gamma) for t in trajs]
    adv = [r - t.values for r, t in zip(returns, trajs)]
    if normalize and adv:
        flat = np.concatenate(adv)
        mean, scale = flat.mean(), flat.std() + 1e-6
        adv = [(a - mean) / scale for a in adv]
    return [Sample(t, t.actions, a.astype(np.float32), r.astype(np.float32)) for t, a, r in zip(trajs, adv, returns)]


def group_samples(trajs: Sequence[Trajectory], group: int, gamma: float, normalize: bool = True) -> list[Sample]:
    """Taken actions weighted by a leave-one-out group baseline (RLOO, Kool et al. 2019).

    ``trajs`` come in consecutive groups of ``group`` sampled episodes of the same seeded
    episode (same layout, start and instruction). An episode's advantage, on each of its
    steps, is its return minus the mean return of the others in its group: layout and
    route difficulty, which dominate a return, cancel out, so the weights say which
    behaviours did better on the same task. The value head still gets its returns.
    """
    if group < 2:
        raise ValueError(f"a group baseline needs at least 2 episodes per group, got {group}")
    if len(trajs) % group:
        raise ValueError(f"{len(trajs)} episodes do not split into groups of {group}")
    totals = np.array([float(np.sum(t.rewards)) for t in trajs]).reshape(-1, group)
    adv = (totals - (totals.sum(axis=1, keepdims=True) - totals) / (group - 1)).reshape(-1)
    if normalize:
        adv = adv / (adv.std() + 1e-6)
    return [Sample(t, t.actions, np.full(len(t), a, np.float32), discounted_returns(t.rewards, gamma).astype(np.float32))
            for t, a in zip(trajs, adv)]


def train_samples(
    agent,
    samples: Sequence[Sample],
    *,
    epochs: float,
    batch_size: int,
    chunk: int,
    max_words: int,
    rng: np.random.Generator,
    on_step: Callable[[dict[str, float], int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Train on ``samples`` for ``epochs`` passes in random minibatches of ``batch_size``.

    Returns the mean of the loss terms over the minibatches trained; ``on_step(stats,
    frames)`` is called per minibatch, and training ends early once ``stop()`` is true
    (e.g. a run's time budget is spent).
    """
    if not samples:
        raise ValueError("no training samples")
    n = len(samples)
    b = min(batch_size, n)
    updates = max(1, int(round(epochs * n / b)))
    order = np.concatenate([rng.permutation(n) for _ in range(int(np.ceil(updates * b / n)) + 1)])[: updates * b]
    # Bucket by length: within windows of BUCKET_BATCHES minibatches, sort by episode length,
    # so a minibatch's padding (up to its longest episode) stays small; then shuffle the batches.
    lengths = np.array([len(s.traj) for s in samples])
    window = BUCKET_BATCHES * b
    for start in range(0, len(order), window):
        part = order[start : start + window]
        order[start : start + window] = part[np.argsort(lengths[part], kind="stable")]
    batches = order.reshape(updates, b)[rng.permutation(updates)]
    totals: dict[str, float] = {}
    done = 0

    def arrays(u: int) -> dict[str, np.ndarray]:
        return minibatch_arrays(agent, [samples[i] for i in batches[u]], chunk=chunk, max_words=max_words)

    # The next minibatch's padded arrays are assembled in a thread (NumPy copies release the
    # GIL) while the current one trains: on a GPU the assembly would otherwise idle it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(arrays, 0)
        for u in range(updates):
            if done and stop is not None and stop():
                break
            feed = upcoming.result()
            if u + 1 < updates:
                upcoming = pool.submit(arrays, u + 1)
            try:
                stats = train_arrays(agent, feed, chunk=chunk)
            except NonFiniteLoss as exc:
                exc.update = u + 1
                raise
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
            done += 1
            if on_step is not None:
                on_step(stats, int(feed["mask"].sum()))
    return {k: v / done for k, v in totals.items()}


def train_minibatch(agent, batch: Sequence[Sample], *, chunk: int, max_words: int) -> tuple[dict[str, float], int]:
    """One update per chunk over a minibatch of samples (truncated BPTT across chunks)."""
    feed = minibatch_arrays(agent, batch, chunk=chunk, max_words=max_words)
    return train_arrays(agent, feed, chunk=chunk), int(feed["mask"].sum())


def minibatch_arrays(agent, batch: Sequence[Sample], *, chunk: int, max_words: int) -> dict[str, np.ndarray]:
    """The minibatch as padded (B, T) arrays, T a multiple of ``chunk``, and (B, max_words) tokens."""
    b = len(batch)
    lengths = np.array([len(s.traj) for s in batch])
    t_pad = int(np.ceil(lengths.max() / chunk) * chunk)
    h, w, c = batch[0].traj.images.shape[1:]
    images = np.zeros((b, t_pad, h, w, c), np.uint8)
    prev = np.full((b, t_pad), agent.config.num_actions, np.int32)
    targets = np.zeros((b, t_pad), np.int32)
    weights = np.zeros((b, t_pad), np.float32)
    mask = np.zeros((b, t_pad), np.float32)
    returns = np.zeros((b, t_pad), np.float32)
    value_mask = np.zeros((b, t_pad), np.float32)
    for i, s in enumerate(batch):
        t = len(s.traj)
        images[i, :t] = s.traj.images
        prev[i, 1:t] = s.traj.actions[: t - 1]
        targets[i, :t] = s.targets
        weights[i, :t] = s.weights
        mask[i, :t] = 1.0
        if s.returns is not None:
            returns[i, :t] = s.returns
            value_mask[i, :t] = 1.0
    tokens = agent.vocab.encode_batch([s.traj.mission for s in batch], max_len=max_words)
    if tokens.shape[1] < max_words:
        tokens = np.pad(tokens, ((0, 0), (0, max_words - tokens.shape[1])))
    return {"tokens": tokens, "images": images, "prev_actions": prev, "actions": targets, "weights": weights,
            "mask": mask, "returns": returns, "value_mask": value_mask}


def train_arrays(agent, arrays: dict[str, np.ndarray], *, chunk: int) -> dict[str, float]:
    """Train on ``minibatch_arrays`` output chunk by chunk, the recurrent state carried across."""
    mask = arrays["mask"]
    b, t_pad = mask.shape
    state = agent.initial_state(b)
    totals: dict[str, float] = {}
    n_chunks = t_pad // chunk
    for k in range(n_chunks):
        sl = slice(k * chunk, (k + 1) * chunk)
        if not mask[:, sl].any():
            break
        feed = {key: (v if key == "tokens" else v[:, sl]) for key, v in arrays.items()}
        feed.update(state)
        if k + 1 < n_chunks and mask[:, (k + 1) * chunk :].any():
            # The state entering the next chunk, from this chunk's forward pass.
            out = agent.sequence_forward(feed)
            state = {"state_h": out["state_h"], "state_c": out["state_c"]}
        stats = agent.train_batch(feed)
        if not np.isfinite(stats["loss"]):
            # Stop at once: the step has already applied its update, and more would spread it.
            raise NonFiniteLoss(f"the loss is {stats['loss']}")
        for key, v in stats.items():
            totals[key] = totals.get(key, 0.0) + v / n_chunks
    return totals
