"""World core: cell codes, colours, object types, layouts and the shortest-path expert."""

from envs.core.constants import (
    ACTION_NAMES,
    COLOR_NAMES,
    COLORS,
    DIR_VEC,
    DOOR,
    FLOOR,
    FORWARD,
    LEFT,
    NUM_ACTIONS,
    OBJECT_TYPES,
    RIGHT,
    STOP,
    WALL,
)
from envs.core.world import Episode, WorldObject

__all__ = [
    "ACTION_NAMES", "COLOR_NAMES", "COLORS", "DIR_VEC", "DOOR", "FLOOR", "FORWARD", "LEFT",
    "NUM_ACTIONS", "OBJECT_TYPES", "RIGHT", "STOP", "WALL", "Episode", "WorldObject",
]
