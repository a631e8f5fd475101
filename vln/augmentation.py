"""Colour swaps: a training augmentation for the built-in envs.

The built-in envs draw every door lintel and object in one of six flat colours
(``envs.core.constants.COLORS``), and the instruction names them by the same six words. A
permutation of the colours applied alike to an episode's frames (pixel for pixel) and to its
instruction's colour words gives another valid episode: the same layout, route and expert
actions, with every door and object recoloured and named by its new colour. With it the
agent sees each route's colours in every combination, so it has to read which door or
object the words name rather than learn which colours go with which layouts.
"""

from __future__ import annotations

import numpy as np

from envs.core.constants import COLOR_NAMES, COLORS


def _packed(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...) int32 ``r << 16 | g << 8 | b``: one comparison per pixel."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def shade_table(colors: np.ndarray = COLORS, lowest: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pixel the renderer can draw in one of ``colors``: (codes (K,), packed RGB; their
    colour (K,); recoloured (K, C, 3) uint8, the same shade of each colour).

    The raycaster draws a lintel or an object of colour ``c`` at a depth-dependent gain ``g``
    (0.3 to 1) as ``int(colors[c] * g)`` per channel (``envs.render.raycast_kernel``). Each
    such pixel maps to ``int(colors[c'] * g)`` for the middle of the gains that draw it. The six
    colours' hues differ, so no two of them (nor the walls, floor or ceiling) share a pixel.
    """
    gains = np.linspace(lowest, 1.0, 40_001)
    keys, owners, shades = [], [], []
    for c, rgb in enumerate(colors.astype(np.float64)):
        code = _packed((rgb[None, :] * gains[:, None]).astype(np.uint8))
        uniq, first, count = np.unique(code, return_index=True, return_counts=True)
        keys.append(uniq)
        owners.append(np.full(len(uniq), c))
        shades.append(gains[first + count // 2])
    keys, owners, shades = np.concatenate(keys), np.concatenate(owners), np.concatenate(shades)
    if len(np.unique(keys)) != len(keys):
        raise ValueError("two colours draw the same pixel: a colour swap could not tell them apart")
    recoloured = (colors.astype(np.float64)[None, :, :] * shades[:, None, None]).astype(np.uint8)
    return keys, owners, recoloured


class ColourSwap:
    """Recolours each episode of a minibatch with probability ``rate``, by a random permutation
    of the six colours, in its frames and its instruction's colour words alike.

    ``vocab`` is the agent's vocabulary, which must hold the six colour words.
    """

    def __init__(self, vocab, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the colour swap rate must be in [0, 1], got {rate}")
        missing = [name for name in COLOR_NAMES if name not in vocab]
        if missing:
            raise ValueError(f"colour swaps need every colour word in the vocabulary; it lacks {', '.join(missing)}")
        self.rate = float(rate)
        self.word_ids = np.array([vocab.encode(name)[0] for name in COLOR_NAMES], np.int64)
        self.codes, self.owner, self.recoloured = shade_table()
        # Packed RGB -> 1 + its row of the table (0: not a colour's pixel): one gather a pixel.
        self.index = np.zeros(1 << 24, np.uint16)
        self.index[self.codes] = np.arange(1, len(self.codes) + 1)

    def recolour(self, images: np.ndarray, tokens: np.ndarray, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One episode's frames (..., H, W, 3) and tokens (L,), each colour ``c`` made ``perm[c]``
        (new arrays)."""
        new_images, new_tokens = images.copy(), tokens.copy()
        self._recolour_into(new_images, new_tokens, tokens, perm)
        return new_images, new_tokens

    def _recolour_into(self, images: np.ndarray, new_tokens: np.ndarray, tokens: np.ndarray, perm: np.ndarray) -> None:
        """``recolour`` in place: ``images`` changed where they hold a colour, ``new_tokens``
        (a copy of ``tokens``) where ``tokens`` name one."""
        row = self.index[_packed(images)]
        hit = row > 0
        k = row[hit].astype(np.int64) - 1
        images[hit] = self.recoloured[k, np.asarray(perm)[self.owner[k]]]
        for c, new in enumerate(perm):
            new_tokens[tokens == self.word_ids[c]] = self.word_ids[new]

    def __call__(self, feed: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``feed`` (``minibatch_arrays`` output: ``images`` (B, T, H, W, 3), ``tokens`` (B, L))
        with each episode recoloured with probability ``rate``; the arrays it changes are copies."""
        n = len(feed["tokens"])
        swap = rng.random(n) < self.rate
        perms = [rng.permutation(len(COLORS)) for _ in range(n)]
        if not swap.any():
            return feed
        images, tokens = feed["images"].copy(), feed["tokens"].copy()
        for i in np.flatnonzero(swap):
            self._recolour_into(images[i], tokens[i], feed["tokens"][i], perms[i])
        return {**feed, "images": images, "tokens": tokens}
