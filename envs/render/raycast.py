"""Batched first-person renderer: a DDA raycaster, compiled where numba is, else in NumPy.

One ray per image column for every env of the batch. Walls are looked up from a table of
pre-shaded columns (indexed by wall side and projected height), so the per-pixel work is
one gather and one transpose. Doors are openings: the ray walks through them and the
door's colour is drawn as a lintel at the door's distance. Objects are sprites with a
silhouette per type, drawn column by column far-to-near and hidden behind nearer walls
by the per-column depth buffer. Runs headless; no OpenGL.

With numba installed, scenes of eyes at cell centres (every env frame) are drawn by the
compiled kernel of ``envs.render.raycast_kernel`` from the same tables, byte for byte the
NumPy path's frames; the NumPy path stays for other scenes, for machines without numba,
and as the tests' oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.core import jit
from envs.core.constants import CEILING_RGB, COLORS, DIR_VEC, DOOR, FLOOR_RGB, WALL, WALL_RGB
from envs.render.sprites import SPRITE_MASKS, TEX

OBJECT_HEIGHT = 0.55  # fraction of the wall height
LINTEL = 0.3  # door lintel band, fraction of the wall height
MAX_DEPTH = 64.0


def _shade(depth: np.ndarray) -> np.ndarray:
    """Light falls off with distance (never below a floor, so far walls stay visible)."""
    return np.clip(1.15 / (1.0 + 0.12 * depth), 0.35, 1.0)


@dataclass
class SceneBatch:
    """What the renderer needs of a batch of worlds (all arrays share the leading B axis).

    grid: (B, H, W) uint8 FLOOR/WALL/DOOR; door_color: (B, H, W) int8;
    pos: (B, 2) float (row, col) of the eye, cell centres at +0.5; heading: (B,) int 0..3;
    obj_pos: (B, K, 2) float centres; obj_type, obj_color: (B, K) int (-1 = no object).
    """

    grid: np.ndarray
    door_color: np.ndarray
    pos: np.ndarray
    heading: np.ndarray
    obj_pos: np.ndarray
    obj_type: np.ndarray
    obj_color: np.ndarray


class RaycastRenderer:
    """Renders (B, height, width, 3) uint8 first-person frames for a batch of worlds.

    ``compiled``: draw through the numba kernel (default: whenever numba is importable,
    see ``envs.core.jit``); False keeps the NumPy path, the oracle the kernel is tested against.
    """

    def __init__(self, width: int = 64, height: int = 64, fov_deg: float = 90.0, vfov_deg: float | None = None,
                 compiled: bool | None = None) -> None:
        if width < 8 or height < 8:
            raise ValueError(f"view size must be at least 8x8, got {width}x{height}")
        if not 20.0 <= fov_deg <= 150.0:
            raise ValueError(f"fov_deg must be within [20, 150], got {fov_deg}")
        if vfov_deg is not None and not 20.0 <= vfov_deg <= 150.0:
            raise ValueError(f"vfov_deg must be within [20, 150], got {vfov_deg}")
        self.width, self.height, self.fov_deg = int(width), int(height), float(fov_deg)
        self.tan_half = float(np.tan(np.radians(fov_deg) / 2.0))
        # Horizontal focal length in columns: an object of unit width at unit depth spans
        # `focal_x` columns.
        self.focal_x = self.width / (2.0 * self.tan_half)
        # Vertical focal length in rows: a wall of unit height at depth d spans focal/d rows.
        # Square pixels unless a vertical field of view is given (a narrower one spends the
        # rows on the band around the horizon, where walls, doors and objects are).
        self.vfov_deg = float(vfov_deg) if vfov_deg is not None else None
        self.focal = self.focal_x if vfov_deg is None else self.height / (2.0 * float(np.tan(np.radians(vfov_deg) / 2.0)))
        self.camera_x = (2.0 * (np.arange(self.width) + 0.5) / self.width - 1.0).astype(np.float64)
        self._build_tables()
        self._walks: dict[int, dict] = {}  # DDA walks from cell centres, by walk length
        self.compiled = jit.ENABLED if compiled is None else bool(compiled) and jit.AVAILABLE

    # ------------------------------------------------------------------ tables
    def _build_tables(self) -> None:
        h = self.height
        rows = np.arange(h)[:, None]
        # Background: ceiling above the horizon, floor below, both darker far away.
        horizon = h / 2.0
        dist_to_horizon = np.abs(rows + 0.5 - horizon)
        depth = self.focal / 2.0 / np.maximum(dist_to_horizon, 0.5)
        base = np.where(rows < horizon, CEILING_RGB, FLOOR_RGB)
        self.background = (base * _shade(depth)).astype(np.uint8)  # (H, 3)
        # Wall columns: index (side, projected height in rows 0..max_h).
        self.max_h = 2 * h
        heights = np.arange(self.max_h + 1)
        top = np.floor(horizon - heights / 2.0).astype(int)
        bottom = top + heights
        inside = (rows[None, :, 0] >= top[:, None]) & (rows[None, :, 0] < bottom[:, None])  # (n_h, H)
        wall_depth = self.focal / np.maximum(heights, 1)
        cols = []
        for side_gain in (1.0, 0.78):
            rgb = WALL_RGB[None, :] * (side_gain * _shade(wall_depth))[:, None]  # (n_h, 3)
            col = np.where(inside[:, :, None], rgb[:, None, :], self.background[None].astype(np.float64))
            cols.append(col.astype(np.uint8))
        # Stored as colour planes (3, index, H): frames are drawn as planes of columns, and
        # three byte-plane transposes make the (B, H, W, 3) frames faster than moving
        # 3-byte pixels one at a time would.
        self._build_sprite_table()
        self.wall_columns = np.ascontiguousarray(np.stack(cols).reshape(2 * (self.max_h + 1), h, 3).transpose(2, 0, 1))
        # The kernel reads whole pixels, (index, H, 3), and only the rows where a column
        # differs from the background (rows [lo, hi); empty where none do).
        self._kernel_columns = np.ascontiguousarray(self.wall_columns.transpose(1, 2, 0))
        self._kernel_background = np.ascontiguousarray(np.broadcast_to(self.background[:, None], (h, self.width, 3)))
        self._kernel_wall_rows = _row_spans(self._kernel_columns != self.background[None])
        lo, hi = self._kernel_wall_rows.T  # the kernel fills those rows with their first row's colour
        inside = (rows[None, :, 0] >= lo[:, None]) & (rows[None, :, 0] < hi[:, None])
        first = self._kernel_columns[np.arange(lo.size), np.minimum(lo, h - 1)]
        assert ((self._kernel_columns == first[:, None]) | ~inside[..., None]).all()
        self._kernel_sprite_rows = _row_spans(self.sprite_alpha.transpose(1, 3, 0, 2))

    def _build_sprite_table(self) -> None:
        """Alpha of every sprite column: (type, size in rows, texture column) -> (H,) bool.

        A sprite of ``size`` rows stands on the floor at the depth where it has that size,
        so its vertical placement is a function of the size alone.
        """
        h = self.height
        self.max_sprite = int(np.ceil(self.focal / 0.2 * OBJECT_HEIGHT))
        sizes = np.arange(self.max_sprite + 1)
        floor_line = h / 2.0 + sizes / OBJECT_HEIGHT / 2.0
        top = floor_line - sizes
        rows = np.arange(h)[None, :] + 0.5
        v = (rows - top[:, None]) / np.maximum(sizes, 1)[:, None]  # (S, H)
        v_ok = (v >= 0) & (v < 1) & (sizes[:, None] > 0)
        v_idx = np.clip((v * TEX).astype(np.int64), 0, TEX - 1)
        # (types, S, H, TEX) -> (types, S, TEX, H)
        alpha = SPRITE_MASKS[:, v_idx, :] & v_ok[None, :, :, None]
        self.sprite_alpha = np.ascontiguousarray(alpha.transpose(0, 1, 3, 2))

    # ------------------------------------------------------------------ rays
    def _cast(self, scene: SceneBatch):
        """DDA over all rays. Returns per-ray perpendicular depth, side, first door depth and colour."""
        b, gh, gw = scene.grid.shape
        w = self.width
        heading = scene.heading.astype(np.int64)
        d = DIR_VEC[heading].astype(np.float64)  # (B, 2) (row, col)
        # Camera plane to the agent's right: heading east (0,1) -> south (1,0).
        plane = np.stack([d[:, 1], -d[:, 0]], axis=1) * self.tan_half
        ray = d[:, None, :] + plane[:, None, :] * self.camera_x[None, :, None]  # (B, W, 2)
        ray = ray.reshape(-1, 2)
        pos = np.repeat(scene.pos.astype(np.float64), w, axis=0)
        env = np.repeat(np.arange(b), w)
        n = b * w
        with np.errstate(divide="ignore"):
            delta = np.abs(1.0 / ray)
        cell = np.floor(pos).astype(np.int64)
        step = np.where(ray < 0, -1, 1)
        side_dist = np.where(ray < 0, (pos - cell) * delta, (cell + 1.0 - pos) * delta)
        depth = np.full(n, MAX_DEPTH)
        side = np.zeros(n, dtype=np.int64)
        door_depth = np.full(n, np.inf)
        door_col = np.full(n, -1, dtype=np.int64)
        flat_grid = scene.grid.reshape(-1)
        flat_door = scene.door_color.reshape(-1)
        active = np.arange(n)
        for _ in range(gh + gw + 2):
            if active.size == 0:
                break
            sd = side_dist[active]
            hit_row = sd[:, 0] < sd[:, 1]  # crossing a horizontal grid line first
            axis = np.where(hit_row, 0, 1)
            idx_a = np.arange(active.size)
            dist_here = sd[idx_a, axis]
            cell[active, axis] += step[active, axis]
            side_dist[active, axis] += delta[active, axis]
            r, c = cell[active, 0], cell[active, 1]
            inside = (r >= 0) & (r < gh) & (c >= 0) & (c < gw)
            flat = env[active] * gh * gw + np.clip(r, 0, gh - 1) * gw + np.clip(c, 0, gw - 1)
            code = np.where(inside, flat_grid[flat], WALL)
            is_door = (code == DOOR) & np.isinf(door_depth[active])
            if is_door.any():
                hit = active[is_door]
                door_depth[hit] = dist_here[is_door]
                door_col[hit] = flat_door[flat[is_door]]
            done = code == WALL
            if done.any():
                hit = active[done]
                depth[hit] = dist_here[done]
                side[hit] = axis[done]
                active = active[~done]
        return env, depth.reshape(b, w), side.reshape(b, w), door_depth.reshape(b, w), door_col.reshape(b, w), d, plane

    def _wall_index(self, side: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Row of ``wall_columns`` for a wall hit on ``side`` at ``depth``."""
        line = np.minimum(np.round(self.focal / np.maximum(depth, 1e-3)), self.max_h).astype(np.int64)
        return side * (self.max_h + 1) + line

    def _walk_table(self, n_steps: int) -> dict:
        """The DDA walk of every (heading, column) ray from a cell centre, ``n_steps`` long.

        Agents stand at cell centres facing one of four headings, so the cells a ray
        crosses (as offsets from the eye's cell), the distance at each crossing and the
        side it hits do not depend on where the agent is. We run the DDA of ``_cast`` once
        here, without walls and with the same float arithmetic, so casting a batch is a
        gather of the cells along these walks and a search for the first wall.
        """
        if n_steps in self._walks:
            return self._walks[n_steps]
        w = self.width
        d = DIR_VEC.astype(np.float64)  # (4, 2)
        plane = np.stack([d[:, 1], -d[:, 0]], axis=1) * self.tan_half
        ray = (d[:, None, :] + plane[:, None, :] * self.camera_x[None, :, None]).reshape(-1, 2)
        n = ray.shape[0]
        with np.errstate(divide="ignore"):
            delta = np.abs(1.0 / ray)
        step = np.where(ray < 0, -1, 1)
        side_dist = 0.5 * delta  # the eye is half a cell from the grid lines on both axes
        cell = np.zeros((n, 2), np.int64)
        offsets = np.zeros((n, n_steps, 2), np.int64)
        dist = np.zeros((n, n_steps))
        side = np.zeros((n, n_steps), np.int64)
        rays = np.arange(n)
        for s in range(n_steps):
            axis = np.where(side_dist[:, 0] < side_dist[:, 1], 0, 1)
            dist[:, s] = side_dist[rays, axis]
            cell[rays, axis] += step[rays, axis]
            side_dist[rays, axis] += delta[rays, axis]
            offsets[:, s] = cell
            side[:, s] = axis
        table = {
            "offsets": offsets.reshape(4, w, n_steps, 2),
            "depth": np.maximum(dist, 1e-3).reshape(4, w, n_steps),
            "wall_idx": self._wall_index(side, dist).reshape(4, w, n_steps),
            "flat": {},  # per padded grid width: row/col offsets as flat index offsets
        }
        self._walks[n_steps] = table
        return table

    def _cast_walks(self, scene: SceneBatch):
        """``_cast`` for eyes at cell centres, from the precomputed walks (same results).

        Returns per-ray depth (clamped like ``render`` clamps it), the ``wall_columns``
        row, the first door's depth and colour, and the heading and camera-plane vectors.
        """
        b, gh, gw = scene.grid.shape
        w = self.width
        # A ring of wall around every grid: a ray stops on it at the step where ``_cast``
        # would leave the grid (outside counts as wall), so no bounds checks are needed.
        ph, pw = gh + 2, gw + 2
        n_steps = ph + pw  # a monotone walk from inside reaches the ring within this
        table = self._walk_table(n_steps)
        flat_off = table["flat"].get(pw)
        if flat_off is None:
            off = table["offsets"]
            flat_off = table["flat"][pw] = (off[..., 0] * pw + off[..., 1]).astype(np.intp)
        # Walks run on past their first wall (those cells are ignored): a margin of wall
        # before and after the grids keeps every index in bounds.
        margin = n_steps * (pw + 1)
        padded = _padded_flat(scene.grid, WALL, margin)
        heading = scene.heading.astype(np.intp)
        row = scene.pos[:, 0].astype(np.intp) + 1
        col = scene.pos[:, 1].astype(np.intp) + 1
        n = b * w
        ray_base = np.repeat(margin + np.arange(b) * (ph * pw) + row * pw + col, w)  # (B*W,)
        ray_off = flat_off[heading].reshape(n, n_steps)  # flat cell offsets along each walk
        s_wall, s_door = _first_wall_and_door(padded, ray_base, ray_off, bool((scene.grid == DOOR).any()))
        pick = ((heading[:, None] * w + np.arange(w)) * n_steps).reshape(n)  # ray rows of the tables
        depth = table["depth"].reshape(-1)[pick + s_wall].reshape(b, w)
        wall_idx = table["wall_idx"].reshape(-1)[pick + s_wall].reshape(b, w)
        door_depth = np.full(n, np.inf)
        door_col = np.full(n, -1, np.int64)
        rays = np.flatnonzero(s_door >= 0)
        if rays.size:
            door_depth[rays] = table["depth"].reshape(-1)[pick[rays] + s_door[rays]]
            doors = _padded_flat(scene.door_color, -1, margin)
            door_col[rays] = doors[ray_base[rays] + ray_off[rays, s_door[rays]]]
        door_depth, door_col = door_depth.reshape(b, w), door_col.reshape(b, w)
        d = DIR_VEC[heading].astype(np.float64)
        plane = np.stack([d[:, 1], -d[:, 0]], axis=1) * self.tan_half
        return depth, wall_idx, door_depth, door_col, d, plane

    # ------------------------------------------------------------------ render
    def render(self, scene: SceneBatch) -> np.ndarray:
        b = scene.grid.shape[0]
        h, w = self.height, self.width
        centred = _at_cell_centres(scene)
        if centred and self.compiled:
            return self._render_compiled(scene)
        if centred:
            depth, wall_idx, door_depth, door_col, d, plane = self._cast_walks(scene)
        else:
            _, depth, side, door_depth, door_col, d, plane = self._cast(scene)
            wall_idx = self._wall_index(side, depth)
            depth = np.maximum(depth, 1e-3)
        # Columns first, as colour planes (3, B, W, H): a wall column is one gather and
        # overlays touch contiguous columns; then each plane is transposed into the frames.
        columns = np.take(self.wall_columns, wall_idx, axis=1)  # (take: several times faster than [:, idx])
        self._draw_lintels(columns, door_depth, door_col)
        self._draw_sprites(columns, scene, depth, d, plane)
        frames = np.empty((b, h, w, 3), np.uint8)
        for c in range(3):
            frames[..., c] = columns[c].transpose(0, 2, 1)
        return frames

    def _render_compiled(self, scene: SceneBatch) -> np.ndarray:
        """``render`` by the numba kernel, for eyes at cell centres (same bytes as the NumPy path)."""
        from envs.render.raycast_kernel import render_frames

        b, gh, gw = scene.grid.shape
        table = self._walk_table(gh + gw + 4)  # the walk length ``_cast_walks`` uses
        frames = np.empty((b, self.height, self.width, 3), np.uint8)
        pos = np.ascontiguousarray(scene.pos, np.float64)
        render_frames(np.ascontiguousarray(scene.grid, np.uint8), np.ascontiguousarray(scene.door_color, np.int8),
                      pos[:, 0].astype(np.int64), pos[:, 1].astype(np.int64), np.asarray(scene.heading, np.int64), pos,
                      np.ascontiguousarray(scene.obj_pos, np.float64), np.asarray(scene.obj_type, np.int64),
                      np.asarray(scene.obj_color, np.int64), table["offsets"], table["depth"], table["wall_idx"],
                      self._kernel_columns, self._kernel_wall_rows, self._kernel_background, self.sprite_alpha,
                      self._kernel_sprite_rows, COLORS, self.focal, self.focal_x, self.tan_half, self.max_sprite, frames)
        return frames

    def _draw_lintels(self, columns: np.ndarray, door_depth: np.ndarray, door_col: np.ndarray) -> None:
        env_idx, x_idx = np.nonzero(door_col >= 0)
        if env_idx.size == 0:
            return
        h = self.height
        dd = np.maximum(door_depth[env_idx, x_idx], 1e-3)
        line = self.focal / dd
        top = h / 2.0 - line / 2.0
        bottom = top + LINTEL * line
        rows = np.arange(h)[None, :] + 0.5
        mask = (rows >= top[:, None]) & (rows < bottom[:, None])
        rgb = (COLORS[door_col[env_idx, x_idx]].astype(np.float64) * _shade(dd)[:, None]).astype(np.uint8)
        _paint(columns, env_idx, x_idx, mask, rgb)

    def _draw_sprites(self, columns: np.ndarray, scene: SceneBatch, zbuf: np.ndarray, d: np.ndarray, plane: np.ndarray) -> None:
        present = scene.obj_type >= 0
        if not present.any():
            return
        w = self.width
        rel = scene.obj_pos - scene.pos[:, None, :]  # (B, K, 2)
        depth = np.einsum("bkc,bc->bk", rel, d)
        lateral = np.einsum("bkc,bc->bk", rel, plane) / self.tan_half
        visible = present & (depth > 0.2)
        safe_depth = np.where(visible, depth, 1.0)
        center_x = w / 2.0 * (1.0 + lateral / (safe_depth * self.tan_half))
        size = np.minimum(np.round(self.focal / safe_depth * OBJECT_HEIGHT), self.max_sprite)  # rows
        width = np.round(self.focal_x / safe_depth * OBJECT_HEIGHT)  # columns (== rows with square pixels)
        left = center_x - width / 2.0
        # Per (visible object, column) test; keep the columns where the sprite is in front.
        env_v, obj_v = np.nonzero(visible)
        xs = np.arange(w) + 0.5
        u = (xs[None, :] - left[env_v, obj_v][:, None]) / np.maximum(width[env_v, obj_v], 1.0)[:, None]  # (V, W)
        on = (u >= 0) & (u < 1) & (safe_depth[env_v, obj_v][:, None] < zbuf[env_v])
        v_i, x_i = np.nonzero(on)
        if v_i.size == 0:
            return
        env_i, obj_i = env_v[v_i], obj_v[v_i]
        sd = safe_depth[env_i, obj_i]
        order = np.argsort(-sd, kind="stable")  # far to near: nearer sprites paint over
        env_i, obj_i, v_i, x_i, sd = env_i[order], obj_i[order], v_i[order], x_i[order], sd[order]
        uu = u[v_i, x_i]
        u_idx = np.minimum((uu * TEX).astype(np.int64), TEX - 1)
        alpha = self.sprite_alpha[scene.obj_type[env_i, obj_i], size[env_i, obj_i].astype(np.int64), u_idx]  # (M, H)
        # Shade a little from left to right so round shapes read as round.
        gain = _shade(sd) * (1.0 - 0.25 * np.abs(uu - 0.4))
        rgb = (COLORS[scene.obj_color[env_i, obj_i]] * gain[:, None]).astype(np.uint8)
        # Columns shared by several sprites are painted in rounds, far to near.
        rank = _rank_within_groups(env_i * w + x_i)
        max_rank = int(rank.max())
        for r in range(max_rank + 1):
            sel = slice(None) if max_rank == 0 else rank == r
            _paint(columns, env_i[sel], x_i[sel], alpha[sel], rgb[sel])


def _row_spans(mask: np.ndarray) -> np.ndarray:
    """(N, 2) int64 [first, last + 1) of the rows (axis 1) where ``mask`` (N, H, ...) has any True; [0, 0) if none."""
    rows = mask.reshape(mask.shape[0], mask.shape[1], -1).any(axis=2)
    any_ = rows.any(axis=1)
    lo = np.where(any_, rows.argmax(axis=1), 0)
    hi = np.where(any_, rows.shape[1] - rows[:, ::-1].argmax(axis=1), 0)
    return np.stack([lo, hi], axis=1).astype(np.int64)


def _at_cell_centres(scene: SceneBatch) -> bool:
    """Whether every eye is at a cell centre facing a grid axis (the envs always are)."""
    frac = scene.pos - np.floor(scene.pos)
    return bool(np.all(frac == 0.5)) and bool(np.all((scene.heading >= 0) & (scene.heading < 4)))


def _first_wall_and_door(cells: np.ndarray, base: np.ndarray, offsets: np.ndarray, doors: bool):
    """Step of the first wall, and of the first door before it (-1: none), along each walk.

    ``cells[base[i] + offsets[i, s]]`` is the code at step ``s`` of walk ``i``. Most walks
    end within a few steps, so the steps are read in growing chunks and only the walks
    still open go on to the next chunk.
    """
    n, n_steps = offsets.shape
    s_wall = np.zeros(n, np.intp)
    s_door = np.full(n, -1, np.intp)
    open_ = np.arange(n)
    lo, size = 0, 4
    while open_.size and lo < n_steps:
        hi = min(lo + size, n_steps)
        if open_.size == n:  # first chunk: every walk, read through slices
            codes = np.take(cells, base[:, None] + offsets[:, lo:hi])
        else:
            codes = np.take(cells, base[open_, None] + offsets[open_, lo:hi])
        rows = np.arange(open_.size) * (hi - lo)
        wall = codes == WALL
        first = wall.argmax(axis=1)
        found = np.take(wall, rows + first)  # (a row-wise any() is slow on such short rows)
        if doors:
            door = codes == DOOR
            door &= np.arange(hi - lo) < np.where(found, first, hi - lo)[:, None]  # in front of the wall
            first_door = door.argmax(axis=1)
            new = np.take(door, rows + first_door) & (s_door[open_] < 0)
            s_door[open_[new]] = lo + first_door[new]
        s_wall[open_[found]] = lo + first[found]
        open_ = open_[~found]
        lo, size = hi, 2 * size
    return s_wall, s_door


def _padded_flat(grids: np.ndarray, fill, margin: int) -> np.ndarray:
    """(B, H, W) grids ringed by ``fill``, flattened, with ``margin`` more ``fill`` at both ends."""
    b, h, w = grids.shape
    out = np.full(2 * margin + b * (h + 2) * (w + 2), fill, grids.dtype)
    out[margin : margin + b * (h + 2) * (w + 2)].reshape(b, h + 2, w + 2)[:, 1:-1, 1:-1] = grids
    return out


def _paint(columns: np.ndarray, env: np.ndarray, x: np.ndarray, mask: np.ndarray, rgb: np.ndarray) -> None:
    """Paint colour ``rgb[m]`` ((M, 3) uint8) where ``mask[m]`` ((M, H)) in column (env[m], x[m])
    of the (3, B, W, H) colour planes; each (env, x) appears at most once."""
    sub = columns[:, env, x]  # (3, M, H)
    np.copyto(sub, rgb.T[:, :, None], where=mask[None])
    columns[:, env, x] = sub


def _rank_within_groups(key: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements share its key (keeps the given order)."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    run_start = np.repeat(start, np.diff(np.r_[start, key.size]))
    rank = np.empty_like(key)
    rank[order] = np.arange(key.size) - run_start
    return rank
