"""The navigation env and its native vector env, over any ``Task``.

Both share ``EpisodeBatch``: the padded state of several episodes, stepped and rendered
as whole arrays. The single env is a batch of one; the vector env adds next-step
autoreset. The same seed gives the same episode in both.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.core.constants import ACTION_NAMES, DIR_VEC, DOOR, FORWARD, LEFT, NUM_ACTIONS, RIGHT, STOP, WALL
from envs.core.expert import UNREACHABLE, cell_distances, expert_actions, expert_paths
from envs.core.in_view_expert import (WAYPOINT_EXPERTS, check_expert, goal_view, in_view_actions, scanning_actions,
                                      stop_cells, target_cells, target_view, waypoints)
from envs.core.outcome import outcome_info
from envs.core.world import Episode
from envs.render.raycast import RaycastRenderer, SceneBatch
from envs.render.topdown import render_topdown
from envs.core.task import Task
from envs.core.mission import check_split

MISSION_CHARSET = string.ascii_lowercase + string.digits + " ,.'-"
MAX_MISSION_LENGTH = 512
SHAPING_SCALE = 0.05  # reward per cell of progress toward the goal, with reward_shaping=True
#: ``render()`` frames start at the left with the first-person view upscaled this many times
#: (nearest neighbour), then the top-down map; both envs declare it as ``metadata["render_view_scale"]``.
RENDER_VIEW_SCALE = 4


def mission_space() -> spaces.Text:
    return spaces.Text(max_length=MAX_MISSION_LENGTH, min_length=1, charset=MISSION_CHARSET)


def observation_space(view_size: int) -> spaces.Dict:
    return spaces.Dict(
        {
            "image": spaces.Box(0, 255, (view_size, view_size, 3), np.uint8),
            "mission": mission_space(),
        }
    )


def reset_seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Per-env seeds of ``reset(seed=...)``: None, an int (env i gets seed + i) or one per env."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"expected {n} seeds, got {len(seeds)}")
    return seeds


def reset_indices(options: dict | None, n: int) -> np.ndarray:
    """The envs a ``reset`` resets: all, or those of ``options["reset_mask"]`` (a bool array of shape (n,))."""
    mask = None if options is None else options.get("reset_mask")
    if mask is None:
        return np.arange(n)
    mask = np.asarray(mask)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},), got {mask.dtype} {mask.shape}")
    if not mask.any():
        raise ValueError("options['reset_mask'] resets no env")
    return np.flatnonzero(mask)


ACTIONS_HELP = "actions are 0 forward, 1 left, 2 right, 3 stop"


def check_actions(actions, n: int) -> np.ndarray:
    """Actions as an int array of shape (n,), or a ValueError that says what is wrong.

    The vector envs' check: integers (or integral floats) in ``[0, NUM_ACTIONS)``.
    """
    arr = np.asarray(actions)
    if arr.shape != (n,):
        raise ValueError(f"expected {n} action(s) of shape ({n},), got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise ValueError(f"actions must be integers in [0, {NUM_ACTIONS}), got {arr.tolist()}")
    return _check_action_range(arr.astype(np.int64))


def check_action(action) -> int:
    """The single env's one action as an int, or a ValueError "invalid action ...".

    Stricter about type than ``check_actions``, as ``Discrete(4)``: a Python or numpy
    integer or a 0-d integer array (no floats, strings or longer arrays); the range check
    is the vector envs' own.
    """
    is_int = isinstance(action, (int, np.integer)) or (
        isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu"
    )
    if not is_int:
        raise ValueError(f"invalid action {action!r}: {ACTIONS_HELP}")
    return int(_check_action_range(np.asarray(action).reshape(1))[0])


def _check_action_range(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself when every action is in ``[0, NUM_ACTIONS)``, else a ValueError naming the first bad one."""
    bad = np.asarray((arr < 0) | (arr >= NUM_ACTIONS), bool)  # object arrays (huge Python ints) give object masks
    if bad.any():
        raise ValueError(f"invalid action {arr[bad][0]}: {ACTIONS_HELP}")
    return arr


def check_env_args(task: Task, split: str, render_mode: str | None, render_modes: Sequence[str],
                   max_steps: int | None) -> int:
    """The constructor checks both envs share (split, render mode, step limit); returns the step limit.

    ``max_steps`` None means the task's ``default_max_steps``.
    """
    check_split(split)
    if render_mode is not None and render_mode not in render_modes:
        raise ValueError(f"render_mode must be one of {render_modes} or None, got {render_mode!r}")
    limit = int(max_steps if max_steps is not None else task.default_max_steps)
    if limit < 1:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    return limit


class EpisodeBatch:
    """State of ``n`` episodes in padded arrays, stepped and rendered together."""

    def __init__(self, task: Task, n: int, renderer: RaycastRenderer, max_steps: int, reward_shaping: bool,
                 expert: str = "shortest") -> None:
        gh, gw = task.max_grid
        k = task.max_objects
        self.task, self.n, self.renderer = task, n, renderer
        self.expert = check_expert(expert)
        self.max_steps, self.reward_shaping = int(max_steps), bool(reward_shaping)
        self.grid = np.full((n, gh, gw), WALL, np.uint8)
        self.door_color = np.full((n, gh, gw), -1, np.int8)
        self.blocked = np.ones((n, gh, gw), bool)
        self.obj_pos = np.zeros((n, k, 2), np.float64)
        self.obj_type = np.full((n, k), -1, np.int64)
        self.obj_color = np.full((n, k), -1, np.int64)
        self.dist = np.full((n, 4, gh, gw), UNREACHABLE, np.int16)
        self.geo = np.full((n, gh, gw), UNREACHABLE, np.int16)
        self.waypoints = self.expert in WAYPOINT_EXPERTS
        if self.waypoints:  # cells to the stop cells, each cell's waypoint, the goal cell
            self.stop_dist = np.full((n, gh, gw), UNREACHABLE, np.int16)
            self.waypoint = np.zeros((n, gh, gw, 2), np.int64)
            self.goal = np.zeros((n, 2), np.int64)
        if self.expert == "scanning":  # the targets each episode's views have shown so far
            self.seen = np.zeros((n, gh, gw), bool)
        self.row = np.zeros(n, np.int64)
        self.col = np.zeros(n, np.int64)
        self.heading = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.moves = np.zeros(n, np.int64)
        self.min_geo = np.zeros(n, np.int64)
        self.trajectory = np.zeros((n, self.max_steps + 1, 2), np.int16)
        self.episodes: list[Episode | None] = [None] * n

    def load(self, idx, episodes: list[Episode]) -> None:
        # Per episode only what differs in shape (the grids); the rest as whole-batch writes.
        idx = np.asarray(idx, np.int64)
        self.grid[idx] = WALL
        self.door_color[idx] = -1
        self.obj_type[idx] = -1
        self.obj_color[idx] = -1
        objects = []  # (env, slot, row, col, type, colour)
        for i, ep in zip(idx.tolist(), episodes):
            gh, gw = ep.grid.shape
            self.grid[i, :gh, :gw] = ep.grid
            self.door_color[i, :gh, :gw] = ep.door_color
            objects += [(i, k, o.row, o.col, o.type, o.color) for k, o in enumerate(ep.objects)]
            self.episodes[i] = ep
        self.blocked[idx] = self.grid[idx] == WALL
        if objects:
            env, slot, rows, cols, types, colors = np.array(objects, np.int64).T
            self.obj_pos[env, slot] = np.stack([rows, cols], axis=1) + 0.5
            self.obj_type[env, slot] = types
            self.obj_color[env, slot] = colors
            self.blocked[env, rows, cols] = True
        self.dist[idx] = [ep.extras["expert_dist"] for ep in episodes]
        self.geo[idx] = [ep.extras["cell_dist"] for ep in episodes]
        if self.waypoints:
            goals = np.array([(ep.objects[ep.goal].row, ep.objects[ep.goal].col) for ep in episodes], np.int64)
            self.goal[idx] = goals
            dist = cell_distances(self.blocked[idx], stop_cells(self.blocked[idx], goals))
            self.stop_dist[idx] = dist
            self.waypoint[idx] = waypoints(dist, self.grid[idx] == DOOR, goals)
        starts = np.array([(ep.start[0], ep.start[1], ep.start_dir) for ep in episodes], np.int64).reshape(-1, 3)
        self.row[idx], self.col[idx], self.heading[idx] = starts.T
        self.steps[idx] = 0
        self.moves[idx] = 0
        self.min_geo[idx] = self.geo[idx, self.row[idx], self.col[idx]]
        self.trajectory[idx, 0, 0] = self.row[idx]
        self.trajectory[idx, 0, 1] = self.col[idx]
        if self.expert == "scanning":
            self.seen[idx] = False
            self._look(idx)

    def step(self, actions: np.ndarray, idx: np.ndarray):
        """Apply ``actions`` to the envs ``idx``; returns reward, terminated, truncated (len(idx))."""
        r, c, h = self.row[idx], self.col[idx], self.heading[idx]
        geo_before = self.geo[idx, r, c]
        fwd = actions == FORWARD
        nr, nc = r + DIR_VEC[h, 0], c + DIR_VEC[h, 1]
        can = fwd & ~self.blocked[idx, nr, nc]
        r = np.where(can, nr, r)
        c = np.where(can, nc, c)
        h = np.where(actions == LEFT, (h - 1) % 4, np.where(actions == RIGHT, (h + 1) % 4, h))
        self.row[idx], self.col[idx], self.heading[idx] = r, c, h
        self.steps[idx] += 1
        self.moves[idx] += can
        steps = self.steps[idx]
        self.trajectory[idx, np.minimum(steps, self.max_steps), 0] = r
        self.trajectory[idx, np.minimum(steps, self.max_steps), 1] = c
        geo_now = self.geo[idx, r, c]
        self.min_geo[idx] = np.minimum(self.min_geo[idx], geo_now)
        stopped = actions == STOP
        success = stopped & (geo_now == 0)
        reward = np.where(success, 1.0 - 0.9 * steps / self.max_steps, 0.0)
        if self.reward_shaping:
            reward = reward + SHAPING_SCALE * (geo_before.astype(np.float64) - geo_now)
        terminated = stopped
        truncated = ~stopped & (steps >= self.max_steps)
        if self.expert == "scanning":
            self._look(idx)
        return reward, terminated, truncated

    def _look(self, idx: np.ndarray) -> None:
        """The scanning expert's memory: mark each env's target as seen where its view shows it."""
        idx = np.asarray(idx, np.int64)
        shown = self.target_view(idx) > 0
        target = target_cells(self.stop_dist[idx], self.waypoint[idx], self.goal[idx], self.row[idx], self.col[idx])
        self.seen[idx[shown], target[shown, 0], target[shown, 1]] = True

    def _rows(self, idx: np.ndarray | slice) -> np.ndarray | slice:
        """``idx`` as an index into the fields: every env in order becomes a slice (views, no copies)."""
        if isinstance(idx, slice):
            return idx
        if len(idx) == self.n and np.array_equal(idx, np.arange(self.n)):
            return slice(None)
        return idx

    def expert_action(self, idx: np.ndarray) -> np.ndarray:
        idx = self._rows(idx)
        if self.expert == "shortest":
            return expert_actions(self.dist[idx], self.row[idx], self.col[idx], self.heading[idx])
        action, stuck = in_view_actions(self.stop_dist[idx], self.waypoint[idx], self.goal[idx], self.row[idx],
                                        self.col[idx], self.heading[idx])
        if stuck.any():  # (never on a reachable cell) the shortest-path expert's action there
            action[stuck] = expert_actions(self.dist[idx], self.row[idx], self.col[idx], self.heading[idx])[stuck]
        if self.expert == "scanning":
            target = target_cells(self.stop_dist[idx], self.waypoint[idx], self.goal[idx], self.row[idx],
                                  self.col[idx])
            known = self.seen[np.arange(self.n)[idx], target[:, 0], target[:, 1]]
            in_sight = np.zeros(len(action), bool)
            for heading in range(4):
                in_sight |= self.target_view(idx, np.full(len(action), heading, np.int64)) > 0
            action = scanning_actions(action, known, in_sight)
        return action

    def target_view(self, idx: np.ndarray, headings: np.ndarray | None = None) -> np.ndarray:
        """(len(idx),) where the expert's target is in each view (``envs.core.in_view_expert.target_view``),
        or in the view each env would have at ``headings`` from its cell."""
        if not self.waypoints:
            raise ValueError('target_view needs expert="in_view" or "scanning"')
        idx = self._rows(idx)
        return target_view(self.grid[idx], self.stop_dist[idx], self.waypoint[idx], self.goal[idx], self.row[idx],
                           self.col[idx], self.heading[idx] if headings is None else headings, self.renderer.fov_deg)

    def goal_view(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx),) where the goal object is in each view (``envs.core.in_view_expert.goal_view``)."""
        idx = self._rows(idx)
        return goal_view(self.grid[idx], self.goal[idx], self.row[idx], self.col[idx], self.heading[idx],
                         self.renderer.fov_deg)

    def step_info(self, idx: np.ndarray) -> dict[str, Any]:
        """The per-step info of the envs ``idx``: the expert's action, and with the in-view or
        the scanning expert where its target is in the view (``target_view``) and where the
        goal is (``goal_view``)."""
        info: dict[str, Any] = {"expert_action": self.expert_action(idx)}
        if self.waypoints:
            info["target_view"] = self.target_view(idx)
            info["goal_view"] = self.goal_view(idx)
        return info

    def render(self, idx: np.ndarray) -> np.ndarray:
        idx = self._rows(idx)
        scene = SceneBatch(
            grid=self.grid[idx], door_color=self.door_color[idx],
            pos=np.stack([self.row[idx] + 0.5, self.col[idx] + 0.5], axis=1),
            heading=self.heading[idx], obj_pos=self.obj_pos[idx],
            obj_type=self.obj_type[idx], obj_color=self.obj_color[idx],
        )
        return self.renderer.render(scene)

    def end_info(self, i: int, success: bool, stopped: bool | None = None) -> dict[str, Any]:
        """What the Room-to-Room metrics and the failure breakdown need, for env ``i`` at the
        end of its episode (``stopped``: it ended by STOP; see ``envs.core.outcome``)."""
        return {key: values[0] for key, values in self.end_infos([i], [success], None if stopped is None else [stopped]).items()}

    def end_infos(self, idx: list[int], success: list[bool], stopped: list[bool] | None = None) -> dict[str, list]:
        """``end_info`` of several envs at once, as {key: [value per env]}.

        The scalar fields come from whole-array reads; only the paths are built per env.
        ``stopped`` (per env: ended by STOP) defaults to "before the step limit or a success".
        """
        idx = np.asarray(idx, np.int64)
        steps = self.steps[idx].tolist()
        # The expert's paths that no task cached, in one batch (``reference_path`` caches them).
        uncached = [(i, ep) for i in idx.tolist() if "route" not in (ep := self.episodes[i]).extras]  # type: ignore[union-attr]
        if uncached:
            starts = [(*ep.start, ep.start_dir) for _, ep in uncached]
            for (_, ep), route in zip(uncached, expert_paths(self.dist[[i for i, _ in uncached]], starts)):
                ep.extras["route"] = route
        references, trajectories = [], []
        for i, n_steps in zip(idx.tolist(), steps):
            ep = self.episodes[i]
            assert ep is not None
            # Cells visited, in order; turning in place does not add a point (as R2R viewpoints).
            cells = [tuple(p) for p in self.trajectory[i, : min(n_steps, self.max_steps) + 1].tolist()]
            trajectories.append(cells[:1] + [b for a, b in zip(cells, cells[1:]) if a != b])
            references.append(reference_path(ep))
        if stopped is None:
            stopped = [bool(s) or n_steps < self.max_steps for s, n_steps in zip(success, steps)]
        outcomes = [outcome_info(self.episodes[i], t, r, s)  # type: ignore[arg-type]
                    for i, t, r, s in zip(idx.tolist(), trajectories, references, stopped)]
        return {
            "success": [bool(s) for s in success],
            "distance_to_goal": self.geo[idx, self.row[idx], self.col[idx]].astype(np.float64).tolist(),
            "oracle_success": (self.min_geo[idx] == 0).tolist(),
            "path_length": self.moves[idx].astype(np.float64).tolist(),
            "shortest_path_length": [float(len(r) - 1) for r in references],
            "reference_path": references,
            "trajectory": trajectories,
            "episode_steps": steps,
            "success_distance": [1.0] * len(steps),
            **{key: [o[key] for o in outcomes] for key in (outcomes[0] if outcomes else {})},
        }


def reference_path(ep: Episode) -> list[tuple[int, int]]:
    """The expert's path from the start (cached on the episode)."""
    if "route" not in ep.extras:
        ep.extras["route"] = expert_paths(ep.extras["expert_dist"][None], [(*ep.start, ep.start_dir)])[0]
    return [tuple(p) for p in ep.extras["route"]]


_DOC_COMMON = """
    ## Action Space
    ``Discrete(4)``: 0 forward (blocked by walls and objects), 1 turn left, 2 turn right, 3 stop.

    ## Observation Space
    ``Dict(image=Box(0, 255, (view_size, view_size, 3), uint8), mission=Text(...))``: the
    first-person view from the agent's eye (raycast, ``fov_deg`` wide and ``vfov_deg`` high;
    square pixels when ``vfov_deg`` is None) and the instruction.

    ## Rewards
    On a successful STOP ``1 - 0.9 * steps / max_steps``, otherwise 0. With
    ``reward_shaping=True`` each step also earns ``0.05`` per cell of progress toward the goal
    (negative when moving away).

    ## Episode End
    Terminated on STOP (successful or not); truncated after ``max_steps`` steps.
    ``info["expert_action"]`` is given on reset and every step, and with ``expert="in_view"`` or
    ``"scanning"`` ``info["target_view"]``: where the expert's next door or the goal is in the view, an index
    into ``envs.core.in_view_expert.TARGET_VIEWS`` (out of view, left, ahead, right; an
    auxiliary training target), and ``info["goal_view"]``: where the goal object is in the view,
    wherever the route has got to (the same indices). At the end, ``info`` holds
    ``success``, ``distance_to_goal``, ``oracle_success``, ``path_length``,
    ``shortest_path_length``, ``reference_path`` and ``trajectory`` (cells, for SPL/nDTW/SDTW),
    and for failure analysis ``stopped``, ``near_distractor``, ``goal_room``, ``final_room``,
    ``in_goal_room`` and the task's counts (see ``envs.core.outcome``).

    ## Rendering
    ``render_mode="rgb_array"``: ``render()`` gives one (H, W, 3) uint8 frame (a tuple of them
    for the vector env): at the top left the first-person view upscaled
    ``metadata["render_view_scale"]`` (4) times, nearest neighbour, then the top-down map
    (walls, doors, objects, goal region, the agent and its path). The frame size is not
    padded to even numbers; a video writer pads it. Drawing the map needs OpenCV; nothing
    else does.
"""


class VLNEnv(gym.Env):
    """A first-person navigation env over a ``Task`` (see the registered subclasses).

    ``metadata["render_view_scale"]``: ``render()`` frames start at the left with the
    first-person view upscaled this many times (nearest neighbour), then the top-down map.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "action_names": ACTION_NAMES,
                "render_view_scale": RENDER_VIEW_SCALE}

    def __init__(self, task: Task, split: str = "train", view_size: int = 64, fov_deg: float = 90.0,
                 max_steps: int | None = None, reward_shaping: bool = False, render_mode: str | None = None,
                 vfov_deg: float | None = None, expert: str = "shortest") -> None:
        self.max_steps = check_env_args(task, split, render_mode, self.metadata["render_modes"], max_steps)
        self.task, self.split, self.render_mode = task, split, render_mode
        self.renderer = RaycastRenderer(view_size, view_size, fov_deg, vfov_deg)
        self.batch = EpisodeBatch(task, 1, self.renderer, self.max_steps, reward_shaping, expert)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = observation_space(view_size)
        self._done = True
        self._last_image: np.ndarray | None = None

    @property
    def episode(self) -> Episode:
        ep = self.batch.episodes[0]
        if ep is None:
            raise RuntimeError("call reset() first")
        return ep

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        self.batch.load([0], self.task.generate_batch([episode_seed], self.split))
        self._done = False
        return self._obs(), {**self._step_info(), "seed": int(episode_seed)}

    def step(self, action):
        if self._done:
            raise RuntimeError("the episode has ended: call reset() before step()")
        a = np.array([check_action(action)])
        idx = np.array([0])
        reward, terminated, truncated = self.batch.step(a, idx)
        info = self._step_info()
        if terminated[0] or truncated[0]:
            success = bool(terminated[0] and self.batch.geo[0, self.batch.row[0], self.batch.col[0]] == 0)
            info.update(self.batch.end_info(0, success, bool(terminated[0])))
            self._done = True
        return self._obs(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def _step_info(self) -> dict[str, Any]:
        return {key: int(value[0]) for key, value in self.batch.step_info(np.array([0])).items()}

    def _obs(self) -> dict[str, Any]:
        self._last_image = self.batch.render(np.array([0]))[0]
        return {"image": self._last_image, "mission": self.episode.mission}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return compose_frame(self.batch, 0, self._last_image)


class VLNVectorEnv(VectorEnv):
    """The native batched env: ``num_envs`` episodes stepped and rendered as arrays.

    Next-step autoreset (``metadata["autoreset_mode"]``): after an episode ends, the next
    ``step`` resets that env and ignores its action. Infos are arrays with ``_key`` masks;
    the end-of-episode entries are set only where an episode ended.
    ``metadata["render_view_scale"]`` as in ``VLNEnv``: each of ``render()``'s frames starts
    at the left with that env's first-person view upscaled this many times, then its map.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "autoreset_mode": AutoresetMode.NEXT_STEP,
                "action_names": ACTION_NAMES, "render_view_scale": RENDER_VIEW_SCALE}

    def __init__(self, task: Task, num_envs: int = 8, split: str = "train", view_size: int = 64, fov_deg: float = 90.0,
                 max_steps: int | None = None, reward_shaping: bool = False, render_mode: str | None = None,
                 vfov_deg: float | None = None, expert: str = "shortest") -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.max_steps = check_env_args(task, split, render_mode, self.metadata["render_modes"], max_steps)
        self.task, self.split, self.render_mode = task, split, render_mode
        self.num_envs = int(num_envs)
        self.renderer = RaycastRenderer(view_size, view_size, fov_deg, vfov_deg)
        self.batch = EpisodeBatch(task, self.num_envs, self.renderer, self.max_steps, reward_shaping, expert)
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, NUM_ACTIONS))
        self.single_observation_space = observation_space(view_size)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._rngs = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self._needs_reset = np.ones(self.num_envs, bool)
        self._images: np.ndarray | None = None
        self._all = np.arange(self.num_envs)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Reset every env, or only those of ``options["reset_mask"]`` (Gymnasium's partial reset).

        With a mask, the other envs keep their episodes and observations; ``seed`` is then
        a full-length list whose entries outside the mask are ignored.
        """
        seeds = reset_seeds(seed, self.num_envs)
        idx = reset_indices(options, self.num_envs)
        episode_seeds = []
        for i in idx:
            self._rngs[i] = seeding.np_random(seeds[i])[0]
            episode_seeds.append(seeds[i] if seeds[i] is not None else int(self._rngs[i].integers(2**31 - 1)))
        self.batch.load(idx, self.task.generate_batch(episode_seeds, self.split))
        self._needs_reset[idx] = False
        if idx.size == self.num_envs or self._images is None:
            self._images = self.batch.render(self._all)
        else:  # a new array: observations returned earlier must not change
            images = self._images.copy()
            images[idx] = self.batch.render(idx)
            self._images = images
        reset = np.zeros(self.num_envs, bool)
        reset[idx] = True
        seed_arr = np.zeros(self.num_envs, np.int64)
        seed_arr[idx] = episode_seeds
        # The expert's action is valid for every env, reset or not.
        info = {**self._step_info(), "seed": seed_arr, "_seed": reset}
        return self._obs(), info

    def step(self, actions):
        actions = check_actions(actions, self.num_envs)
        n = self.num_envs
        rewards = np.zeros(n)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        reset_idx = np.flatnonzero(self._needs_reset)
        live = np.flatnonzero(~self._needs_reset)
        if reset_idx.size:
            seeds = [int(self._rngs[i].integers(2**31 - 1)) for i in reset_idx]
            self.batch.load(reset_idx, self.task.generate_batch(seeds, self.split))
        if live.size:
            rewards[live], terminated[live], truncated[live] = self.batch.step(actions[live], live)
        self._images = self.batch.render(self._all)
        info = self._step_info()
        ended = terminated | truncated
        if ended.any():
            info.update(self._end_infos(np.flatnonzero(ended), terminated))
        self._needs_reset = ended
        return self._obs(), rewards, terminated, truncated, info

    def _step_info(self) -> dict[str, Any]:
        """The per-step labels of every env (``EpisodeBatch.step_info``), each valid for all envs."""
        out: dict[str, Any] = {}
        for key, value in self.batch.step_info(self._all).items():
            out[key], out["_" + key] = value, np.ones(self.num_envs, bool)
        return out

    def _end_infos(self, ended: np.ndarray, terminated: np.ndarray) -> dict[str, Any]:
        b = self.batch
        success = terminated & (b.geo[self._all, b.row, b.col] == 0)
        fields = b.end_infos(ended, success[ended].tolist(), terminated[ended].tolist())
        mask = np.zeros(self.num_envs, bool)
        mask[ended] = True
        out: dict[str, Any] = {}
        for key, values in fields.items():
            if isinstance(values[0], (list, tuple)):
                arr = np.empty(self.num_envs, dtype=object)
                arr[:] = [None] * self.num_envs
                for i, value in zip(ended.tolist(), values):
                    arr[i] = value
            else:
                arr = np.zeros(self.num_envs, dtype=np.asarray(values[0]).dtype)
                arr[ended] = values
            out[key], out["_" + key] = arr, mask.copy()
        return out

    def _obs(self) -> dict[str, Any]:
        missions = tuple(ep.mission for ep in self.batch.episodes)  # type: ignore[union-attr]
        return {"image": self._images, "mission": missions}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return tuple(compose_frame(self.batch, i, self._images[i]) for i in range(self.num_envs))


def compose_frame(batch: EpisodeBatch, i: int, view: np.ndarray | None, scale: int = RENDER_VIEW_SCALE) -> np.ndarray:
    """The human frame: the first-person view (nearest-neighbour upscaled) beside the map.

    ``render()`` uses the default ``scale``, ``RENDER_VIEW_SCALE`` (``metadata["render_view_scale"]``).
    The size is not padded (to even numbers, say): video writers do that.
    """
    if view is None:
        view = batch.render(np.array([i]))[0]
    ep = batch.episodes[i]
    big = np.repeat(np.repeat(view, scale, axis=0), scale, axis=1)
    steps = int(batch.steps[i])
    path = [tuple(p) for p in batch.trajectory[i, : min(steps, batch.max_steps) + 1].tolist()]
    gh, gw = ep.grid.shape
    cell = max(4, big.shape[0] // max(gh, gw))
    top = render_topdown(ep.grid, ep.door_color, ep.objects, (int(batch.row[i]), int(batch.col[i])),
                         int(batch.heading[i]), path, ep.goal_region(), cell=cell)
    h, w = max(big.shape[0], top.shape[0]), big.shape[1] + top.shape[1] + 8
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[: big.shape[0], : big.shape[1]] = big
    canvas[: top.shape[0], big.shape[1] + 8 : big.shape[1] + 8 + top.shape[1]] = top
    return canvas
