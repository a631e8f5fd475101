"""Shortest-path expert over (cell, heading), computed for a whole batch at once.

The agent moves one cell forward or turns 90 degrees; each action costs one step, so the
optimal plan is a breadth-first search over cell x heading. We run it backwards from the
goal region as a vectorised relaxation over all envs being reset, once per episode; after
that every expert action is a table lookup (also from states the agent strayed into, so
DAgger can label any state).
"""

from __future__ import annotations

import numpy as np

from envs.core.constants import DIR_VEC, FORWARD, LEFT, RIGHT, STOP

UNREACHABLE = np.int16(10_000)
DIR_VEC_LIST = [tuple(int(v) for v in d) for d in DIR_VEC]


def _shift_from(arr: np.ndarray, d_row: int, d_col: int, fill) -> np.ndarray:
    """out[..., r, c] = arr[..., r + d_row, c + d_col] (``fill`` outside the grid)."""
    out = np.full_like(arr, fill)
    h, w = arr.shape[-2:]
    rs_dst = slice(max(-d_row, 0), h - max(d_row, 0))
    cs_dst = slice(max(-d_col, 0), w - max(d_col, 0))
    rs_src = slice(max(d_row, 0), h - max(-d_row, 0))
    cs_src = slice(max(d_col, 0), w - max(-d_col, 0))
    out[..., rs_dst, cs_dst] = arr[..., rs_src, cs_src]
    return out


def action_distances(blocked: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Fewest actions before STOP from every (heading, cell), for a batch of grids.

    Args:
        blocked: (B, H, W) bool, cells the agent cannot enter.
        goal: (B, H, W) bool, cells where the expert stops (any heading), or
            (B, 4, H, W) bool, (heading, cell) states where it stops.

    Returns:
        (B, 4, H, W) int16; ``UNREACHABLE`` where the goal cannot be reached.
    """
    b, h, w = blocked.shape
    free = ~blocked
    dist = np.full((b, 4, h, w), UNREACHABLE, dtype=np.int16)
    goal4 = goal if goal.ndim == 4 else np.broadcast_to(goal[:, None], dist.shape)
    dist[goal4 & free[:, None]] = 0
    # Forward moves are possible only into free cells: precompute per heading.
    fwd_free = np.stack([_shift_from(free, int(dr), int(dc), False) for dr, dc in DIR_VEC], axis=1)
    fwd_free &= free[:, None]
    while True:
        fwd = np.stack(
            [_shift_from(dist[:, k], int(dr), int(dc), UNREACHABLE) for k, (dr, dc) in enumerate(DIR_VEC)],
            axis=1,
        )
        fwd = np.where(fwd_free, fwd + 1, UNREACHABLE)
        turn = np.minimum(np.roll(dist, 1, axis=1), np.roll(dist, -1, axis=1)) + 1
        new = np.minimum(dist, np.minimum(fwd, turn))
        new = np.minimum(new, UNREACHABLE)
        new[np.broadcast_to(blocked[:, None], new.shape)] = UNREACHABLE
        if np.array_equal(new, dist):
            return dist
        dist = new


def cell_distances(blocked: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Geodesic distance in cells (4-neighbour moves) to the goal region, (B, H, W) int16."""
    free = ~blocked
    dist = np.where(goal, 0, UNREACHABLE).astype(np.int16)
    while True:
        best = dist
        for dr, dc in DIR_VEC:
            best = np.minimum(best, _shift_from(dist, int(dr), int(dc), UNREACHABLE) + 1)
        best = np.where(free, np.minimum(best, UNREACHABLE), UNREACHABLE).astype(np.int16)
        if np.array_equal(best, dist):
            return dist
        dist = best


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


def expert_path(dist: np.ndarray, start: tuple[int, int], start_dir: int) -> list[tuple[int, int]]:
    """The cells the expert visits from ``start`` until it stops (one env's (4, H, W) field).

    Same choices as ``expert_actions`` (forward, then left, then right), walked in plain
    Python on a list copy: this runs once per finished episode, where numpy's per-call
    overhead would dominate.
    """
    field = dist.tolist()
    row, col, d = int(start[0]), int(start[1]), int(start_dir)
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
