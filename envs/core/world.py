"""One episode's world: the grid, its doors and objects, the start and the goal."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from envs.core.constants import COLOR_NAMES, DOOR, FLOOR, OBJECT_TYPES, WALL


@dataclass(frozen=True)
class WorldObject:
    """An object standing in one cell; it blocks movement and is drawn as a sprite."""

    row: int
    col: int
    type: int  # index into OBJECT_TYPES
    color: int  # index into COLOR_NAMES

    @property
    def description(self) -> str:
        return f"{COLOR_NAMES[self.color]} {OBJECT_TYPES[self.type]}"


@dataclass
class Episode:
    """Everything a task generator decides at reset.

    ``grid`` holds FLOOR/WALL/DOOR codes; ``door_color`` the colour index of each door cell
    (-1 elsewhere). The goal is the object ``objects[goal]``; the agent succeeds by
    stopping in a free cell within one cell (8-neighbourhood) of it.
    """

    grid: np.ndarray
    door_color: np.ndarray
    objects: list[WorldObject]
    goal: int
    start: tuple[int, int]
    start_dir: int
    mission: str
    max_steps: int
    seed: int = 0
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.grid = np.asarray(self.grid, dtype=np.uint8)
        self.door_color = np.asarray(self.door_color, dtype=np.int8)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape  # type: ignore[return-value]

    def blocked(self) -> np.ndarray:
        """Cells the agent cannot enter: walls and objects."""
        blocked = self.grid == WALL
        for obj in self.objects:
            blocked[obj.row, obj.col] = True
        return blocked

    def goal_region(self) -> np.ndarray:
        """Free cells within one cell (Chebyshev) of the goal object."""
        obj = self.objects[self.goal]
        region = np.zeros(self.grid.shape, dtype=bool)
        region[max(obj.row - 1, 0) : obj.row + 2, max(obj.col - 1, 0) : obj.col + 2] = True
        return region & ~self.blocked()

    def layout_key(self) -> int:
        """A stable hash of the layout (grid, doors, objects): the split partition uses it."""
        h = zlib.crc32(self.grid.tobytes())
        h = zlib.crc32(self.door_color.tobytes(), h)
        objs = np.array([(o.row, o.col, o.type, o.color) for o in self.objects], dtype=np.int16)
        return zlib.crc32(objs.tobytes(), h)


def empty_room(height: int, width: int) -> np.ndarray:
    """A grid of ``height`` x ``width`` interior cells surrounded by one wall."""
    grid = np.full((height + 2, width + 2), WALL, dtype=np.uint8)
    grid[1:-1, 1:-1] = FLOOR
    return grid


__all__ = ["WorldObject", "Episode", "empty_room", "DOOR"]
