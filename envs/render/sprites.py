"""Silhouettes of the object types, as small boolean masks (row 0 is the top)."""

from __future__ import annotations

import numpy as np

TEX = 16  # texture resolution of a sprite mask


def _grid() -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(TEX) + 0.5) / TEX  # cell centres in [0, 1]
    return np.meshgrid(c, c, indexing="ij")  # y (down), x (right)


def _ball() -> np.ndarray:
    y, x = _grid()
    return (x - 0.5) ** 2 + (y - 0.55) ** 2 <= 0.42**2


def _box() -> np.ndarray:
    y, x = _grid()
    body = (x > 0.1) & (x < 0.9) & (y > 0.22) & (y < 0.98)
    lid_gap = (y > 0.36) & (y < 0.42) & (x > 0.1) & (x < 0.9)  # a dark seam under the lid
    return body & ~lid_gap


def _key() -> np.ndarray:
    y, x = _grid()
    ring = ((x - 0.5) ** 2 + (y - 0.25) ** 2 <= 0.22**2) & ((x - 0.5) ** 2 + (y - 0.25) ** 2 >= 0.1**2)
    shaft = (np.abs(x - 0.5) < 0.08) & (y > 0.4) & (y < 0.98)
    teeth = ((y > 0.7) & (y < 0.78) | (y > 0.86) & (y < 0.94)) & (x > 0.5) & (x < 0.75)
    return ring | shaft | teeth


def _cone() -> np.ndarray:
    y, x = _grid()
    return (y > 0.08) & (np.abs(x - 0.5) <= 0.45 * (y - 0.08) / 0.9) | ((y > 0.9) & (np.abs(x - 0.5) < 0.45))


# Indexed like OBJECT_TYPES: ball, box, key, cone.
SPRITE_MASKS = np.stack([_ball(), _box(), _key(), _cone()])
