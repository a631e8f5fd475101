"""Minibatches from samples: shuffled, bucketed by length, padded to a multiple of ``pad_steps``.

Sorting by length within windows keeps the padding small. How far to pad is the backend's
matter (``pad_steps``): TensorFlow's traced training step takes any number of steps once it
has seen two (``reduce_retracing``), so padding to a multiple of ``TF_PAD_STEPS`` only costs
the frames; XLA on JAX compiles each new shape, so there minibatches pad to a multiple of the
chunk and the step sees only a few shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.vocabulary import PAD_ID, UNK_ID
from vln.collection import VIEW_LABELS
from vln.objectives import Sample

BUCKET_BATCHES = 32  # minibatches per length-sorting window
# TensorFlow: minibatches pad to a multiple of this many steps. With padding to a multiple of
# a 20-step chunk, a third of the main job's cloning compute went on padded frames.
TF_PAD_STEPS = 5


def pad_steps(chunk: int) -> int:
    """The multiple minibatches pad their steps to on this Keras backend (see the module docstring)."""
    import keras

    return min(chunk, TF_PAD_STEPS) if keras.backend.backend() == "tensorflow" else chunk


def minibatch_order(lengths: np.ndarray, epochs: float, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(updates, b) sample indices: ``epochs`` passes in random minibatches of ``b = min(batch_size, n)``.

    Within windows of ``BUCKET_BATCHES`` minibatches the samples are sorted by length, so a
    minibatch's padding (up to its longest episode) stays small; then the batches are shuffled.
    """
    n = len(lengths)
    b = min(batch_size, n)
    updates = max(1, int(round(epochs * n / b)))
    order = np.concatenate([rng.permutation(n) for _ in range(int(np.ceil(updates * b / n)) + 1)])[: updates * b]
    window = BUCKET_BATCHES * b
    for start in range(0, len(order), window):
        part = order[start : start + window]
        order[start : start + window] = part[np.argsort(lengths[part], kind="stable")]
    return order.reshape(updates, b)[rng.permutation(updates)]


def minibatch_arrays(agent, batch: Sequence[Sample], *, chunk: int, max_words: int,
                     pad_to: int | None = None) -> dict[str, np.ndarray]:
    """The minibatch as padded (B, T) arrays, T a multiple of ``pad_to`` (default ``chunk``),
    and (B, max_words) tokens."""
    b = len(batch)
    lengths = np.array([len(s.traj) for s in batch])
    step = pad_to or chunk
    t_pad = int(np.ceil(lengths.max() / step) * step)
    h, w, c = batch[0].traj.images.shape[1:]
    images = np.zeros((b, t_pad, h, w, c), np.uint8)
    prev = np.full((b, t_pad), agent.config.num_actions, np.int32)
    targets = np.zeros((b, t_pad), np.int32)
    weights = np.zeros((b, t_pad), np.float32)
    mask = np.zeros((b, t_pad), np.float32)
    returns = np.zeros((b, t_pad), np.float32)
    value_mask = np.zeros((b, t_pad), np.float32)
    progress = np.zeros((b, t_pad), np.float32)
    progress_mask = np.zeros((b, t_pad), np.float32)
    # Each view label (target_view, goal_view) and its mask (target_mask, goal_mask).
    views = {key: np.zeros((b, t_pad), np.int32) for key in VIEW_LABELS}
    view_masks = {key: np.zeros((b, t_pad), np.float32) for key in VIEW_LABELS}
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
        if s.progress is not None:
            progress[i, :t] = s.progress
            progress_mask[i, :t] = 1.0
        for key in VIEW_LABELS:
            if getattr(s, key) is not None:
                views[key][i, :t] = getattr(s, key)
                view_masks[key][i, :t] = 1.0
    tokens = agent.vocab.encode_batch([s.traj.mission for s in batch], max_len=max_words)
    if tokens.shape[1] < max_words:
        tokens = np.pad(tokens, ((0, 0), (0, max_words - tokens.shape[1])))
    return {"tokens": tokens, "images": images, "prev_actions": prev, "actions": targets, "weights": weights,
            "mask": mask, "returns": returns, "value_mask": value_mask, "progress": progress,
            "progress_mask": progress_mask, "word_pos": word_positions(tokens), **views,
            **{key.replace("_view", "_mask"): mask for key, mask in view_masks.items()}}


def word_positions(tokens: np.ndarray) -> np.ndarray:
    """(B, L) float32: each word's place in its instruction, 0 for the first and 1 for the last (0 on padding)."""
    words = tokens != PAD_ID
    n = words.sum(axis=1, keepdims=True)
    pos = np.arange(tokens.shape[1], dtype=np.float32)[None, :] / np.maximum(n - 1, 1)
    return np.where(words, pos, 0.0).astype(np.float32)


def insert_words(tokens: np.ndarray, rate: float, rng: np.random.Generator, at_end: bool = False) -> np.ndarray:
    """``tokens`` (B, L) with random words inserted (EDA's random insertion, Wei and Zou 2019):
    about ``rate`` times as many as an instruction has, each one of the minibatch's own words at
    a random gap of the instruction (its end included), or all after its last word with
    ``at_end``. The instruction's words keep their order, the padding stays at the end, and no
    instruction grows past L (it gets fewer)."""
    real = tokens != PAD_ID
    pool = tokens[real]
    if rate <= 0 or not len(pool):
        return tokens.copy()
    out = np.full_like(tokens, PAD_ID)
    lengths = real.sum(axis=1)
    counts = np.minimum(rng.binomial(lengths, rate), tokens.shape[1] - lengths)
    for i, (n, k) in enumerate(zip(lengths.tolist(), counts.tolist())):  # a minibatch's rows: 16-64
        words = tokens[i][real[i]]
        if k:
            gaps = np.full(k, n) if at_end else np.sort(rng.integers(0, n + 1, k))
            words = np.insert(words, gaps, pool[rng.integers(0, len(pool), k)])
        out[i, : len(words)] = words
    return out


def drop_words(tokens: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``tokens`` (B, L) with each word (not the padding) replaced by ``<unk>`` with probability ``rate``."""
    drop = (tokens != PAD_ID) & (rng.random(tokens.shape) < rate)
    return np.where(drop, UNK_ID, tokens).astype(tokens.dtype)
