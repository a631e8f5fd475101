"""The first-person renderer as lookup tables, for the functional (JAX) render.

The envs' eyes stand at cell centres facing a grid axis, and objects stand at cell
centres, so every float the raycaster computes is a function of a few small integers:
the heading, the image column, the step along a ray's walk (walls and door lintels),
and an object's offset in cells from the eye (sprites). Here NumPy evaluates those
floats once, with ``RaycastRenderer``'s own float64 operations, and keeps only what
they decide (row spans, texture columns, colour bytes). The device then draws frames
with integer gathers and compares alone, so its frames are the CPU renderer's bytes
without float64 on the device. NumPy only: nothing here imports jax.

Colours are packed as int32 ``r | g << 8 | b << 16`` (one value per pixel while drawing).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.core.constants import COLORS, DIR_VEC
from envs.render.raycast import LINTEL, OBJECT_HEIGHT, RaycastRenderer, _shade
from envs.render.sprites import SPRITE_MASKS, TEX


@dataclass(frozen=True)
class RenderTables:
    """What the device render reads (NumPy arrays; ``S`` steps per ray walk, ``C`` colours, colours packed).

    walk_row, walk_col: (4, W, S) int32 cell offsets of each (heading, column) ray's walk.
    walk_wall: (4, W, S) int32 wall column index for a wall hit at that step;
    wall_lo, wall_hi, wall_rgb: (n,) int32 its rows [lo, hi) and colour (background elsewhere);
    background: (H,) int32 the ceiling and floor of every column.
    walk_zlimit: (4, W, S) int32, ceil of the depth there: an object at integer depth
        ``d`` is in front of that wall exactly when ``d < zlimit``.
    lintel_lo, lintel_hi: (4, W, S) int32 rows of a door lintel met at that step;
    lintel_rgb: (4, W, S, C) int32 its colour per door colour.
    sprite_visible, sprite_depth, sprite_size: (4, 2*gh-1, 2*gw-1) bool / int32 / int32,
        by heading and the object's (row, col) offset from the eye plus (gh-1, gw-1).
    sprite_u: (4, 2*gh-1, 2*gw-1, W) int32 texture column in each image column, -1 off the sprite.
    sprite_rgb: (4, 2*gh-1, 2*gw-1, W, C) int32 its shaded colour per object colour.
    sprite_bits: (types, TEX) int32, bit v set where texture row v of that column is opaque;
    sprite_v: (sizes, H) int32 the texture row of each image row for a sprite of that size
        (TEX, no bit, off the sprite).
    """

    walk_row: np.ndarray
    walk_col: np.ndarray
    walk_wall: np.ndarray
    wall_lo: np.ndarray
    wall_hi: np.ndarray
    wall_rgb: np.ndarray
    background: np.ndarray
    walk_zlimit: np.ndarray
    lintel_lo: np.ndarray
    lintel_hi: np.ndarray
    lintel_rgb: np.ndarray
    sprite_visible: np.ndarray
    sprite_depth: np.ndarray
    sprite_size: np.ndarray
    sprite_u: np.ndarray
    sprite_rgb: np.ndarray
    sprite_bits: np.ndarray
    sprite_v: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours as (...,) int32 ``r | g << 8 | b << 16``."""
    rgb = rgb.astype(np.int32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def render_tables(renderer: RaycastRenderer, max_grid: tuple[int, int]) -> RenderTables:
    """The tables of ``renderer`` for grids padded to ``max_grid`` (rows, cols)."""
    gh, gw = int(max_grid[0]), int(max_grid[1])
    h = renderer.height
    # The walk length of the compiled path (``RaycastRenderer._render_compiled``): every
    # walk from inside the grid reaches the outside within it.
    walk = renderer._walk_table(gh + gw + 4)
    depth = walk["depth"]  # (4, W, S) float64, already clamped to >= 1e-3
    # Wall columns: the kernel's (background, then one colour on rows [lo, hi)).
    columns = renderer._kernel_columns  # (n, H, 3)
    lo, hi = renderer._kernel_wall_rows.T
    background = renderer.background  # (H, 3)
    wall_rgb = columns[np.arange(len(lo)), np.minimum(lo, h - 1)]
    rows = np.arange(h)
    drawn = np.where(((rows >= lo[:, None]) & (rows < hi[:, None]))[..., None], wall_rgb[:, None], background[None])
    assert (drawn == columns).all(), "a wall column is not one colour on one row span"
    # Door lintels (``_draw_lintels``): the band from the top of a wall at the door's depth.
    line = renderer.focal / depth
    top = h / 2.0 - line / 2.0
    bottom = top + LINTEL * line
    lintel = ((rows + 0.5) >= top[..., None]) & ((rows + 0.5) < bottom[..., None])  # (4, W, S, H)
    l_lo, l_hi = _spans(lintel)
    lintel_rgb = (COLORS.astype(np.float64)[None, None, None] * _shade(depth)[..., None, None]).astype(np.uint8)
    bits, v_rows = _sprite_rows(renderer)
    return RenderTables(
        walk_row=walk["offsets"][..., 0].astype(np.int32), walk_col=walk["offsets"][..., 1].astype(np.int32),
        walk_wall=walk["wall_idx"].astype(np.int32), wall_lo=lo.astype(np.int32), wall_hi=hi.astype(np.int32),
        wall_rgb=pack_rgb(wall_rgb), background=pack_rgb(background), walk_zlimit=np.ceil(depth).astype(np.int32),
        lintel_lo=l_lo, lintel_hi=l_hi, lintel_rgb=pack_rgb(lintel_rgb), sprite_bits=bits, sprite_v=v_rows,
        **_sprite_tables(renderer, gh, gw),
    )


def _spans(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of the True entries of ``mask`` along its last axis, (0, 0) where none; asserts one run."""
    n = mask.shape[-1]
    any_ = mask.any(axis=-1)
    lo = np.where(any_, mask.argmax(axis=-1), 0)
    hi = np.where(any_, n - mask[..., ::-1].argmax(axis=-1), 0)
    assert (mask.sum(axis=-1) == hi - lo).all(), "not one run of rows"
    return lo.astype(np.int32), hi.astype(np.int32)


def _sprite_rows(renderer: RaycastRenderer) -> tuple[np.ndarray, np.ndarray]:
    """``renderer.sprite_alpha`` (types, sizes, TEX, H) factored as texture-column bit masks
    (types, TEX) and each size's texture row per image row (sizes, H); checked to match."""
    h = renderer.height
    sizes = np.arange(renderer.max_sprite + 1)
    # As ``RaycastRenderer._build_sprite_table``.
    floor_line = h / 2.0 + sizes / OBJECT_HEIGHT / 2.0
    top = floor_line - sizes
    v = ((np.arange(h)[None, :] + 0.5) - top[:, None]) / np.maximum(sizes, 1)[:, None]
    v_ok = (v >= 0) & (v < 1) & (sizes[:, None] > 0)
    v_rows = np.where(v_ok, np.clip((v * TEX).astype(np.int64), 0, TEX - 1), TEX).astype(np.int32)
    bits = (SPRITE_MASKS.astype(np.int64) << np.arange(TEX)[None, :, None]).sum(axis=1).astype(np.int32)  # (types, u)
    alpha = (bits[:, None, :, None] >> v_rows[None, :, None, :]) & 1  # (types, sizes, TEX, H)
    assert (alpha.astype(bool) == renderer.sprite_alpha).all(), "sprite masks do not factor by rows"
    return bits, v_rows


def _sprite_tables(renderer: RaycastRenderer, gh: int, gw: int) -> dict[str, np.ndarray]:
    """``_draw_sprites``'s per-object floats for every heading and (row, col) offset from the eye."""
    w, tan_half = renderer.width, renderer.tan_half
    d_rows, d_cols = np.meshgrid(np.arange(-(gh - 1), gh), np.arange(-(gw - 1), gw), indexing="ij")
    rel = np.stack([d_rows, d_cols], axis=-1).astype(np.float64)[None]  # (1, R, C, 2): centre minus eye
    d = DIR_VEC.astype(np.float64)[:, None, None, :]  # (4, 1, 1, 2)
    plane = np.stack([d[..., 1], -d[..., 0]], axis=-1) * tan_half
    depth = rel[..., 0] * d[..., 0] + rel[..., 1] * d[..., 1]  # (4, R, C)
    lateral = (rel[..., 0] * plane[..., 0] + rel[..., 1] * plane[..., 1]) / tan_half
    visible = depth > 0.2
    safe_depth = np.where(visible, depth, 1.0)
    center_x = w / 2.0 * (1.0 + lateral / (safe_depth * tan_half))
    size = np.minimum(np.round(renderer.focal / safe_depth * OBJECT_HEIGHT), renderer.max_sprite)
    width = np.round(renderer.focal_x / safe_depth * OBJECT_HEIGHT)
    left = center_x - width / 2.0
    xs = np.arange(w) + 0.5
    u = (xs - left[..., None]) / np.maximum(width, 1.0)[..., None]  # (4, R, C, W)
    on = (u >= 0) & (u < 1) & visible[..., None]
    u_idx = np.where(on, np.minimum((np.where(on, u, 0.0) * TEX).astype(np.int64), TEX - 1), -1)
    gain = _shade(safe_depth)[..., None] * (1.0 - 0.25 * np.abs(u - 0.4))  # (4, R, C, W)
    gain = np.where(on, gain, 0.0)  # (off the sprite it is never read; keep the casts in range)
    rgb = (COLORS[None, None, None, None] * gain[..., None, None]).astype(np.uint8)  # (4, R, C, W, n_colours, 3)
    return {
        "sprite_visible": visible, "sprite_depth": np.where(visible, depth, 0).astype(np.int32),
        "sprite_size": size.astype(np.int32), "sprite_u": u_idx.astype(np.int32), "sprite_rgb": pack_rgb(rgb),
    }
