"""The navigation env as pure JAX functions: reset from the episode bank, step, reward, render.

Everything here is a pure function of ``NavParams`` (the episode bank, the render tables
and the reward table, all device arrays) and a small int32 state vector per env, so it
jits, vmaps over envs and scans over steps. The semantics are ``EpisodeBatch``'s (the
CPU envs'): forward is blocked by walls and objects, left / right turn in place, STOP
ends the episode (a success when the agent stands in the goal region), the reward is
the CPU envs' reward (with ``reward_shaping``), and the episode is truncated after
``max_steps`` steps without a STOP. The frames are the CPU raycaster's bytes: the render
is integer lookups and compares on the tables of ``envs.functional.tables``.

Functions act on one env; ``jax.vmap(f, in_axes=(None, 0, ...))`` batches them.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.core.constants import DIR_VEC, DOOR, FORWARD, LEFT, RIGHT, STOP, WALL
from envs.functional.bank import EpisodeBank
from envs.functional.tables import RenderTables
from envs.nav_env import SHAPING_SCALE

# The state of one env: int32 (STATE_SIZE,), these slots.
IDX, ROW, COL, HEADING, STEPS, STOPPED, MOVES = range(7)
STATE_SIZE = 7


class DeviceBank(NamedTuple):
    """``EpisodeBank``'s arrays on the device (same names and shapes; no mission strings)."""

    seed: jax.Array
    grid: jax.Array
    door_color: jax.Array
    blocked: jax.Array
    obj_row: jax.Array
    obj_col: jax.Array
    obj_type: jax.Array
    obj_color: jax.Array
    start: jax.Array
    cell_dist: jax.Array
    expert_dist: jax.Array
    mission: jax.Array


class DeviceTables(NamedTuple):
    """``RenderTables`` on the device (same names and shapes)."""

    walk_row: jax.Array
    walk_col: jax.Array
    walk_wall: jax.Array
    wall_lo: jax.Array
    wall_hi: jax.Array
    wall_rgb: jax.Array
    background: jax.Array
    walk_zlimit: jax.Array
    lintel_lo: jax.Array
    lintel_hi: jax.Array
    lintel_rgb: jax.Array
    sprite_visible: jax.Array
    sprite_depth: jax.Array
    sprite_size: jax.Array
    sprite_u: jax.Array
    sprite_rgb: jax.Array
    sprite_bits: jax.Array
    sprite_v: jax.Array


class NavParams(NamedTuple):
    """Everything the pure functions read: a pytree of device arrays (pass it to jitted code as an argument)."""

    bank: DeviceBank
    tables: DeviceTables
    #: (max_steps + 1, 2, 3): the reward by (steps after the step, success, cells of progress + 1).
    reward: jax.Array


def upload_bank(bank: EpisodeBank) -> DeviceBank:
    """``bank`` on the default device (seeds as int32: the CPU envs draw them below 2**31)."""
    arrays = bank.arrays()
    seeds = arrays["seed"].astype(np.int64)
    if seeds.size and (seeds.min() < np.iinfo(np.int32).min or seeds.max() > np.iinfo(np.int32).max):
        raise ValueError("episode seeds must fit in int32 on the device")
    arrays["seed"] = seeds.astype(np.int32)
    return DeviceBank(**{k: jnp.asarray(v) for k, v in arrays.items()})


def upload_tables(tables: RenderTables) -> DeviceTables:
    return DeviceTables(**{k: jnp.asarray(v) for k, v in tables.arrays().items()})


def reward_table(max_steps: int, reward_shaping: bool) -> np.ndarray:
    """``EpisodeBatch.step``'s reward in float64 for every (steps, success, progress in {-1, 0, 1}).

    One forward move changes the geodesic distance by at most one cell, so these are all
    the rewards the CPU env can give; the device looks them up instead of computing them.
    """
    steps = np.arange(max_steps + 1, dtype=np.int64)[:, None, None]
    success = np.array([False, True])[None, :, None]
    progress = np.array([-1.0, 0.0, 1.0])[None, None, :]
    base = np.where(success, 1.0 - 0.9 * steps / max_steps, 0.0)
    out = base + SHAPING_SCALE * progress if reward_shaping else base + 0.0 * progress
    return np.ascontiguousarray(np.broadcast_to(out, (max_steps + 1, 2, 3)), np.float64)


def make_params(bank: EpisodeBank, tables: RenderTables, max_steps: int, reward_shaping: bool) -> NavParams:
    """The device params. Rewards are float64 with ``jax_enable_x64`` (the CPU env's values
    exactly), else float32 (those values rounded to float32)."""
    rewards = reward_table(max_steps, reward_shaping)
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    return NavParams(upload_bank(bank), upload_tables(tables), jnp.asarray(rewards.astype(dtype)))


def max_steps_of(params: NavParams) -> int:
    """The step limit (static: the reward table's length)."""
    return params.reward.shape[0] - 1


# ---------------------------------------------------------------------- reset and step
def initial_at(params: NavParams, index: jax.Array) -> jax.Array:
    """The state at the start of bank episode ``index``."""
    start = params.bank.start[index]
    zero = jnp.zeros((), jnp.int32)
    return jnp.stack([jnp.asarray(index, jnp.int32), start[0], start[1], start[2], zero, zero, zero])


def initial(params: NavParams, key: jax.Array) -> jax.Array:
    """A reset: a bank episode drawn uniformly by ``key``."""
    index = jax.random.randint(key, (), 0, params.bank.start.shape[0], dtype=jnp.int32)
    return initial_at(params, index)


def transition(params: NavParams, state: jax.Array, action: jax.Array) -> jax.Array:
    """The state after ``action`` (0 forward, 1 left, 2 right, 3 stop), as ``EpisodeBatch.step``."""
    idx, r, c, h = state[IDX], state[ROW], state[COL], state[HEADING]
    action = jnp.asarray(action, jnp.int32)
    dir_vec = jnp.asarray(DIR_VEC, jnp.int32)
    nr, nc = r + dir_vec[h, 0], c + dir_vec[h, 1]
    # Grids have a wall ring, so a forward cell is always inside (the clip only keeps XLA's gather in bounds).
    gh, gw = params.bank.blocked.shape[1:]
    can = (action == FORWARD) & ~params.bank.blocked[idx, jnp.clip(nr, 0, gh - 1), jnp.clip(nc, 0, gw - 1)]
    r = jnp.where(can, nr, r)
    c = jnp.where(can, nc, c)
    h = jnp.where(action == LEFT, (h - 1) % 4, jnp.where(action == RIGHT, (h + 1) % 4, h))
    stopped = (action == STOP).astype(jnp.int32)
    return jnp.stack([idx, r, c, h, state[STEPS] + 1, stopped, state[MOVES] + can.astype(jnp.int32)])


def distance_to_goal(params: NavParams, state: jax.Array) -> jax.Array:
    """Geodesic cells from the agent's cell to the goal region (0 inside it)."""
    return params.bank.cell_dist[state[IDX], state[ROW], state[COL]]


def success(params: NavParams, state: jax.Array) -> jax.Array:
    """Ended by STOP in the goal region."""
    return (state[STOPPED] == 1) & (distance_to_goal(params, state) == 0)


def reward(params: NavParams, state: jax.Array, action: jax.Array, next_state: jax.Array) -> jax.Array:
    """The CPU env's reward of the step ``state -> next_state`` (see ``reward_table``)."""
    progress = distance_to_goal(params, state) - distance_to_goal(params, next_state)
    ok = (jnp.asarray(action, jnp.int32) == STOP) & (distance_to_goal(params, next_state) == 0)
    steps = jnp.minimum(next_state[STEPS], max_steps_of(params))
    return params.reward[steps, ok.astype(jnp.int32), jnp.clip(progress, -1, 1) + 1]


def terminal(state: jax.Array) -> jax.Array:
    """Terminated: the last action was STOP (successful or not)."""
    return state[STOPPED] == 1


def truncation(params: NavParams, state: jax.Array) -> jax.Array:
    """Truncated: ``max_steps`` steps without a STOP."""
    return (state[STOPPED] == 0) & (state[STEPS] >= max_steps_of(params))


def step(params: NavParams, state: jax.Array, action: jax.Array):
    """``(next_state, reward, terminated, truncated)`` of one step."""
    nxt = transition(params, state, action)
    return nxt, reward(params, state, action, nxt), terminal(nxt), truncation(params, nxt)


def expert_action(params: NavParams, state: jax.Array) -> jax.Array:
    """The shortest-path expert's action from ``state`` (``envs.core.expert.expert_actions``,
    a lookup in the bank's distance table; any state, so DAgger can label it)."""
    dist = params.bank.expert_dist[state[IDX]]  # (4, gh, gw)
    r, c, h = state[ROW], state[COL], state[HEADING]
    dir_vec = jnp.asarray(DIR_VEC, jnp.int32)
    gh, gw = dist.shape[1:]
    here = dist[h, r, c]
    ahead = dist[h, jnp.clip(r + dir_vec[h, 0], 0, gh - 1), jnp.clip(c + dir_vec[h, 1], 0, gw - 1)]
    left = dist[(h - 1) % 4, r, c]
    action = jnp.where(left == here - 1, LEFT, RIGHT)
    action = jnp.where((ahead == here - 1) & (here > 0), FORWARD, action)
    return jnp.where(here == 0, STOP, action).astype(jnp.int32)


def autoreset_step(params: NavParams, state: jax.Array, done: jax.Array, action: jax.Array, key: jax.Array):
    """The vector envs' next-step autoreset for one env: where ``done`` (its episode ended on
    the previous step) a fresh episode from ``key``, ignoring ``action``, with reward 0 and
    neither flag; else ``step``. Returns ``(next_state, reward, terminated, truncated)``."""
    nxt, rew, term, trunc = step(params, state, action)
    fresh = initial(params, key)
    return (jnp.where(done, fresh, nxt), jnp.where(done, jnp.zeros_like(rew), rew), term & ~done, trunc & ~done)


# ---------------------------------------------------------------------- render
def render(params: NavParams, state: jax.Array) -> jax.Array:
    """The first-person view, (H, W, 3) uint8: ``RaycastRenderer``'s frame, byte for byte."""
    b, t = params.bank, params.tables
    idx = state[IDX]
    return render_view(t, b.grid[idx], b.door_color[idx], state[ROW], state[COL], state[HEADING],
                       b.obj_row[idx], b.obj_col[idx], b.obj_type[idx], b.obj_color[idx])


def render_view(t: DeviceTables, grid: jax.Array, door_color: jax.Array, row: jax.Array, col: jax.Array,
                heading: jax.Array, obj_row: jax.Array, obj_col: jax.Array, obj_type: jax.Array,
                obj_color: jax.Array) -> jax.Array:
    """One frame, (H, W, 3) uint8, from an eye at the centre of cell (``row``, ``col``) facing ``heading``.

    ``grid``, ``door_color``: (gh, gw), the tables' padded grid size; objects (K,) at cell
    centres, type -1 for none. As the compiled kernel: walls along each column's ray
    walk, then door lintels, then sprites far to near behind the depth buffer. Drawn as
    (H, W) packed colours with row-span compares (no per-pixel gathers), then unpacked.
    """
    gh, gw = grid.shape
    w, n_steps = t.walk_row.shape[1:]
    h = t.background.shape[0]
    xs = jnp.arange(w)
    # Rays: the first wall along each walk (outside the grid counts as wall) and the first door before it.
    r = row + t.walk_row[heading]  # (W, S)
    c = col + t.walk_col[heading]
    inside = (r >= 0) & (r < gh) & (c >= 0) & (c < gw)
    rc, cc = jnp.clip(r, 0, gh - 1), jnp.clip(c, 0, gw - 1)
    code = jnp.where(inside, grid[rc, cc], WALL)
    s_wall = jnp.argmax(code == WALL, axis=1)  # every walk reaches a wall
    door = (code == DOOR) & (jnp.arange(n_steps)[None, :] < s_wall[:, None])
    s_door = jnp.argmax(door, axis=1)
    door_col = jnp.where(door.any(axis=1), door_color[rc[xs, s_door], cc[xs, s_door]], -1).astype(jnp.int32)
    # Walls over the background, then lintels: one colour on a span of rows per column.
    ys = jnp.arange(h)[:, None]  # drawn as (H, W): rows down, columns across
    wall = t.walk_wall[heading, xs, s_wall]  # (W,)
    img = jnp.where((ys >= t.wall_lo[wall][None, :]) & (ys < t.wall_hi[wall][None, :]), t.wall_rgb[wall][None, :],
                    t.background[:, None])  # (H, W)
    lintel = (door_col >= 0)[None, :] & (ys >= t.lintel_lo[heading, xs, s_door][None, :]) \
        & (ys < t.lintel_hi[heading, xs, s_door][None, :])
    img = jnp.where(lintel, t.lintel_rgb[heading, xs, s_door, jnp.maximum(door_col, 0)][None, :], img)
    # Sprites: by heading and offset from the eye, in front where nearer than the wall.
    k = obj_type.shape[0]
    dr = obj_row - row + (gh - 1)
    dc = obj_col - col + (gw - 1)
    depth = t.sprite_depth[heading, dr, dc]  # (K,)
    u = t.sprite_u[heading, dr, dc]  # (K, W)
    on = (t.sprite_visible[heading, dr, dc] & (obj_type >= 0))[:, None] & (u >= 0) \
        & (depth[:, None] < t.walk_zlimit[heading, xs, s_wall][None, :])
    bits = jnp.where(on, t.sprite_bits[jnp.maximum(obj_type, 0)[:, None], jnp.maximum(u, 0)], 0)  # (K, W)
    v = t.sprite_v[t.sprite_size[heading, dr, dc]]  # (K, H)
    rgb = t.sprite_rgb[heading, dr[:, None], dc[:, None], xs[None, :], jnp.maximum(obj_color, 0)[:, None]]  # (K, W)
    # Far to near, ties in slot order (the kernel's insertion sort): later painters win.
    order = jnp.argsort(-depth * k + jnp.arange(k))
    bits, v, rgb = bits[order], v[order], rgb[order]
    for j in range(k):
        img = jnp.where(((bits[j][None, :] >> v[j][:, None]) & 1) == 1, rgb[j][None, :], img)
    return unpack_rgb(img)


def unpack_rgb(packed: jax.Array) -> jax.Array:
    """(...,) int32 ``r | g << 8 | b << 16`` colours as (..., 3) uint8.

    A bitcast (its bytes are r, g, b, 0 where the host is little-endian, as every JAX
    platform is) costs well under the shifts on XLA's CPU backend; shifts elsewhere.
    """
    if sys.byteorder == "little":
        return jax.lax.bitcast_convert_type(packed, jnp.uint8)[..., :3]
    return jnp.stack([packed & 255, (packed >> 8) & 255, (packed >> 16) & 255], axis=-1).astype(jnp.uint8)


def observation(params: NavParams, state: jax.Array) -> dict[str, jax.Array]:
    """``{"image": (H, W, 3) uint8, "mission": (L,) int32 token ids}``."""
    return {"image": render(params, state), "mission": params.bank.mission[state[IDX]]}
