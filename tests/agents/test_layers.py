"""Tests for agents.layers: the pooling of the words biased toward an anchor (the last word or the first)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.layers import AnchoredPooling


def pool(words: np.ndarray, keys: np.ndarray, mask: np.ndarray, kernel: np.ndarray | None = None,
         slope: float = 0.5, anchor: str = "end") -> np.ndarray:
    layer = AnchoredPooling(slope=slope, anchor=anchor)
    layer.build(words.shape, keys.shape, mask.shape)
    if kernel is not None:
        layer.score.kernel.assign(kernel.astype("float32"))
    return np.asarray(layer(words, keys, mask))


@pytest.mark.parametrize("anchor", ["end", "start"])
def test_weights_fall_by_exp_minus_slope_a_word_from_the_anchor_and_ignore_padding(anchor):
    """A zero content score leaves the bias alone: weights proportional to exp(-slope * d), d the
    words between a word and the anchor (the last real word, or the first); padding after the
    words changes nothing."""
    rng = np.random.default_rng(0)
    words = rng.normal(size=(2, 6, 3)).astype("float32")
    keys = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    got = pool(words, keys, mask, kernel=np.zeros((4, 1)), slope=0.7, anchor=anchor)
    for row, n in enumerate(mask.sum(1)):
        w = np.exp(-0.7 * (n - 1 - np.arange(n) if anchor == "end" else np.arange(n)))
        np.testing.assert_allclose(got[row], (w / w.sum()) @ words[row, :n], atol=1e-5)
    longer = np.concatenate([words, rng.normal(size=(2, 3, 3)).astype("float32")], axis=1)
    longer_keys = np.concatenate([keys, rng.normal(size=(2, 3, 4)).astype("float32")], axis=1)
    longer_mask = np.concatenate([mask, np.zeros((2, 3), bool)], axis=1)
    np.testing.assert_allclose(pool(longer, longer_keys, longer_mask, kernel=np.zeros((4, 1)), slope=0.7,
                                    anchor=anchor), got, atol=1e-5)


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


def test_anchored_at_the_start_the_content_score_picks_the_first_matching_word():
    """From the start, the first word whose key matches wins over the words before it and over a
    later match: "walk past the red box, go out the blue door, ... the grey door" pools the first
    door's colour, "blue", not the landmark's words before it nor the second door's colour."""
    keys = np.zeros((1, 9, 2), "float32")
    keys[0, [3, 7], 0] = 1.0  # two door colours; three words before the first
    words = np.eye(9, dtype="float32")[None]
    mask = np.ones((1, 9), bool)
    got = pool(words, keys, mask, kernel=np.array([[8.0], [0.0]]), slope=0.5, anchor="start")
    assert got[0].argmax() == 3 and got[0, 3] > 0.75
    # Without the content score the first words dominate.
    assert pool(words, keys, mask, kernel=np.zeros((2, 1)), slope=0.5, anchor="start")[0].argmax() == 0


def test_an_unknown_anchor_is_refused():
    with pytest.raises(ValueError, match="anchor must be one of"):
        AnchoredPooling(anchor="middle")
