"""Small backend-agnostic tensor helpers shared by the agent's entry points."""

from __future__ import annotations

from typing import Any

from keras import ops

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
