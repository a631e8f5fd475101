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
    same cell and the forward move into its cell from behind. (Flat views of each env's
    arrays: numba's n-d slice fills and indexing cost several times more.)
    """
    b_n, h, w = blocked.shape
    hw = h * w
    queue = np.empty(4 * hw, np.int64)
    for b in range(b_n):
        dist = out[b].ravel()
        stop = stops[b].ravel()
        wall = blocked[b].ravel()
        tail = 0
        for s in range(4 * hw):
            if stop[s] and not wall[s % hw]:
                dist[s] = 0
                queue[tail] = s
                tail += 1
            else:
                dist[s] = unreachable
        head = 0
        while head < tail:
            s = queue[head]
            head += 1
            k = s // hw
            cell = s - k * hw
            nd = dist[s] + 1
            for j in ((k + 1) % 4, (k + 3) % 4):  # turned into heading k from j
                t = j * hw + cell
                if dist[t] == unreachable:
                    dist[t] = nd
                    queue[tail] = t
                    tail += 1
            r = cell // w - _D_ROW[k]  # stepped forward into the cell from the one behind
            c = cell % w - _D_COL[k]
            if 0 <= r < h and 0 <= c < w and not wall[r * w + c]:
                t = k * hw + r * w + c
                if dist[t] == unreachable:
                    dist[t] = nd
                    queue[tail] = t
                    tail += 1


@kernel
def cell_distances_bfs(blocked, goal, unreachable, out):
    """Geodesic cells (4-neighbour moves) to the free ``goal`` cells: ``out`` (B, H, W) int16."""
    b_n, h, w = blocked.shape
    queue = np.empty(h * w, np.int64)
    for b in range(b_n):
        dist = out[b].ravel()
        target = goal[b].ravel()
        wall = blocked[b].ravel()
        tail = 0
        for s in range(h * w):
            if target[s] and not wall[s]:
                dist[s] = 0
                queue[tail] = s
                tail += 1
            else:
                dist[s] = unreachable
        head = 0
        while head < tail:
            s = queue[head]
            head += 1
            nd = dist[s] + 1
            for k in range(4):
                r = s // w + _D_ROW[k]
                c = s % w + _D_COL[k]
                if 0 <= r < h and 0 <= c < w and not wall[r * w + c] and dist[r * w + c] == unreachable:
                    dist[r * w + c] = nd
                    queue[tail] = r * w + c
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
