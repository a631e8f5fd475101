"""Shortest-path expert over (cell, heading), computed for a whole batch at once.

The agent moves one cell forward or turns 90 degrees; each action costs one step, so the
optimal plan is a breadth-first search over cell x heading. We run it backwards from the
goal region as a vectorised relaxation over all envs being reset, once per episode; after
that every expert action is a table lookup (also from states the agent strayed into, so
DAgger can label any state). With numba, the tables come from the compiled breadth-first
searches of ``envs.core.expert_kernel`` instead (the same exact distances, found directly);
the NumPy relaxations stay as the fallback and the tests' oracle.
"""

from __future__ import annotations

import numpy as np

from envs.core import jit
from envs.core.constants import DIR_VEC, FORWARD, LEFT, RIGHT, STOP

UNREACHABLE = np.int16(10_000)
DIR_VEC_LIST = [tuple(int(v) for v in d) for d in DIR_VEC]


# Segment offsets of the line sweeps: larger than any distance plus any line length, so a
# running minimum never carries a value across a blocked cell (see ``_line_sweeps``).
_SEGMENT = 1 << 16


def _oriented(arr: np.ndarray, heading: int) -> np.ndarray:
    """A view of (..., H, W) ``arr`` whose axis -1 runs against ``heading``'s moves.

    Seen through this view, a forward move always goes from index i to index i - 1 of
    the last axis, so one running minimum along it relaxes every forward chain at once.
    """
    if heading in (1, 3):  # south / north: lines are columns
        arr = np.swapaxes(arr, -1, -2)
    return arr[..., ::-1] if heading in (0, 1) else arr  # east / south move up the index: reverse


class _LineSweeps:
    """Exact relaxation of straight moves along all lines of a grid, for one heading.

    Along a run of free cells, a state i steps forward to i - 1 (in the ``_oriented``
    view) at cost 1, so ``dist[i] = min over j <= i in the run of dist[j] + (i - j)``:
    a running minimum of ``dist[j] - j``. Offsetting each run by a multiple of
    ``_SEGMENT`` (later runs lower) keeps the minimum from crossing blocked cells.
    """

    def __init__(self, free: np.ndarray, heading: int) -> None:
        free_o = _oriented(free, heading)
        n = free_o.shape[-1]
        run = np.cumsum(~free_o, axis=-1, dtype=np.int32)  # a blocked cell starts a new run
        self.heading = heading
        self.offset = np.arange(n, dtype=np.int32) + run * _SEGMENT

    def __call__(self, dist: np.ndarray) -> None:
        """Relax ``dist`` ((B, H, W) int32, blocked cells ``UNREACHABLE``) in place.

        The running minimum includes each cell itself, so it never raises a value; a
        blocked cell opens its run, so it is never lowered either.
        """
        view = _oriented(dist, self.heading)
        best = view - self.offset
        np.minimum.accumulate(best, axis=-1, out=best)
        np.add(best, self.offset, out=view)


def action_distances(blocked: np.ndarray, goal: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """Fewest actions before STOP from every (heading, cell), for a batch of grids.

    Args:
        blocked: (B, H, W) bool, cells the agent cannot enter.
        goal: (B, H, W) bool, cells where the expert stops (any heading), or
            (B, 4, H, W) bool, (heading, cell) states where it stops.

        compiled: search with the numba kernel (default: whenever numba is, ``envs.core.jit``).

    Returns:
        (B, 4, H, W) int16; ``UNREACHABLE`` where the goal cannot be reached.

    Alternates two exact relaxations until nothing changes: every straight run of
    forward moves of one heading (``_LineSweeps``), then turning to that heading from the
    others. Each round extends paths by whole straight segments, so it takes about as
    many rounds as an optimal path has turns, not as many as it has steps. Blocked states
    stay ``UNREACHABLE``: sweeps never lower them, and turning in a blocked cell only
    offers values from other blocked states of the same cell.
    """
    b, h, w = blocked.shape
    goal4 = goal if goal.ndim == 4 else np.broadcast_to(goal[:, None], (b, 4, h, w))
    if jit.ENABLED if compiled is None else compiled:
        from envs.core.expert_kernel import search_distances

        out = np.empty((b, 4, h, w), np.int16)
        search_distances(np.ascontiguousarray(blocked, bool), np.ascontiguousarray(goal4, bool), UNREACHABLE, out)
        return out
    free = ~blocked
    dist = np.where(goal4 & free[:, None], np.int32(0), np.int32(UNREACHABLE))
    sweeps = [_LineSweeps(free, k) for k in range(4)]
    # turns[k][j]: quarter turns between headings k and j, each costing one action.
    turns = [np.array([0, 1, 2, 1], np.int32)[(np.arange(4) - k) % 4][None, :, None, None] for k in range(4)]
    # Relaxations only ever lower values, so an unchanged sum means nothing changed.
    total = None
    while True:
        for k in range(4):
            # Gauss-Seidel: the straight runs of heading k, then every heading may turn to k,
            # so the next heading's sweep already builds on them.
            sweeps[k](dist[:, k])
            np.minimum(dist, dist[:, k : k + 1] + turns[k], out=dist)
        new_total = int(dist.sum(dtype=np.int64))
        if new_total == total:
            return dist.astype(np.int16)
        total = new_total


def cell_distances(blocked: np.ndarray, goal: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """Geodesic distance in cells (4-neighbour moves) to the free cells of the goal region, (B, H, W) int16.

    Gauss-Seidel line sweeps in the four directions until nothing changes: each round
    extends paths by a straight segment (or, ``compiled``, the kernel's breadth-first search).
    """
    if jit.ENABLED if compiled is None else compiled:
        from envs.core.expert_kernel import search_distances

        b, h, w = blocked.shape
        out = np.empty((b, 1, h, w), np.int16)
        search_distances(np.ascontiguousarray(blocked, bool), np.ascontiguousarray(goal, bool).reshape(b, 1, h, w),
                         UNREACHABLE, out)
        return out[:, 0]
    free = ~blocked
    dist = np.where(goal & free, np.int32(0), np.int32(UNREACHABLE))
    sweeps = [_LineSweeps(free, k) for k in range(4)]
    total = None
    while True:
        for sweep in sweeps:
            sweep(dist)
        new_total = int(dist.sum(dtype=np.int64))
        if new_total == total:
            return dist.astype(np.int16)
        total = new_total


def expert_actions(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """The optimal action for each env of a batch from its (cell, heading).

    Ties prefer forward, then left. At a goal cell the expert stops.
    """
    idx = np.arange(dist.shape[0])
    here = dist[idx, dirs, rows, cols]
    d_row, d_col = DIR_VEC[dirs, 0], DIR_VEC[dirs, 1]
    f_rows = np.clip(rows + d_row, 0, dist.shape[2] - 1)
    f_cols = np.clip(cols + d_col, 0, dist.shape[3] - 1)
    ahead = dist[idx, dirs, f_rows, f_cols]
    left = dist[idx, (dirs - 1) % 4, rows, cols]
    action = np.full(dirs.shape, RIGHT, dtype=np.int64)
    action[left == here - 1] = LEFT
    action[(ahead == here - 1) & (here > 0)] = FORWARD
    action[here == 0] = STOP
    return action


def expert_path(dist: np.ndarray, start: tuple[int, int], start_dir: int,
                compiled: bool | None = None) -> list[tuple[int, int]]:
    """The cells the expert visits from ``start`` until it stops (one env's (4, H, W) field).

    Same choices as ``expert_actions`` (forward, then left, then right), walked by the
    compiled ``expert_path_walk`` (or, without numba, in plain Python on a list copy: this
    runs once per episode, where numpy's per-call overhead would dominate).
    """
    row, col, d = int(start[0]), int(start[1]), int(start_dir)
    if jit.ENABLED if compiled is None else compiled:
        from envs.core.expert_kernel import expert_path_walk

        if dist[d, row, col] >= UNREACHABLE:
            raise ValueError("the goal is unreachable from the start")
        out = np.empty((int(dist[d, row, col]) + 1, 2), np.int64)  # no more moves than actions
        n = expert_path_walk(np.ascontiguousarray(dist), row, col, d, out)
        return list(map(tuple, out[:n].tolist()))
    field = dist.tolist()
    here = field[d][row][col]
    if here >= UNREACHABLE:
        raise ValueError("the goal is unreachable from the start")
    path = [(row, col)]
    h, w = dist.shape[1:]
    while here > 0:
        dr, dc = DIR_VEC_LIST[d]
        nr, nc = row + dr, col + dc
        if 0 <= nr < h and 0 <= nc < w and field[d][nr][nc] == here - 1:
            row, col = nr, nc
            path.append((row, col))
        elif field[(d - 1) % 4][row][col] == here - 1:
            d = (d - 1) % 4
        else:
            d = (d + 1) % 4
        here = field[d][row][col]
    return path


def expert_paths(dist: np.ndarray, starts: np.ndarray) -> list[list[tuple[int, int]]]:
    """``expert_path`` of a batch: ``dist`` (B, 4, H, W), ``starts`` (B, 3) (row, col, heading).

    One kernel call for the whole batch where numba is (``expert_path`` per env otherwise).
    """
    starts = np.asarray(starts, np.int64).reshape(-1, 3)
    if not jit.ENABLED:
        return [expert_path(d, (r, c), h) for d, (r, c, h) in zip(dist, starts.tolist())]
    from envs.core.expert_kernel import expert_paths_walk

    here = dist[np.arange(len(starts)), starts[:, 2], starts[:, 0], starts[:, 1]]
    if (here >= UNREACHABLE).any():
        raise ValueError("the goal is unreachable from the start")
    out = np.empty((len(starts), int(here.max(initial=0)) + 1, 2), np.int64)  # no more moves than actions
    lengths = np.empty(len(starts), np.int64)
    expert_paths_walk(np.ascontiguousarray(dist), starts, out, lengths)
    return [list(map(tuple, path[:n].tolist())) for path, n in zip(out, lengths.tolist())]
