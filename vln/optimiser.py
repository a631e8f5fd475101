"""The optimiser loop: minibatch after minibatch, each trained by truncated BPTT.

``fit`` trains an agent on samples for some epochs; ``update_chunks`` trains one padded
minibatch chunk by chunk, the recurrent state carried across chunks. A NaN or infinite
loss stops training at once (``NonFiniteLoss``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vln.batching import drop_words, insert_words, minibatch_arrays, minibatch_order, pad_steps, word_positions
from vln.objectives import Sample


# Arrays of ``minibatch_arrays`` with one row per episode, not per step: never cut into chunks.
PER_EPISODE = ("tokens", "word_pos")


class NonFiniteLoss(FloatingPointError):
    """A training step gave a NaN or infinite loss; ``update`` is its minibatch (1-based)."""

    update: int = 0


def fit(
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
    learning_rate: Callable[[float], float] | None = None,
    start: int = 0,
    word_dropout: float = 0.0,
    word_insert: float = 0.0,
    word_insert_end: bool = False,
    augment: Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Train on ``samples`` for ``epochs`` passes in random minibatches of ``batch_size``.

    Returns the mean of the loss terms over the minibatches trained; ``on_step(stats,
    frames)`` is called per minibatch, and training ends early once ``stop()`` is true
    (e.g. a run's time budget is spent). ``learning_rate(progress)``, where given, sets the
    optimiser's rate before each minibatch from the fraction of minibatches done. ``start``
    skips the first minibatches of the order (done before a resume: the same ``rng`` state
    draws the same order). ``word_dropout``: each minibatch's instruction words become
    ``<unk>`` with this probability (``vln.batching.drop_words``), drawn per minibatch from
    ``rng``, so a resumed fit drops the same words. ``word_insert``: before the dropout, about
    that many random words per word are inserted (``vln.batching.insert_words``; all after the
    last word with ``word_insert_end``), drawn the same way. ``augment(arrays, rng)``, where
    given, changes each minibatch's arrays before both (e.g. ``vln.augmentation.ColourSwap``),
    with a generator of its own per minibatch, drawn the same way.
    """
    if not samples:
        raise ValueError("no training samples")
    batches = minibatch_order(np.array([len(s.traj) for s in samples]), epochs, batch_size, rng)
    updates = len(batches)
    totals: dict[str, float] = {}
    done = 0

    pad_to = pad_steps(chunk)
    # Each seed is drawn only when its option is on: with all off, ``rng`` goes on exactly as before.
    drop_seed = int(rng.integers(2**63)) if word_dropout > 0 else 0
    augment_seed = int(rng.integers(2**63)) if augment is not None else 0
    insert_seed = int(rng.integers(2**63)) if word_insert > 0 else 0

    def arrays(u: int) -> dict[str, np.ndarray]:
        feed = minibatch_arrays(agent, [samples[i] for i in batches[u]], chunk=chunk, max_words=max_words, pad_to=pad_to)
        if augment is not None:
            feed = augment(feed, np.random.default_rng([augment_seed, u]))
        if word_insert > 0:
            feed["tokens"] = insert_words(feed["tokens"], word_insert, np.random.default_rng([insert_seed, u]),
                                          at_end=word_insert_end)
            feed["word_pos"] = word_positions(feed["tokens"])
        if word_dropout > 0:
            feed["tokens"] = drop_words(feed["tokens"], word_dropout, np.random.default_rng([drop_seed, u]))
        return feed

    # The next minibatch's padded arrays are assembled in a thread (NumPy copies release the
    # GIL) while the current one trains: on a GPU the assembly would otherwise idle it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(arrays, start) if start < updates else None
        for u in range(start, updates):
            if done and stop is not None and stop():
                break
            feed = upcoming.result()
            if u + 1 < updates:
                upcoming = pool.submit(arrays, u + 1)
            if learning_rate is not None:
                agent.optimizer.learning_rate.assign(learning_rate(u / updates))
            try:
                stats = update_chunks(agent, feed, chunk=chunk)
            except NonFiniteLoss as exc:
                exc.update = u + 1
                raise
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
            done += 1
            if on_step is not None:
                on_step(stats, int(feed["mask"].sum()))
    return {k: v / done for k, v in totals.items()}


def update_chunks(agent, arrays: dict[str, np.ndarray], *, chunk: int) -> dict[str, float]:
    """Train on ``minibatch_arrays`` output chunk by chunk, the recurrent state carried across
    (the last chunk is shorter where the steps are not a multiple of ``chunk``)."""
    mask = arrays["mask"]
    b, t_pad = mask.shape
    state = agent.initial_state(b)
    totals: dict[str, float] = {}
    n_chunks = -(-t_pad // chunk)
    for k in range(n_chunks):
        sl = slice(k * chunk, (k + 1) * chunk)
        if not mask[:, sl].any():
            break
        feed = {key: (v if key in PER_EPISODE else v[:, sl]) for key, v in arrays.items()}
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
