"""Top-down map for humans: walls, coloured doors, objects, the goal, the agent and its path.

OpenCV is imported inside ``render_topdown`` (only ``render()`` in ``rgb_array`` mode draws
the map), so making, resetting and stepping the envs never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.core.constants import COLORS, DOOR, WALL
from envs.render.sprites import SPRITE_MASKS

_FLOOR = np.array((30, 30, 30), np.uint8)
_WALL = np.array((150, 140, 120), np.uint8)
_GRIDLINE = np.array((50, 50, 50), np.uint8)
_PATH = (0, 220, 255)  # cyan: no object has this colour
_AGENT = (255, 255, 255)


def render_topdown(
    grid: np.ndarray,
    door_color: np.ndarray,
    objects: Sequence,
    agent: tuple[int, int],
    heading: int,
    path: Sequence[tuple[int, int]] = (),
    goal_region: np.ndarray | None = None,
    cell: int = 16,
) -> np.ndarray:
    """One (H*cell, W*cell, 3) uint8 map. ``objects`` are ``WorldObject``-like (row, col, type, color)."""
    import cv2  # here, not at module level: only rendering the map needs OpenCV

    gh, gw = grid.shape
    img = np.empty((gh, gw, 3), np.uint8)
    img[:] = _FLOOR
    img[grid == WALL] = _WALL
    doors = grid == DOOR
    img[doors] = COLORS[door_color[doors]]
    if goal_region is not None:
        img[goal_region] = (60, 90, 60)
    img = np.repeat(np.repeat(img, cell, axis=0), cell, axis=1)
    lines = np.zeros(img.shape[:2], bool)
    lines[::cell, :] = True
    lines[:, ::cell] = True
    floor_px = np.repeat(np.repeat(grid != WALL, cell, axis=0), cell, axis=1)
    img[lines & floor_px] = _GRIDLINE
    for obj in objects:
        mask = cv2.resize(SPRITE_MASKS[obj.type].astype(np.uint8), (cell - 2, cell - 2), interpolation=cv2.INTER_NEAREST).astype(bool)
        y0, x0 = obj.row * cell + 1, obj.col * cell + 1
        patch = img[y0 : y0 + cell - 2, x0 : x0 + cell - 2]
        patch[mask] = COLORS[obj.color]
    if len(path) > 1:
        pts = np.array([(c * cell + cell // 2, r * cell + cell // 2) for r, c in path], np.int32)
        cv2.polylines(img, [pts], False, _PATH, max(1, cell // 8), lineType=cv2.LINE_AA)
    # The agent: a triangle pointing along its heading.
    cy, cx = agent[0] * cell + cell / 2.0, agent[1] * cell + cell / 2.0
    fwd = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)][heading], float)  # (row, col)
    side = np.array([fwd[1], -fwd[0]])
    r = cell * 0.42
    tri = [(cx + fwd[1] * r, cy + fwd[0] * r), (cx - fwd[1] * r + side[1] * r * 0.8, cy - fwd[0] * r + side[0] * r * 0.8),
           (cx - fwd[1] * r - side[1] * r * 0.8, cy - fwd[0] * r - side[0] * r * 0.8)]
    poly = [np.round(np.array(tri)).astype(np.int32)]
    cv2.fillPoly(img, poly, _AGENT, lineType=cv2.LINE_AA)
    cv2.polylines(img, poly, True, (0, 0, 0), 1, lineType=cv2.LINE_AA)
    return img
