"""The raycaster's compiled kernel: one loop over envs and columns that touches each pixel once.

It draws exactly what ``RaycastRenderer``'s NumPy path draws, byte for byte, from the same
tables (the precomputed ray walks, the pre-shaded wall columns, the sprite masks): the
same float operations in the same order, no fastmath. Only eyes at cell centres facing
a grid axis come here (the envs' case); the NumPy path draws any other scene.
"""

from __future__ import annotations

import numpy as np

from envs.core.constants import DOOR, WALL
from envs.core.jit import kernel

OBJECT_HEIGHT = 0.55  # as in raycast.py (kept here so the kernel module imports nothing of it)
LINTEL = 0.3


@kernel
def _shade(depth: float) -> float:
    return min(max(1.15 / (1.0 + 0.12 * depth), 0.35), 1.0)


@kernel
def render_frames(grid, door_color, rows, cols, heading, pos, obj_pos, obj_type, obj_color,  # noqa: C901
                  walk_off, walk_depth, walk_wall, wall_columns, wall_rows, background, sprite_alpha, sprite_rows,
                  colors, focal, focal_x, tan_half, max_sprite, out):
    """Draw (B, H, W, 3) uint8 ``out`` for envs at (``rows``, ``cols``) facing ``heading``.

    ``walk_off`` (4, W, S, 2), ``walk_depth`` and ``walk_wall`` (4, W, S): the ray walks of
    ``RaycastRenderer._walk_table``; ``wall_columns`` (index, H, 3), with ``wall_rows``
    (index, 2) the rows where a column differs from ``background`` (H, W, 3), the frame
    without walls; ``sprite_alpha`` (types, sizes, TEX, H), with ``sprite_rows`` (sizes, 2)
    the rows a sprite of that size can cover; ``colors`` (n, 3) uint8.

    Each frame starts as a copy of the background; then only the rows that differ are
    written (the exact tests stay inside the narrowed loops, so the bytes do not change).
    """
    b_n, gh, gw = grid.shape
    _, h, w, _ = out.shape
    n_steps = walk_off.shape[2]
    tex = sprite_alpha.shape[2]
    k_n = obj_type.shape[1]
    zbuf = np.empty(w)
    door_depth = np.empty(w)
    door_col = np.empty(w, np.int64)
    wall_idx = np.empty(w, np.int64)
    order = np.empty(k_n, np.int64)
    bg = background.ravel()
    obj_depth = np.empty(k_n)
    obj_lat = np.empty(k_n)
    for b in range(b_n):
        hd = heading[b]
        r0, c0 = rows[b], cols[b]
        # Rays: the first wall along each precomputed walk (outside the grid counts as
        # wall), and the first door in front of it.
        has_door = False
        for x in range(w):
            s_door = -1
            s = 0
            while s < n_steps:
                r = r0 + walk_off[hd, x, s, 0]
                c = c0 + walk_off[hd, x, s, 1]
                if r < 0 or r >= gh or c < 0 or c >= gw:
                    break
                code = grid[b, r, c]
                if code == WALL:
                    break
                if code == DOOR and s_door < 0:
                    s_door = s
                s += 1
            zbuf[x] = walk_depth[hd, x, s]
            wall_idx[x] = walk_wall[hd, x, s]
            if s_door >= 0:
                has_door = True
                door_depth[x] = walk_depth[hd, x, s_door]
                door_col[x] = door_color[b, r0 + walk_off[hd, x, s_door, 0], c0 + walk_off[hd, x, s_door, 1]]
            else:
                door_col[x] = -1
        # Walls: the background, then each column's rows that its table column changes.
        frame = out[b].ravel()  # a view: ``out`` is C-contiguous
        for i in range(bg.size):  # (a flat loop: a 3-d slice assignment is several times slower)
            frame[i] = bg[i]
        for x in range(w):
            i = wall_idx[x]
            lo, hi = wall_rows[i, 0], wall_rows[i, 1]
            if lo >= hi:
                continue
            # Within its rows a wall column is one colour (its shade depends on the depth alone).
            c_r, c_g, c_b = wall_columns[i, lo, 0], wall_columns[i, lo, 1], wall_columns[i, lo, 2]
            col = out[b, :, x]
            for y in range(lo, hi):
                col[y, 0] = c_r
                col[y, 1] = c_g
                col[y, 2] = c_b
        # Door lintels at the door's depth.
        if has_door:
            for x in range(w):
                if door_col[x] < 0:
                    continue
                dd = max(door_depth[x], 1e-3)
                line = focal / dd
                top = h / 2.0 - line / 2.0
                bottom = top + LINTEL * line
                g = _shade(dd)
                c_r = np.uint8(int(colors[door_col[x], 0] * g))
                c_g = np.uint8(int(colors[door_col[x], 1] * g))
                c_b = np.uint8(int(colors[door_col[x], 2] * g))
                for y in range(max(int(np.floor(top)) - 1, 0), min(int(np.ceil(bottom)) + 1, h)):
                    yc = y + 0.5
                    if yc >= top and yc < bottom:
                        out[b, y, x, 0] = c_r
                        out[b, y, x, 1] = c_g
                        out[b, y, x, 2] = c_b
        # Sprites, far to near (ties: lower object slot first), hidden behind nearer walls.
        d_r = 1.0 if hd == 1 else (-1.0 if hd == 3 else 0.0)
        d_c = 1.0 if hd == 0 else (-1.0 if hd == 2 else 0.0)
        p_r = d_c * tan_half
        p_c = -d_r * tan_half
        n_vis = 0
        for k in range(k_n):
            if obj_type[b, k] < 0:
                continue
            rel_r = obj_pos[b, k, 0] - pos[b, 0]
            rel_c = obj_pos[b, k, 1] - pos[b, 1]
            depth = rel_r * d_r + rel_c * d_c
            if not depth > 0.2:
                continue
            obj_depth[k] = depth
            obj_lat[k] = (rel_r * p_r + rel_c * p_c) / tan_half
            j = n_vis
            while j > 0 and obj_depth[order[j - 1]] < depth:
                order[j] = order[j - 1]
                j -= 1
            order[j] = k
            n_vis += 1
        for i in range(n_vis):
            k = order[i]
            sd = obj_depth[k]
            center_x = w / 2.0 * (1.0 + obj_lat[k] / (sd * tan_half))
            size = min(np.rint(focal / sd * OBJECT_HEIGHT), float(max_sprite))
            width = np.rint(focal_x / sd * OBJECT_HEIGHT)
            left = center_x - width / 2.0
            span = max(width, 1.0)
            shade = _shade(sd)
            t = obj_type[b, k]
            col = obj_color[b, k]
            s_i = int(size)
            # Columns where 0 <= u < 1, with a margin (the exact test follows).
            x_lo = max(int(max(np.floor(left - 0.5), -1.0)) - 1, 0)
            x_hi = min(int(min(np.ceil(left + span), w + 1.0)) + 1, w)
            for x in range(x_lo, x_hi):
                uu = (x + 0.5 - left) / span
                if not (uu >= 0 and uu < 1 and sd < zbuf[x]):
                    continue
                u_idx = min(int(uu * tex), tex - 1)
                gain = shade * (1.0 - 0.25 * abs(uu - 0.4))
                c_r = np.uint8(int(colors[col, 0] * gain))
                c_g = np.uint8(int(colors[col, 1] * gain))
                c_b = np.uint8(int(colors[col, 2] * gain))
                for y in range(sprite_rows[s_i, 0], sprite_rows[s_i, 1]):
                    if sprite_alpha[t, s_i, u_idx, y]:
                        out[b, y, x, 0] = c_r
                        out[b, y, x, 1] = c_g
                        out[b, y, x, 2] = c_b
