"""GoToObject: one room, a target and distractors; "go to the red ball"."""

from __future__ import annotations

import numpy as np

from envs.core.constants import COLOR_NAMES, OBJECT_TYPES
from envs.core.world import Episode, WorldObject, empty_room
from envs.nav_env import _DOC_COMMON, VLNEnv, VLNVectorEnv
from envs.core.task import _EPISODE_SALT, _LAYOUT_SALT, _SPLIT_CODE, Task, hash_uniforms, layout_in_split
from envs.core.mission import GOTO, phrasing_group


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

    def _candidates(self, seeds, split, attempts):
        """Draw a batch of candidates with array operations (see ``_draw``).

        Layouts outside the split are redrawn from the next attempt, as ``Task._candidate``
        does one episode at a time.
        """
        seeds = np.array([s & _U64 for s in seeds], np.uint64)
        attempts = np.array(attempts, np.int64)
        out: list[Episode | None] = [None] * len(seeds)
        todo = np.arange(len(seeds))
        for _ in range(1000):
            rejected = []
            for i, ep in zip(todo, self._draw(seeds[todo], attempts[todo], split)):
                if ep is not None and layout_in_split(ep.layout_key(), split):
                    out[i] = ep
                else:
                    rejected.append(i)
            if not rejected:
                return out, attempts.tolist()
            todo = np.array(rejected)
            attempts[todo] += 1
        raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts")

    def _draw(self, seeds: np.ndarray, attempts: np.ndarray, split: str) -> list[Episode | None]:
        """One candidate per (seed, attempt), every random choice made for the whole batch.

        The layout (room size, objects and their cells) comes from the layout stream, which
        train and val-seen share; the start, heading and phrasing from the split's episode
        stream. Each is a fixed column of ``hash_uniforms``, so an episode depends only on
        its own (seed, split, attempt).
        """
        n = len(seeds)
        (lo, hi), (d_lo, d_hi) = self.room_size, self.num_distractors
        k = 1 + d_hi  # object slots; slot 0 is the target
        cells = hi * hi  # cells of the largest room, row-major
        layout_stream = 1 if split == "unseen" else 0
        lay = hash_uniforms(_LAYOUT_SALT, layout_stream, seeds, attempts, 5 + 3 * d_hi + cells)
        epi = hash_uniforms(_EPISODE_SALT, _SPLIT_CODE[split], seeds, attempts, 2 + cells)
        h = lo + _below(lay[:, 0], hi - lo + 1)
        w = lo + _below(lay[:, 1], hi - lo + 1)
        n_objects = 1 + d_lo + _below(lay[:, 2], d_hi - d_lo + 1)
        kind = np.empty((n, k), np.int64)  # type * n_colours + colour
        kind[:, 0] = _below(lay[:, 3], N_TYPES) * N_COLORS + _below(lay[:, 4], N_COLORS)
        kind[:, 1:] = _distractor_kinds(kind[:, :1], *np.split(lay[:, 5 : 5 + 3 * d_hi], 3, axis=1))
        # Distinct cells: the objects take the cells with the k smallest keys in the room.
        row, col = np.divmod(np.arange(cells), hi)
        in_room = (row[None] < h[:, None]) & (col[None] < w[:, None])
        keys = np.where(in_room, lay[:, 5 + 3 * d_hi :], 2.0)
        picks = np.argsort(keys, axis=1, kind="stable")[:, :k]
        obj_row, obj_col = row[picks] + 1, col[picks] + 1  # +1: the wall ring
        # Start: the free cell with the smallest key at least two cells from the target.
        taken = np.zeros((n, cells), bool)
        real = np.arange(k)[None] < n_objects[:, None]
        np.put_along_axis(taken, picks, real, axis=1)
        far = np.maximum(np.abs(row[None] + 1 - obj_row[:, :1]), np.abs(col[None] + 1 - obj_col[:, :1])) >= 2
        start_keys = np.where(in_room & ~taken & far, epi[:, 2:], 2.0)
        start = start_keys.argmin(axis=1)
        has_start = start_keys[np.arange(n), start] < 2.0
        start_dir = _below(epi[:, 0], 4)
        templates = GOTO[phrasing_group(split)]
        phrasing = _below(epi[:, 1], len(templates))
        episodes: list[Episode | None] = []
        for i in range(n):
            if not has_start[i]:
                episodes.append(None)
                continue
            m = int(n_objects[i])
            types, colors = np.divmod(kind[i, :m], N_COLORS)
            objects = [WorldObject(*v) for v in zip(obj_row[i, :m].tolist(), obj_col[i, :m].tolist(), types.tolist(), colors.tolist())]
            grid = empty_room(int(h[i]), int(w[i]))
            mission = templates[phrasing[i]].format(obj=objects[0].description)
            start_cell = (int(row[start[i]]) + 1, int(col[start[i]]) + 1)
            episodes.append(Episode(grid, np.full(grid.shape, -1, np.int8), objects, 0, start_cell, int(start_dir[i]),
                                    mission, self.default_max_steps))
        return episodes


N_TYPES, N_COLORS = len(OBJECT_TYPES), len(COLOR_NAMES)
_U64 = (1 << 64) - 1


def _below(u: np.ndarray, n: int) -> np.ndarray:
    """Uniforms in [0, 1) to integers in [0, n)."""
    return (u * n).astype(np.int64)


def _distractor_kinds(target: np.ndarray, roll: np.ndarray, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Distractor kinds (type * n_colours + colour), never the target's.

    About a third share the target's type (another colour), a third its colour (another
    type), the rest are any other kind: each draw picks among the allowed kinds directly,
    so no rejection loop is needed.
    """
    t_type, t_color = np.divmod(target, N_COLORS)
    same_type = t_type * N_COLORS + (t_color + 1 + _below(u1, N_COLORS - 1)) % N_COLORS
    same_color = ((t_type + 1 + _below(u1, N_TYPES - 1)) % N_TYPES) * N_COLORS + t_color
    other = (target + 1 + _below(u2, N_TYPES * N_COLORS - 1)) % (N_TYPES * N_COLORS)
    return np.where(roll < 0.35, same_type, np.where(roll < 0.7, same_color, other))


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
