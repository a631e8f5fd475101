"""The expert's distance tables as compiled breadth-first searches (numba).

The same tables as ``envs.core.expert``'s NumPy relaxations, which converge to the exact
shortest distances: a breadth-first search from the goal states finds those directly,
visiting each state once.
"""

from __future__ import annotations

import numpy as np

from envs.core.jit import kernel

# (d_row, d_col) of headings 0 east, 1 south, 2 west, 3 north (DIR_VEC).
_D_ROW = (0, 1, 0, -1)
_D_COL = (1, 0, -1, 0)


@kernel
def action_distances_bfs(blocked, stops, unreachable, out):
    """Fewest actions before STOP from every (heading, cell): ``out`` (B, 4, H, W) int16.

    ``blocked`` (B, H, W) bool; ``stops`` (B, 4, H, W) bool, the states where the expert
    stops. Searched backwards: a state's predecessors are the two turns into it in the
    same cell and the forward move into its cell from behind.
    """
    b_n, h, w = blocked.shape
    d_row = np.array(_D_ROW)
    d_col = np.array(_D_COL)
    queue = np.empty(4 * h * w, np.int64)
    for b in range(b_n):
        out[b] = unreachable
        head = 0
        tail = 0
        for k in range(4):
            for r in range(h):
                for c in range(w):
                    if stops[b, k, r, c] and not blocked[b, r, c]:
                        out[b, k, r, c] = 0
                        queue[tail] = (k * h + r) * w + c
                        tail += 1
        while head < tail:
            s = queue[head]
            head += 1
            k = s // (h * w)
            r = (s // w) % h
            c = s % w
            nd = out[b, k, r, c] + 1
            for j in ((k + 1) % 4, (k + 3) % 4):  # turned into heading k from j
                if out[b, j, r, c] == unreachable:
                    out[b, j, r, c] = nd
                    queue[tail] = (j * h + r) * w + c
                    tail += 1
            pr = r - d_row[k]  # stepped forward into (r, c) from the cell behind
            pc = c - d_col[k]
            if 0 <= pr < h and 0 <= pc < w and not blocked[b, pr, pc] and out[b, k, pr, pc] == unreachable:
                out[b, k, pr, pc] = nd
                queue[tail] = (k * h + pr) * w + pc
                tail += 1


@kernel
def cell_distances_bfs(blocked, goal, unreachable, out):
    """Geodesic cells (4-neighbour moves) to the free ``goal`` cells: ``out`` (B, H, W) int16."""
    b_n, h, w = blocked.shape
    d_row = np.array(_D_ROW)
    d_col = np.array(_D_COL)
    queue = np.empty(h * w, np.int64)
    for b in range(b_n):
        out[b] = unreachable
        head = 0
        tail = 0
        for r in range(h):
            for c in range(w):
                if goal[b, r, c] and not blocked[b, r, c]:
                    out[b, r, c] = 0
                    queue[tail] = r * w + c
                    tail += 1
        while head < tail:
            s = queue[head]
            head += 1
            r = s // w
            c = s % w
            nd = out[b, r, c] + 1
            for k in range(4):
                nr = r + d_row[k]
                nc = c + d_col[k]
                if 0 <= nr < h and 0 <= nc < w and not blocked[b, nr, nc] and out[b, nr, nc] == unreachable:
                    out[b, nr, nc] = nd
                    queue[tail] = nr * w + nc
                    tail += 1


@kernel
def expert_path_walk(dist, row, col, d, out):
    """The cells the expert visits from (``row``, ``col``) facing ``d`` until it stops, into
    ``out`` (n, 2); returns n. ``expert_path``'s choices: forward, then left, then right."""
    _, h, w = dist.shape
    d_row = np.array(_D_ROW)
    d_col = np.array(_D_COL)
    here = dist[d, row, col]
    out[0, 0], out[0, 1] = row, col
    n = 1
    while here > 0:
        nr = row + d_row[d]
        nc = col + d_col[d]
        if 0 <= nr < h and 0 <= nc < w and dist[d, nr, nc] == here - 1:
            row, col = nr, nc
            out[n, 0], out[n, 1] = row, col
            n += 1
        elif dist[(d + 3) % 4, row, col] == here - 1:
            d = (d + 3) % 4
        else:
            d = (d + 1) % 4
        here = dist[d, row, col]
    return n
