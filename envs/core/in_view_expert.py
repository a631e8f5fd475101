"""An expert that keeps its next waypoint in view: ``expert="in_view"`` of the built-in envs.

The shortest-path expert (``envs.core.expert``) walks L-shaped paths: straight on until the
door or the goal is exactly beside it, then a turn. With a 90-degree field of view that
turn comes when the target has been out of sight for a few steps, so an agent that sees
only its view must count steps to imitate it. This expert walks a staircase instead,
which is just as short in cells (every move still brings it one cell closer, so path
length and SPL are the shortest path's): it heads along whichever axis the target is
farther along, so the target stays within 45 degrees of its heading, and it turns as the
target crosses that line, a moment its view shows.

The target of a cell (its waypoint) is the first door on a shortest path from it to the
goal, or the goal object where no door is left. It costs more turns than the
shortest-path expert (one per move at worst, on a diagonal), never more moves.

``expert="scanning"`` acts only on what the agent could have seen: until its target has been
in view during the episode, it turns left on the spot (where some heading of its cell would
show the target), and walks as the in-view expert once it has. The in-view expert turns
toward a door behind it at once, which an agent that has not looked around yet can only
guess; the scan is a rule the agent can follow (BabyAI's bot explores for the same reason).
"""

from __future__ import annotations

import numpy as np

from envs.core import jit
from envs.core.constants import DIR_VEC, FORWARD, LEFT, RIGHT, STOP, WALL
from envs.core.expert import UNREACHABLE

EXPERTS = ("shortest", "in_view", "scanning")
#: The experts that walk to waypoints (``waypoints``) and label ``info["target_view"]``.
WAYPOINT_EXPERTS = ("in_view", "scanning")


def check_expert(expert: str) -> str:
    if expert not in EXPERTS:
        raise ValueError(f"expert must be one of {EXPERTS}, got {expert!r}")
    return expert


def stop_cells(blocked: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """(B, H, W) bool: the free 4-neighbours of each env's goal cell (``goals`` (B, 2)), where the expert stops."""
    b, h, w = blocked.shape
    out = np.zeros((b, h, w), bool)
    every = np.arange(b)
    for d_row, d_col in DIR_VEC.tolist():
        r, c = goals[:, 0] + d_row, goals[:, 1] + d_col
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        out[every[ok], r[ok], c[ok]] = True
    return out & ~blocked


def waypoints(dist: np.ndarray, door: np.ndarray, goals: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """(B, H, W, 2) int64: each cell's waypoint, the first door on its way to the goal.

    ``dist`` (B, H, W) cells to the stop cells (``UNREACHABLE`` where blocked), ``door``
    (B, H, W) bool, ``goals`` (B, 2). A door cell is its own waypoint; a cell at distance 0
    has the goal; any other cell has the waypoint of its first neighbour one cell closer
    (headings in order east, south, west, north), so the cells are settled in order of
    distance, a level at a time.
    """
    if jit.ENABLED if compiled is None else compiled:
        from envs.core.expert_kernel import waypoint_walk

        out = np.empty((*dist.shape, 2), np.int64)
        waypoint_walk(np.ascontiguousarray(dist), np.ascontiguousarray(door), np.asarray(goals, np.int64), UNREACHABLE, out)
        return out
    b, h, w = dist.shape
    d = dist.astype(np.int64)
    out = np.zeros((b, h, w, 2), np.int64)
    out[...] = np.asarray(goals, np.int64)[:, None, None, :]
    is_door = door & (d > 0) & (d < UNREACHABLE)
    env, r, c = np.nonzero(is_door)
    out[env, r, c] = np.stack([r, c], axis=-1)
    finite = d[d < UNREACHABLE]
    for level in range(1, int(finite.max(initial=0)) + 1):
        todo = (d == level) & ~is_door
        if not todo.any():
            continue
        env, r, c = np.nonzero(todo)
        chosen = np.zeros(len(env), bool)
        for d_row, d_col in DIR_VEC.tolist():
            nr, nc = np.clip(r + d_row, 0, h - 1), np.clip(c + d_col, 0, w - 1)
            take = ~chosen & (d[env, nr, nc] == level - 1)
            out[env[take], r[take], c[take]] = out[env[take], nr[take], nc[take]]
            chosen |= take
    return out


def in_view_actions(dist: np.ndarray, waypoint: np.ndarray, goals: np.ndarray,
                    rows: np.ndarray, cols: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The in-view expert's action for each env of a batch, and where it has none.

    ``dist`` (B, H, W) cells to the stop cells, ``waypoint`` (B, H, W, 2), ``goals`` (B, 2).
    Among the moves one cell closer to the goal it takes the one that points most at the
    waypoint (the current heading wins ties); at a stop cell it turns to face the goal and
    stops. A half turn goes toward the target's side. The second array marks the envs where
    no neighbour is closer (never, on a reachable cell): the caller takes the shortest-path
    expert's action there.
    """
    b = np.arange(len(rows))
    h, w = dist.shape[1:]
    here = dist[b, rows, cols].astype(np.int64)
    n_rows = np.clip(rows[:, None] + DIR_VEC[None, :, 0], 0, h - 1)
    n_cols = np.clip(cols[:, None] + DIR_VEC[None, :, 1], 0, w - 1)
    closer = dist[b[:, None], n_rows, n_cols] == (here - 1)[:, None]  # (B, 4)
    at_stop = here == 0
    target = np.where(at_stop[:, None], goals, waypoint[b, rows, cols])
    v = target - np.stack([rows, cols], axis=1)  # (B, 2) toward the target
    score = v @ DIR_VEC.T  # (B, 4): how far along each heading the target lies
    heading_now = np.arange(4)[None, :] == dirs[:, None]
    ranked = np.where(closer, 2 * score + heading_now, np.iinfo(np.int64).min)
    best = np.argmax(ranked, axis=1)
    # At a stop cell the goal is a 4-neighbour: face it.
    facing = np.argmax(score, axis=1)
    best = np.where(at_stop, facing, best)
    turn = (best - dirs) % 4
    left_side = score[b, (dirs - 1) % 4] >= score[b, (dirs + 1) % 4]
    action = np.where(turn == 1, RIGHT, LEFT)
    action = np.where((turn == 2) & ~left_side, RIGHT, action)
    action = np.where(turn == 0, np.where(at_stop, STOP, FORWARD), action)
    return action.astype(np.int64), ~at_stop & ~closer.any(axis=1)


def scanning_actions(walk: np.ndarray, known: np.ndarray, in_sight: np.ndarray) -> np.ndarray:
    """The scanning expert's actions: LEFT where the target is not ``known`` (never in view so
    far) but some heading of the cell shows it (``in_sight``); else the in-view expert's ``walk``
    (toward a target it has seen, or, where no heading shows it, the best move it has)."""
    return np.where(~known & in_sight, LEFT, walk).astype(np.int64)


def target_cells(stop_dist: np.ndarray, waypoint: np.ndarray, goals: np.ndarray,
                 rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(B, 2) the expert's current target: the goal at a stop cell, the cell's waypoint elsewhere."""
    b = np.arange(len(rows))
    at_stop = stop_dist[b, rows, cols] == 0
    return np.where(at_stop[:, None], goals, waypoint[b, rows, cols])


#: ``info["target_view"]`` (``expert="in_view"`` or ``"scanning"``): where the expert's current target (its next
#: door, or the goal) is in the agent's view.
TARGET_VIEWS = ("out of view", "left", "ahead", "right")
_SIGHT_SAMPLES = 32  # points along the line of sight, enough for a 19x25 grid


def target_view(grid: np.ndarray, stop_dist: np.ndarray, waypoint: np.ndarray, goals: np.ndarray,
                rows: np.ndarray, cols: np.ndarray, dirs: np.ndarray, fov_deg: float,
                compiled: bool | None = None) -> np.ndarray:
    """(B,) int64 index into ``TARGET_VIEWS``: where the in-view expert's target is in each view.

    The target is the goal at a stop cell and the cell's waypoint elsewhere, as in
    ``in_view_actions``. It is in view when its cell centre lies ahead within half the
    horizontal field of view ``fov_deg`` (the edge included) and no wall cell lies on the
    line between the two cell centres (but the target's 4-neighbours, the wall beside a
    door; objects do not count: a sprite hides little of a cell); then the view is cut into
    three equal sectors, left, ahead and right. The agent's own cell (standing in the door
    it heads for) is out of view. An auxiliary target for the agent: it says which of the
    doors and objects in view is the one the route goes to next.

    ``compiled``: the numba kernel (default: whenever numba is, ``envs.core.jit``), the same labels.
    """
    # Angles as tangents: the same float operations on both paths (no trigonometry per step).
    tan_half = float(np.tan(np.radians(fov_deg / 2.0))) + 1e-9
    tan_sector = float(np.tan(np.radians(fov_deg / 6.0)))
    if jit.ENABLED if compiled is None else compiled:
        from envs.core.expert_kernel import target_views

        out = np.empty(len(rows), np.int64)
        target_views(grid, stop_dist, waypoint, np.asarray(goals, np.int64), np.asarray(rows, np.int64),
                     np.asarray(cols, np.int64), np.asarray(dirs, np.int64), tan_half, tan_sector, _SIGHT_SAMPLES,
                     WALL, out)
        return out
    b = np.arange(len(rows))
    here = np.stack([rows, cols], axis=1)
    at_stop = stop_dist[b, rows, cols] == 0
    target = np.where(at_stop[:, None], goals, waypoint[b, rows, cols])
    v = target - here
    ahead = np.sum(v * DIR_VEC[dirs], axis=1).astype(np.float64)
    right = np.sum(v * DIR_VEC[(dirs + 1) % 4], axis=1).astype(np.float64)  # positive to the right
    in_fov = (ahead > 0) & (np.abs(right) <= ahead * tan_half)
    # Line of sight: sample the segment between the cell centres, ends excluded.
    t = (np.arange(1, _SIGHT_SAMPLES + 1) / (_SIGHT_SAMPLES + 1))[None, :, None]
    points = np.floor(here[:, None, :] + 0.5 + t * v[:, None, :]).astype(np.int64)  # (B, S, 2)
    wall = grid[b[:, None], points[..., 0], points[..., 1]] == WALL
    # A door seen at a slant is seen past the wall cells beside it: those do not block it.
    beside = np.abs(points - target[:, None, :]).sum(axis=-1) == 1
    visible = in_fov & ~(wall & ~beside).any(axis=1)
    sector = np.where(right < -ahead * tan_sector, 1, np.where(right > ahead * tan_sector, 3, 2))
    return np.where(visible, sector, 0).astype(np.int64)


def goal_view(grid: np.ndarray, goals: np.ndarray, rows: np.ndarray, cols: np.ndarray, dirs: np.ndarray,
              fov_deg: float, compiled: bool | None = None) -> np.ndarray:
    """(B,) int64 index into ``TARGET_VIEWS``: where the goal object is in each view, wherever the
    route has got to (``target_view``'s field of view, line of sight and sectors, with the goal as
    the target at every cell). ``info["goal_view"]`` of the built-in envs: an auxiliary target that
    says which of the objects in view the instruction's goal is."""
    b, h, w = grid.shape
    goals = np.asarray(goals, np.int64)
    # At a stop cell the target is the goal: every cell a stop cell makes it the goal everywhere.
    # (Read-only broadcast views, not copies: a step labels every env.)
    every_cell_stops = np.broadcast_to(np.zeros((1, 1, 1), np.int64), (b, h, w))
    return target_view(grid, every_cell_stops, np.broadcast_to(goals[:, None, None, :], (b, h, w, 2)),
                       goals, rows, cols, dirs, fov_deg, compiled)
