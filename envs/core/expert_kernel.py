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
def search_distances(blocked, targets, unreachable, out):
    """Breadth-first searches backwards from the free ``targets`` states, one env at a time.

    ``blocked`` (B, H, W) bool. With ``targets`` (B, 4, H, W) bool the states are
    (heading, cell), and ``out`` (B, 4, H, W) int16 is the fewest actions before STOP: a
    state's predecessors are the two turns into it in the same cell and the forward move
    into its cell from behind. With ``targets`` (B, 1, H, W) the states are cells, and
    ``out`` (B, 1, H, W) the geodesic distance in 4-neighbour moves. ``unreachable`` where
    no target can be reached. (Flat views of each env's arrays, and the queue holds
    (heading, row, col) apart: numba's n-d slice fills and integer divisions cost several
    times more.)
    """
    b_n, h, w = blocked.shape
    hw = h * w
    headings = targets.shape[1]
    q_k = np.empty(headings * hw, np.int64)
    q_r = np.empty(headings * hw, np.int64)
    q_c = np.empty(headings * hw, np.int64)
    for b in range(b_n):
        dist = out[b].ravel()
        wall = blocked[b].ravel()
        target = targets[b].ravel()
        tail = 0
        for k in range(headings):  # the sources: distance 0 at free targets
            for r in range(h):
                for c in range(w):
                    s = (k * h + r) * w + c
                    if target[s] and not wall[r * w + c]:
                        dist[s] = 0
                        q_k[tail], q_r[tail], q_c[tail] = k, r, c
                        tail += 1
                    else:
                        dist[s] = unreachable
        head = 0
        while head < tail:
            k, r0, c0 = q_k[head], q_r[head], q_c[head]
            head += 1
            nd = dist[(k * h + r0) * w + c0] + 1
            if headings == 4:
                for j in ((k + 1) % 4, (k + 3) % 4):  # turned into heading k from j
                    t = (j * h + r0) * w + c0
                    if dist[t] == unreachable:
                        dist[t] = nd
                        q_k[tail], q_r[tail], q_c[tail] = j, r0, c0
                        tail += 1
            for m in range(4):  # moved into the cell from the one behind (heading k only, for actions)
                if headings == 4 and m != k:
                    continue
                r = r0 - _D_ROW[m]
                c = c0 - _D_COL[m]
                if 0 <= r < h and 0 <= c < w and not wall[r * w + c]:
                    t = (k * h + r) * w + c
                    if dist[t] == unreachable:
                        dist[t] = nd
                        q_k[tail], q_r[tail], q_c[tail] = k, r, c
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


@kernel
def expert_paths_walk(dist, starts, out, lengths):
    """``expert_path_walk`` for a batch: ``dist`` (B, 4, H, W), ``starts`` (B, 3) (row, col,
    heading); the paths into ``out`` (B, L, 2), their lengths into ``lengths``."""
    for b in range(dist.shape[0]):
        lengths[b] = expert_path_walk(dist[b], starts[b, 0], starts[b, 1], starts[b, 2], out[b])


@kernel
def waypoint_walk(dist, door, goals, unreachable, out):
    """``envs.core.in_view_expert.waypoints``: cells settled in order of ``dist`` (a stable
    sort of each env's cells), each from its first closer neighbour (headings in order)."""
    b_n, h, w = dist.shape
    for b in range(b_n):
        flat = dist[b].ravel()
        order = np.argsort(flat, kind="mergesort")
        for s in order:
            r, c = s // w, s % w
            d = flat[s]
            out[b, r, c, 0], out[b, r, c, 1] = goals[b, 0], goals[b, 1]
            if d == 0 or d >= unreachable:
                continue
            if door[b, r, c]:
                out[b, r, c, 0], out[b, r, c, 1] = r, c
                continue
            for k in range(4):
                nr, nc = r + _D_ROW[k], c + _D_COL[k]
                if 0 <= nr < h and 0 <= nc < w and dist[b, nr, nc] == d - 1:
                    out[b, r, c, 0], out[b, r, c, 1] = out[b, nr, nc, 0], out[b, nr, nc, 1]
                    break


@kernel
def target_views(grid, stop_dist, waypoint, goals, rows, cols, dirs, tan_half, tan_sector, samples, wall, out):
    """``envs.core.in_view_expert.target_view``, env by env: the same float operations, and the
    line of sight given up at its first wall."""
    for b in range(len(rows)):
        r, c, h = rows[b], cols[b], dirs[b]
        if stop_dist[b, r, c] == 0:
            tr, tc = goals[b, 0], goals[b, 1]
        else:
            tr, tc = waypoint[b, r, c, 0], waypoint[b, r, c, 1]
        vr, vc = tr - r, tc - c
        h2 = (h + 1) % 4
        ahead = float(vr * _D_ROW[h] + vc * _D_COL[h])
        right = float(vr * _D_ROW[h2] + vc * _D_COL[h2])
        out[b] = 0
        if not (ahead > 0 and abs(right) <= ahead * tan_half):
            continue
        visible = True
        for k in range(1, samples + 1):
            t = k / (samples + 1)
            pr = int(np.floor(r + 0.5 + t * vr))
            pc = int(np.floor(c + 0.5 + t * vc))
            if grid[b, pr, pc] == wall and abs(pr - tr) + abs(pc - tc) != 1:
                visible = False
                break
        if visible:
            out[b] = 1 if right < -ahead * tan_sector else (3 if right > ahead * tan_sector else 2)
