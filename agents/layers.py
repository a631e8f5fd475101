"""Small backend-agnostic tensor helpers and layers shared by the agent's entry points."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

# Large finite negative instead of -inf: an all-padding row then gives uniform weights
# over zero features (a zero context) rather than NaNs, and exp() of it is exactly 0,
# so padded words get exactly zero attention.
NEG_INF = -1e9


def masked_softmax(scores: Any, mask: Any) -> Any:
    """Softmax of ``scores`` (B, L) over the last axis, giving 0 where ``mask`` is False."""
    scores = ops.where(mask, scores, ops.full_like(scores, NEG_INF))
    return ops.softmax(scores, axis=-1)


def film(x: Any, params: Any) -> Any:
    """Feature-wise linear modulation (FiLM): ``x * (1 + gamma) + beta`` per channel.

    ``x`` is (N, H, W, C); ``params`` is (N, 2C) = [gamma, beta]. Using ``1 + gamma``
    keeps the modulation close to identity at initialisation.
    """
    c = x.shape[-1]
    gamma = params[:, None, None, :c]
    beta = params[:, None, None, c:]
    return x * (1.0 + gamma) + beta


ANCHORS = ("end", "start")


class AnchoredPooling(layers.Layer):
    """Attention pooling of the words with a learned content score minus a learned slope times
    each word's distance from an anchor: the instruction's last real word (``anchor="end"``) or
    its first (``"start"``), ALiBi's linear bias.

    ``call(words, keys, mask)``: word features (B, L, D), their keys (B, L, K), bool mask (B, L)
    with the padding after the words -> the pooled features (B, D). At initialisation the content
    score is 0 and the weights fall by ``exp(-slope)`` a word from the anchor; the content score
    learns which words to pick, and the bias settles the pooling on the one of them nearest the
    anchor, wherever the instruction ends: a route's goal, named last, or its first door, named
    first.
    """

    def __init__(self, slope: float = 0.5, anchor: str = "end", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        self.initial_slope, self.anchor = float(slope), anchor
        self.score = layers.Dense(1, use_bias=False, name="score")

    def build(self, words_shape: Any, keys_shape: Any = None, mask_shape: Any = None) -> None:
        self.score.build(keys_shape)
        self.slope = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_slope),
                                     name="slope")

    def call(self, words: Any, keys: Any, mask: Any) -> Any:
        real = ops.cast(mask, "float32")
        # Padding comes after the words: the first word is at 0, the last at (number of words - 1).
        before = ops.cumsum(real, axis=1) - real
        distance = ops.sum(real, axis=1, keepdims=True) - 1.0 - before if self.anchor == "end" else before
        scores = ops.cast(ops.squeeze(self.score(keys), axis=-1), "float32") - ops.cast(self.slope, "float32") * distance
        weights = masked_softmax(scores, mask)
        return ops.sum(ops.cast(weights, words.dtype)[..., None] * words, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "slope": self.initial_slope, "anchor": self.anchor}
