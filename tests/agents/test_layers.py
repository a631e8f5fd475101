"""Tests for agents.layers: the recency-biased pooling of the words."""

from __future__ import annotations

import numpy as np

from agents.layers import RecencyPooling


def pool(words: np.ndarray, keys: np.ndarray, mask: np.ndarray, kernel: np.ndarray | None = None,
         slope: float = 0.5) -> np.ndarray:
    layer = RecencyPooling(slope=slope)
    layer.build(words.shape, keys.shape, mask.shape)
    if kernel is not None:
        layer.score.kernel.assign(kernel.astype("float32"))
    return np.asarray(layer(words, keys, mask))


def test_weights_fall_by_exp_minus_slope_a_word_from_the_end_and_ignore_padding():
    """A zero content score leaves the bias alone: weights proportional to exp(-slope * d), d the
    words between a word and the last real one; padding after the words changes nothing."""
    rng = np.random.default_rng(0)
    words = rng.normal(size=(2, 6, 3)).astype("float32")
    keys = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    got = pool(words, keys, mask, kernel=np.zeros((4, 1)), slope=0.7)
    for row, n in enumerate(mask.sum(1)):
        w = np.exp(-0.7 * (n - 1 - np.arange(n)))
        np.testing.assert_allclose(got[row], (w / w.sum()) @ words[row, :n], atol=1e-5)
    longer = np.concatenate([words, rng.normal(size=(2, 3, 3)).astype("float32")], axis=1)
    longer_keys = np.concatenate([keys, rng.normal(size=(2, 3, 4)).astype("float32")], axis=1)
    longer_mask = np.concatenate([mask, np.zeros((2, 3), bool)], axis=1)
    np.testing.assert_allclose(pool(longer, longer_keys, longer_mask, kernel=np.zeros((4, 1)), slope=0.7),
                               got, atol=1e-5)


def test_the_content_score_picks_the_last_matching_word_before_trailing_words():
    """Words whose key matches the score (the goal's object) win over the last words of the
    instruction, and of two matching words the later one wins: "go to the yellow key and stop"
    pools "key", not "stop" and not an earlier object."""
    keys = np.zeros((1, 7, 2), "float32")
    keys[0, [1, 4], 0] = 1.0  # two object words; the instruction ends two words after the second
    words = np.eye(7, dtype="float32")[None]  # word i's features: one-hot i
    mask = np.ones((1, 7), bool)
    got = pool(words, keys, mask, kernel=np.array([[8.0], [0.0]]), slope=0.5)
    assert got[0].argmax() == 4 and got[0, 4] > 0.75  # exp(8 - 1) against exp(8 - 2.5) for word 1
    # Without the content score the last words dominate.
    assert pool(words, keys, mask, kernel=np.zeros((2, 1)), slope=0.5)[0].argmax() == 6
