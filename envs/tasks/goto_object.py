"""GoToObject: one room, a target and distractors; "go to the red ball"."""

from __future__ import annotations

import zlib

import numpy as np

from envs.core import jit
from envs.core.constants import COLOR_NAMES, OBJECT_TYPES
from envs.core.world import Episode, WorldObject, empty_room
from envs.nav_env import _DOC_COMMON, VLNEnv, VLNVectorEnv
from envs.core.task import _EPISODE_SALT, _LAYOUT_SALT, _SPLIT_CODE, Task, hash_uniforms, layout_in_split
from envs.core.mission import GOTO, check_phrasings, phrasing_group
from envs.core.outcome import room_index


class GoToObjectTask(Task):
    """A single room with ``1 + num_distractors`` objects; the mission names the target.

    Distractors often share the target's colour or type, so both words matter; no
    distractor is identical to the target. The agent starts at least two cells away
    from the target, facing a random way, so it often has to look around first.

    ``phrasings``: "train" or "heldout" phrases every split's missions with that group's
    templates (None, the default: the split's own, held-out for unseen; as ``FollowRouteTask``).

    ``compiled``: draw the candidates with the numba kernel of ``envs.tasks.goto_kernel``
    (default: whenever numba is, ``envs.core.jit``), the same episodes as ``_draw``.
    """

    def __init__(self, room_size: tuple[int, int] = (5, 7), num_distractors: tuple[int, int] = (1, 5), max_steps: int = 40,
                 compiled: bool | None = None, phrasings: str | None = None) -> None:
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
        self.phrasings = check_phrasings(phrasings)
        self.room_size, self.num_distractors = (lo, hi), (d_lo, d_hi)
        self.max_grid = (hi + 2, hi + 2)
        self.max_objects = 1 + d_hi
        self.default_max_steps = int(max_steps)
        self.compiled = jit.ENABLED if compiled is None else bool(compiled) and jit.AVAILABLE

    def _candidates(self, seeds, split, attempts):
        """Draw candidates for the whole batch with array operations (see ``_draw``).

        Like ``Task._candidate``, each seed takes its first attempt (from ``attempts`` on)
        whose layout belongs to the split. Several attempts per seed are drawn at once
        (about one in four layouts is held out), and their layout keys are checked in
        attempt order, so only the chosen candidates become ``Episode`` objects.
        """
        n = len(seeds)
        seeds = np.array([s & _U64 for s in seeds], np.uint64)
        attempts = np.array(attempts, np.int64)
        per = 12 if split == "unseen" else 4
        if self.compiled:
            return self._compiled_candidates(seeds, attempts, split, 1000 // per * per)
        out: list[Episode | None] = [None] * n
        todo = np.arange(n)
        for _ in range(1000 // per):
            tries = (attempts[todo, None] + np.arange(per)).reshape(-1)
            cand = self._draw(np.repeat(seeds[todo], per), tries, split)
            rejected = []
            for j, i in enumerate(todo.tolist()):
                for c in range(j * per, (j + 1) * per):
                    if cand["ok"][c] and layout_in_split(self._layout_key(cand, c), split):
                        out[i] = self._episode(cand, c, split)
                        attempts[i] = tries[c]
                        break
                else:
                    rejected.append(i)
            if not rejected:
                return out, attempts.tolist()
            todo = np.array(rejected)
            attempts[todo] += per
        raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts")

    def _compiled_candidates(self, seeds: np.ndarray, attempts: np.ndarray, split: str,
                             max_attempts: int) -> tuple[list[Episode], list[int]]:
        """``_candidates`` from one kernel call (``envs.tasks.goto_kernel``): the same candidates."""
        from envs.core.crc_kernel import CRC_TABLE
        from envs.tasks.goto_kernel import draw_candidates

        n, k = len(seeds), self.max_objects
        h, w, n_objects = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
        objects = np.empty((n, k, 4), np.int16)
        start = np.empty((n, 2), np.int64)
        start_dir, phrasing = np.empty(n, np.int64), np.empty(n, np.int64)
        streams = np.array([1 if split == "unseen" else 0, _SPLIT_CODE[split]], np.uint64)
        failed = draw_candidates(seeds, attempts, max_attempts, np.array([_LAYOUT_SALT, _EPISODE_SALT], np.uint64), streams,
                                 *self.room_size, *self.num_distractors, N_TYPES, N_COLORS,
                                 len(GOTO[phrasing_group(split, self.phrasings)]), CRC_TABLE, h, w, n_objects, objects, start, start_dir,
                                 phrasing)
        if failed >= 0:
            raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts")
        cand = {"h": h.tolist(), "w": w.tolist(), "n_objects": n_objects.tolist(), "objects": objects,
                "start": start.tolist(), "start_dir": start_dir.tolist(), "phrasing": phrasing.tolist()}
        return [self._episode(cand, c, split) for c in range(n)], attempts.tolist()

    def _draw(self, seeds: np.ndarray, attempts: np.ndarray, split: str) -> dict:
        """Candidates for each (seed, attempt) pair, as arrays: every random choice is made
        for the whole batch at once.

        The layout (room size, objects and their cells) comes from the layout stream, which
        train and val-seen share; the start, heading and phrasing from the split's episode
        stream. Each choice reads fixed columns of ``hash_uniforms``, so a candidate depends
        only on its own (seed, split, attempt).
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
        np.put_along_axis(taken, picks, np.arange(k)[None] < n_objects[:, None], axis=1)
        far = np.maximum(np.abs(row[None] + 1 - obj_row[:, :1]), np.abs(col[None] + 1 - obj_col[:, :1])) >= 2
        start_keys = np.where(in_room & ~taken & far, epi[:, 2:], 2.0)
        start = start_keys.argmin(axis=1)
        # (row, col, type, colour) per object, as ``Episode.layout_key`` hashes them.
        objects = np.stack([obj_row, obj_col, *np.divmod(kind, N_COLORS)], axis=-1).astype(np.int16)
        return {
            "ok": (start_keys[np.arange(n), start] < 2.0).tolist(),  # a start cell exists
            "h": h.tolist(), "w": w.tolist(), "n_objects": n_objects.tolist(), "objects": objects,
            "start": np.stack([row[start] + 1, col[start] + 1], axis=1).tolist(),
            "start_dir": _below(epi[:, 0], 4).tolist(),
            "phrasing": _below(epi[:, 1], len(GOTO[phrasing_group(split, self.phrasings)])).tolist(),
        }

    def _layout_key(self, cand: dict, c: int) -> int:
        """``Episode.layout_key()`` of candidate ``c``, without building the episode."""
        _, _, room_crc = _empty_room(cand["h"][c], cand["w"][c])
        return zlib.crc32(cand["objects"][c, : cand["n_objects"][c]].tobytes(), room_crc)

    def _episode(self, cand: dict, c: int, split: str) -> Episode:
        grid, doors, _ = _empty_room(cand["h"][c], cand["w"][c])
        objects = [WorldObject(*o) for o in cand["objects"][c, : cand["n_objects"][c]].tolist()]
        mission = GOTO[phrasing_group(split, self.phrasings)][cand["phrasing"][c]].format(obj=objects[0].description)
        # One room (0) and the distractor count, for the end-of-episode outcome keys (envs.core.outcome).
        extras = {"room_of": _room_of(cand["h"][c], cand["w"][c]), "end_info": {"num_distractors": len(objects) - 1}}
        return Episode(grid.copy(), doors.copy(), objects, 0, tuple(cand["start"][c]), cand["start_dir"][c],
                       mission, self.default_max_steps, extras=extras)


N_TYPES, N_COLORS = len(OBJECT_TYPES), len(COLOR_NAMES)
_U64 = (1 << 64) - 1
_ROOMS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] = {}


def _empty_room(h: int, w: int) -> tuple[np.ndarray, np.ndarray, int]:
    """An empty room's grid and door colours (shared: copy before changing them) and their
    crc32, the room's share of ``Episode.layout_key``; cached by size."""
    room = _ROOMS.get((h, w))
    if room is None:
        grid = empty_room(h, w)
        doors = np.full(grid.shape, -1, np.int8)
        room = _ROOMS[h, w] = (grid, doors, zlib.crc32(doors.tobytes(), zlib.crc32(grid.tobytes())))
    return room


_ROOM_OF: dict[tuple[int, int], np.ndarray] = {}


def _room_of(h: int, w: int) -> np.ndarray:
    """The room index of an ``h`` x ``w`` room's grid (0 inside, -1 on the walls); shared and read-only."""
    room_of = _ROOM_OF.get((h, w))
    if room_of is None:
        room_of = _ROOM_OF[h, w] = room_index((h + 2, w + 2), [(1, 1, h, w)])
        room_of.setflags(write=False)
    return room_of


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
    ``fov_deg=90``, ``reward_shaping=False``, ``render_mode=None | "rgb_array"``, ``vfov_deg=None``
    (square pixels), ``expert="shortest" | "in_view" | "scanning"`` (``info["expert_action"]``: the
    shortest path; as short in cells with the goal kept in view; or that, after turning left until
    the goal has been in view; ``envs.core.in_view_expert``), ``phrasings=None | "train" | "heldout"``
    (the missions' templates; None: the split's own, held-out for unseen).
    """

    def __init__(self, split: str = "train", room_size=(5, 7), num_distractors=(1, 5), max_steps: int = 40,
                 view_size: int = 64, fov_deg: float = 90.0, reward_shaping: bool = False, render_mode: str | None = None,
                 vfov_deg: float | None = None, expert: str = "shortest", phrasings: str | None = None) -> None:
        super().__init__(GoToObjectTask(room_size, num_distractors, max_steps, phrasings=phrasings), split, view_size, fov_deg, max_steps,
                         reward_shaping, render_mode, vfov_deg, expert)


class GoToObjectVectorEnv(VLNVectorEnv):
    """``num_envs`` GoToObject episodes stepped and rendered as one batch (see ``GoToObjectEnv``)."""

    def __init__(self, num_envs: int = 8, split: str = "train", room_size=(5, 7), num_distractors=(1, 5), max_steps: int = 40,
                 view_size: int = 64, fov_deg: float = 90.0, reward_shaping: bool = False, render_mode: str | None = None,
                 vfov_deg: float | None = None, expert: str = "shortest", phrasings: str | None = None) -> None:
        super().__init__(GoToObjectTask(room_size, num_distractors, max_steps, phrasings=phrasings), num_envs, split, view_size, fov_deg,
                         max_steps, reward_shaping, render_mode, vfov_deg, expert)
