"""GoToObject: one room, a target and distractors; "go to the red ball"."""

from __future__ import annotations

import numpy as np

from envs.core.constants import COLOR_NAMES, OBJECT_TYPES
from envs.core.world import Episode, WorldObject, empty_room
from envs.nav_env import _DOC_COMMON, VLNEnv, VLNVectorEnv
from envs.core.task import Task
from envs.core.mission import goto_instruction


class GoToObjectTask(Task):
    """A single room with ``1 + num_distractors`` objects; the mission names the target.

    Distractors often share the target's colour or type, so both words matter; no
    distractor is identical to the target. The agent starts at least two cells away
    from the target, facing a random way, so it often has to look around first.
    """

    def __init__(self, room_size: tuple[int, int] = (5, 7), num_distractors: tuple[int, int] = (1, 5), max_steps: int = 40) -> None:
        lo, hi = _pair(room_size, "room_size")
        d_lo, d_hi = _pair(num_distractors, "num_distractors")
        if lo < 4:
            raise ValueError(f"room_size must be at least 4 interior cells, got {room_size}")
        if d_lo < 0:
            raise ValueError(f"num_distractors must be >= 0, got {num_distractors}")
        # The target, its distractors, and room for the agent two cells away.
        if 1 + d_hi > lo * lo - 9:
            raise ValueError(
                f"too many objects for the room: {1 + d_hi} objects do not fit a {lo}x{lo} room "
                f"with the agent kept 2 cells from the target (at most {max(lo * lo - 9, 0)})"
            )
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self.room_size, self.num_distractors = (lo, hi), (d_lo, d_hi)
        self.max_grid = (hi + 2, hi + 2)
        self.max_objects = 1 + d_hi
        self.default_max_steps = int(max_steps)

    def _generate(self, layout_rng, episode_rng, split):
        h, w = (int(layout_rng.integers(self.room_size[0], self.room_size[1] + 1)) for _ in range(2))
        grid = empty_room(h, w)
        n_distractors = int(layout_rng.integers(self.num_distractors[0], self.num_distractors[1] + 1))
        target = (int(layout_rng.integers(len(OBJECT_TYPES))), int(layout_rng.integers(len(COLOR_NAMES))))
        kinds = [target]
        while len(kinds) < 1 + n_distractors:
            roll = layout_rng.random()
            t = int(layout_rng.integers(len(OBJECT_TYPES)))
            c = int(layout_rng.integers(len(COLOR_NAMES)))
            if roll < 0.35:
                t = target[0]  # same type, other colour
            elif roll < 0.7:
                c = target[1]  # same colour, other type
            if (t, c) != target:
                kinds.append((t, c))
        cells = [(r, c) for r in range(1, h + 1) for c in range(1, w + 1)]
        picks = layout_rng.choice(len(cells), size=len(kinds), replace=False)
        objects = [WorldObject(cells[p][0], cells[p][1], t, c) for p, (t, c) in zip(picks, kinds)]
        goal = objects[0]
        taken = {(o.row, o.col) for o in objects}
        starts = [cell for cell in cells if cell not in taken and max(abs(cell[0] - goal.row), abs(cell[1] - goal.col)) >= 2]
        if not starts:
            return None
        start = starts[int(episode_rng.integers(len(starts)))]
        mission = goto_instruction(episode_rng, goal.description, split)
        door_color = np.full(grid.shape, -1, np.int8)
        return Episode(grid, door_color, objects, 0, start, int(episode_rng.integers(4)), mission, self.default_max_steps)


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    lo, hi = (int(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name} range is empty: {value}")
    return lo, hi


class GoToObjectEnv(VLNEnv):
    __doc__ = """
    ## Description
    One room (``room_size`` interior cells a side) with a target object and
    ``num_distractors`` others, several sharing the target's colour or type. The mission
    names the target ("go to the red ball", with varied phrasing); the agent sees the
    room through a first-person camera and must STOP within one cell of the target.
    """ + _DOC_COMMON + """
    ## Starting State
    A random free cell at least two cells from the target, a random heading.

    ## Arguments
    ``split`` ("train", "seen" or "unseen": unseen has held-out layouts and phrasings),
    ``room_size=(5, 7)``, ``num_distractors=(1, 5)``, ``max_steps=40``, ``view_size=64``,
    ``fov_deg=90``, ``reward_shaping=False``, ``render_mode=None | "rgb_array"``.
    """

    def __init__(self, split: str = "train", room_size=(5, 7), num_distractors=(1, 5), max_steps: int = 40,
                 view_size: int = 64, fov_deg: float = 90.0, reward_shaping: bool = False, render_mode: str | None = None) -> None:
        super().__init__(GoToObjectTask(room_size, num_distractors, max_steps), split, view_size, fov_deg, max_steps,
                         reward_shaping, render_mode)


class GoToObjectVectorEnv(VLNVectorEnv):
    """``num_envs`` GoToObject episodes stepped and rendered as one batch (see ``GoToObjectEnv``)."""

    def __init__(self, num_envs: int = 8, split: str = "train", room_size=(5, 7), num_distractors=(1, 5), max_steps: int = 40,
                 view_size: int = 64, fov_deg: float = 90.0, reward_shaping: bool = False, render_mode: str | None = None) -> None:
        super().__init__(GoToObjectTask(room_size, num_distractors, max_steps), num_envs, split, view_size, fov_deg,
                         max_steps, reward_shaping, render_mode)
