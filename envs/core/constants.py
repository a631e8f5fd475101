"""Names, colours and codes shared by the world, the renderers and the tasks."""

from __future__ import annotations

import numpy as np

# Cell codes of the grid. Objects live in their own arrays (they are sprites, not cells).
FLOOR = 0
WALL = 1
DOOR = 2

# Actions of every built-in env.
FORWARD, LEFT, RIGHT, STOP = 0, 1, 2, 3
ACTION_NAMES = ("forward", "left", "right", "stop")
NUM_ACTIONS = 4

# Headings, MiniGrid's convention: 0 east, 1 south, 2 west, 3 north (rows grow southwards).
# DIR_VEC[h] = (d_row, d_col).
DIR_VEC = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)], dtype=np.int64)

COLOR_NAMES = ("red", "green", "blue", "purple", "yellow", "grey")
COLORS = np.array(
    [
        (220, 40, 40),  # red
        (40, 200, 60),  # green
        (50, 90, 235),  # blue
        (150, 60, 210),  # purple
        (235, 215, 40),  # yellow
        (135, 135, 135),  # grey
    ],
    dtype=np.uint8,
)

OBJECT_TYPES = ("ball", "box", "key", "cone")

WALL_RGB = np.array((205, 190, 160), dtype=np.float32)
CEILING_RGB = np.array((70, 80, 100), dtype=np.float32)
FLOOR_RGB = np.array((95, 80, 65), dtype=np.float32)
