"""The first-person renderer as lookup tables, for the functional (JAX) render.

The envs' eyes stand at cell centres facing a grid axis, and objects stand at cell
centres, so every float the raycaster computes is a function of a few small integers:
the heading, the image column, the step along a ray's walk (walls and door lintels),
and an object's offset in cells from the eye (sprites). Here NumPy evaluates those
floats once, with ``RaycastRenderer``'s own float64 operations, and keeps only what
they decide (table rows, pixel masks, colour bytes). The device then draws frames
with integer gathers alone, so its frames are the CPU renderer's bytes without float64
on the device. NumPy only: nothing here imports jax.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.core.constants import COLORS, DIR_VEC
from envs.render.raycast import LINTEL, OBJECT_HEIGHT, RaycastRenderer, _shade


@dataclass(frozen=True)
class RenderTables:
    """What the device render reads (NumPy arrays; ``S`` steps per ray walk, ``C`` colours).

    walk_row, walk_col: (4, W, S) int32 cell offsets of each (heading, column) ray's walk.
    walk_wall: (4, W, S) int32 row of ``columns`` for a wall hit at that step.
    walk_zlimit: (4, W, S) int32, ceil of the depth there: an object at integer depth
        ``d`` is in front of that wall exactly when ``d < zlimit``.
    lintel_mask: (4, W, S, H) bool, the rows of a door lintel met at that step;
    lintel_rgb: (4, W, S, C, 3) uint8, its colour per door colour.
    columns: (n, H, 3) uint8 the pre-shaded wall columns (background where no wall).
    sprite_visible, sprite_depth, sprite_size: (4, 2*gh-1, 2*gw-1) bool / int32 / int32,
        by heading and the object's (row, col) offset from the eye plus (gh-1, gw-1).
    sprite_u: (4, 2*gh-1, 2*gw-1, W) int32 texture column in each image column, -1 off the sprite.
    sprite_rgb: (4, 2*gh-1, 2*gw-1, W, C, 3) uint8 its shaded colour per object colour.
    sprite_alpha: (types, sizes, TEX, H) bool silhouettes.
    """

    walk_row: np.ndarray
    walk_col: np.ndarray
    walk_wall: np.ndarray
    walk_zlimit: np.ndarray
    lintel_mask: np.ndarray
    lintel_rgb: np.ndarray
    columns: np.ndarray
    sprite_visible: np.ndarray
    sprite_depth: np.ndarray
    sprite_size: np.ndarray
    sprite_u: np.ndarray
    sprite_rgb: np.ndarray
    sprite_alpha: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def render_tables(renderer: RaycastRenderer, max_grid: tuple[int, int]) -> RenderTables:
    """The tables of ``renderer`` for grids padded to ``max_grid`` (rows, cols)."""
    gh, gw = int(max_grid[0]), int(max_grid[1])
    h, w = renderer.height, renderer.width
    # The walk length of the compiled path (``RaycastRenderer._render_compiled``): every
    # walk from inside the grid reaches the outside within it.
    walk = renderer._walk_table(gh + gw + 4)
    depth = walk["depth"]  # (4, W, S) float64, already clamped to >= 1e-3
    rows = np.arange(h) + 0.5
    # Door lintels (``_draw_lintels``): the band from the top of a wall at the door's depth.
    line = renderer.focal / depth
    top = h / 2.0 - line / 2.0
    bottom = top + LINTEL * line
    lintel_mask = (rows >= top[..., None]) & (rows < bottom[..., None])
    lintel_rgb = (COLORS.astype(np.float64)[None, None, None] * _shade(depth)[..., None, None]).astype(np.uint8)
    sprite = _sprite_tables(renderer, gh, gw)
    return RenderTables(
        walk_row=walk["offsets"][..., 0].astype(np.int32), walk_col=walk["offsets"][..., 1].astype(np.int32),
        walk_wall=walk["wall_idx"].astype(np.int32), walk_zlimit=np.ceil(depth).astype(np.int32),
        lintel_mask=lintel_mask, lintel_rgb=lintel_rgb, columns=renderer._kernel_columns.copy(),
        sprite_alpha=renderer.sprite_alpha.copy(), **sprite,
    )


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
    tex = renderer.sprite_alpha.shape[2]
    u_idx = np.where(on, np.minimum((np.where(on, u, 0.0) * tex).astype(np.int64), tex - 1), -1)
    gain = _shade(safe_depth)[..., None] * (1.0 - 0.25 * np.abs(u - 0.4))  # (4, R, C, W)
    gain = np.where(on, gain, 0.0)  # (off the sprite it is never read; keep the casts in range)
    rgb = (COLORS[None, None, None, None] * gain[..., None, None]).astype(np.uint8)  # (4, R, C, W, n_colours, 3)
    return {
        "sprite_visible": visible, "sprite_depth": np.where(visible, depth, 0).astype(np.int32),
        "sprite_size": size.astype(np.int32), "sprite_u": u_idx.astype(np.int32), "sprite_rgb": rgb,
    }
