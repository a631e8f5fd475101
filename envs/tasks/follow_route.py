"""FollowRoute: several rooms joined by coloured doors, a Room-to-Room style route instruction."""

from __future__ import annotations

import numpy as np

from envs.core import jit
from envs.core.constants import COLOR_NAMES, DOOR, FLOOR, OBJECT_TYPES, WALL
from envs.core.expert import expert_path
from envs.core.world import Episode, WorldObject
from envs.nav_env import _DOC_COMMON, VLNEnv, VLNVectorEnv
from envs.core.task import _EPISODE_SALT, _LAYOUT_SALT, _SPLIT_CODE, Task
from envs.core.mission import JOINERS, ROUTE, check_phrasings, phrasing_group, route_instruction


class FollowRouteTask(Task):
    """2-6 rooms on a grid of room slots, joined by doors into a tree.

    The goal object sits in another room than the start, so it is usually out of sight.
    The instruction is generated from the expert's shortest path: the doors it goes
    through (by colour), the turns after them, objects it walks past, and the goal.
    Door colours are all different, and so is the goal's (colour, type) from every
    other object, so the instruction is unambiguous.

    ``lookalikes``: the chance that a landmark in the goal's room is a look-alike of the goal,
    of its colour or of its type (one or the other, evenly; never both). 0 (the default) draws
    the landmarks as before, with no extra draws; a training curriculum raises it so that
    telling the goal from an object of its colour or type is asked for more often.

    ``hub_starts``: the chance that the start is drawn among the rooms with two or more doors
    (besides the goal's room, where the layout has one) rather than among all the others. 0 (the
    default) draws the start as before, with no extra draws. From such a room the agent must
    pick the instruction's door out of several: a training curriculum asks for that more often.

    ``phrasings``: "train" or "heldout" phrases every split's instructions with that group's
    templates (None, the default: the split's own, held-out for unseen). Unseen layouts with the
    training phrasings, or seen ones with the held-out phrasings, tell a failure to generalise
    to new layouts from one to generalise to new wordings. The layouts and starts do not change.

    ``compiled``: draw the layouts with the numba kernel of ``envs.tasks.route_kernel``
    (default: whenever numba is, ``envs.core.jit``), the same episodes as ``_generate``.
    """

    def __init__(self, num_rooms: tuple[int, int] = (2, 6), room_size: int = 5, slots: tuple[int, int] = (2, 3),
                 landmarks_per_room: tuple[int, int] = (0, 2), max_steps: int = 150, lookalikes: float = 0.0,
                 hub_starts: float = 0.0, compiled: bool | None = None, phrasings: str | None = None) -> None:
        lo, hi = (num_rooms, num_rooms) if isinstance(num_rooms, int) else (int(num_rooms[0]), int(num_rooms[1]))
        if lo < 1 or hi < lo:
            raise ValueError(f"num_rooms must be a range within [2, {slots[0] * slots[1]}], got {num_rooms}")
        if lo < 2:
            raise ValueError(f"num_rooms must be at least 2 (the goal is in another room), got {num_rooms}")
        if hi > slots[0] * slots[1]:
            raise ValueError(f"num_rooms {hi} exceeds the {slots[0]}x{slots[1]} room slots")
        if hi - 1 > len(COLOR_NAMES):
            raise ValueError(f"at most {len(COLOR_NAMES) + 1} rooms: door colours must be distinct")
        if room_size < 3:
            raise ValueError(f"room_size must be at least 3, got {room_size}")
        l_lo, l_hi = landmarks_per_room
        if l_lo < 0 or l_hi < l_lo or l_hi > room_size * room_size - 2:
            raise ValueError(f"landmarks_per_room must be within [0, {room_size * room_size - 2}], got {landmarks_per_room}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        if not 0.0 <= lookalikes <= 1.0:
            raise ValueError(f"lookalikes must be a probability in [0, 1], got {lookalikes}")
        if not 0.0 <= hub_starts <= 1.0:
            raise ValueError(f"hub_starts must be a probability in [0, 1], got {hub_starts}")
        self.phrasings = check_phrasings(phrasings)
        self.num_rooms, self.room_size, self.slots = (lo, hi), int(room_size), (int(slots[0]), int(slots[1]))
        self.landmarks = (int(l_lo), int(l_hi))
        pitch = self.room_size + 1
        self.max_grid = (self.slots[0] * pitch + 1, self.slots[1] * pitch + 1)
        self.max_objects = 1 + hi * l_hi
        self.default_max_steps = int(max_steps)
        # Drawn as a percentage (one integer draw), so that the compiled kernel matches it exactly.
        self.lookalike_pct = int(round(100 * float(lookalikes)))
        self.hub_pct = int(round(100 * float(hub_starts)))
        self.compiled = jit.ENABLED if compiled is None else bool(compiled) and jit.AVAILABLE

    # ---------------------------------------------------------------- layout
    def _candidates(self, seeds, split, attempts):
        """The whole batch's candidates from one kernel call (see ``envs.tasks.route_kernel``)."""
        if not self.compiled or min(seeds, default=0) < 0 or max(seeds, default=0) >= 1 << 64:
            return super()._candidates(seeds, split, attempts)  # (NumPy's errors for such seeds)
        from envs.core.rng_kernel import CompiledStream
        from envs.core.crc_kernel import CRC_TABLE
        from envs.tasks.route_kernel import draw_candidates

        n, (gh, gw), k = len(seeds), self.max_grid, self.max_objects
        grid = np.empty((n, gh, gw), np.uint8)
        door_color = np.empty((n, gh, gw), np.int8)
        room_of = np.empty((n, gh, gw), np.int64)
        objects = np.empty((n, k, 4), np.int64)
        n_objects = np.zeros(n, np.int64)
        start = np.empty((n, 3), np.int64)
        streams = np.empty((n, 6), np.uint64)
        tried = np.array(attempts, np.int64)
        unseen = split == "unseen"
        failed = draw_candidates(np.array(seeds, np.uint64), tried, np.array([_LAYOUT_SALT, int(unseen)], np.uint64),
                                 np.array([_EPISODE_SALT, _SPLIT_CODE[split]], np.uint64), unseen, *self.num_rooms,
                                 self.room_size, *self.slots, *self.landmarks, self.lookalike_pct, self.hub_pct, len(COLOR_NAMES), len(OBJECT_TYPES),
                                 CRC_TABLE, grid, door_color, room_of, objects, n_objects, start, streams)
        if failed >= 0:
            raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts (seed {seeds[failed]})")
        episodes = []
        for i, (row, col, heading) in enumerate(start.tolist()):
            objs = [WorldObject(*o) for o in objects[i, : n_objects[i]].tolist()]
            ep = Episode(grid[i], door_color[i], objs, 0, (row, col), heading, "", self.default_max_steps)
            ep.extras["pending"] = (CompiledStream(streams[i]), room_of[i])
            episodes.append(ep)
        return episodes, tried.tolist()

    def _generate(self, layout_rng, episode_rng, split):
        s, (sr, sc) = self.room_size, self.slots
        pitch = s + 1
        n = int(layout_rng.integers(self.num_rooms[0], self.num_rooms[1] + 1))
        # Grow a connected set of slots; each new room hangs off one already placed (a tree).
        first = (int(layout_rng.integers(sr)), int(layout_rng.integers(sc)))
        rooms, edges = [first], []
        while len(rooms) < n:
            frontier = []
            for i, (r, c) in enumerate(rooms):
                for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                    nb = (r + dr, c + dc)
                    if 0 <= nb[0] < sr and 0 <= nb[1] < sc and nb not in rooms:
                        frontier.append((i, nb))
            i, nb = frontier[int(layout_rng.integers(len(frontier)))]
            rooms.append(nb)
            edges.append((i, len(rooms) - 1))
        grid = np.full(self.max_grid, WALL, np.uint8)
        room_of = np.full(self.max_grid, -1, np.int64)
        for k, (r, c) in enumerate(rooms):
            grid[r * pitch + 1 : r * pitch + 1 + s, c * pitch + 1 : c * pitch + 1 + s] = FLOOR
            room_of[r * pitch + 1 : r * pitch + 1 + s, c * pitch + 1 : c * pitch + 1 + s] = k
        door_color = np.full(self.max_grid, -1, np.int8)
        colors = layout_rng.permutation(len(COLOR_NAMES))
        for e, (a, b) in enumerate(edges):
            (ra, ca), (rb, cb) = rooms[a], rooms[b]
            off = 1 + int(layout_rng.integers(s))
            if ra == rb:  # side by side: a door in the vertical wall between them
                cell = (ra * pitch + off, max(ca, cb) * pitch)
            else:
                cell = (max(ra, rb) * pitch, ca * pitch + off)
            grid[cell] = DOOR
            door_color[cell] = colors[e]
        # Objects never stand in front of a door, so no doorway is ever blocked.
        near_door = _near(grid == DOOR).tolist()
        corners = [(r * pitch + 1, c * pitch + 1) for r, c in rooms]
        # Goal room and object; landmarks elsewhere, none identical to the goal.
        goal_room = int(layout_rng.integers(n))
        goal_kind = (int(layout_rng.integers(len(OBJECT_TYPES))), int(layout_rng.integers(len(COLOR_NAMES))))
        objects: list[WorldObject] = []
        goal_cell = self._free_cell(layout_rng, corners[goal_room], near_door, objects)
        if goal_cell is None:
            return None
        objects.append(WorldObject(goal_cell[0], goal_cell[1], *goal_kind))
        for k in range(n):
            for _ in range(int(layout_rng.integers(self.landmarks[0], self.landmarks[1] + 1))):
                kind = goal_kind
                while kind == goal_kind:
                    kind = (int(layout_rng.integers(len(OBJECT_TYPES))), int(layout_rng.integers(len(COLOR_NAMES))))
                if k == goal_room and self.lookalike_pct and int(layout_rng.integers(100)) < self.lookalike_pct:
                    kind = self._lookalike(layout_rng, goal_kind)
                cell = self._free_cell(layout_rng, corners[k], near_door, objects)
                if cell is not None:
                    objects.append(WorldObject(cell[0], cell[1], *kind))
        # Start in another room, at least two cells from the goal.
        hubs = []
        if self.hub_pct and int(episode_rng.integers(100)) < self.hub_pct:
            doors = np.bincount(np.array(edges, np.int64).reshape(-1), minlength=n)
            hubs = [k for k in range(n) if k != goal_room and doors[k] >= 2]
        if hubs:
            start_room = hubs[int(episode_rng.integers(len(hubs)))]
        else:
            start_room = int(episode_rng.integers(n - 1))
            start_room += start_room >= goal_room
        start = self._free_cell(episode_rng, corners[start_room], None, objects)
        if start is None:
            return None
        episode = Episode(grid, door_color, objects, 0, start, int(episode_rng.integers(4)), "", self.default_max_steps)
        # The mission describes the expert's path: ``_finish`` writes it once the batch's
        # expert fields are computed (an unreachable goal is redrawn before that).
        episode.extras["pending"] = (episode_rng, room_of)
        return episode

    def _finish(self, episode, split):
        episode_rng, room_of = episode.extras.pop("pending")
        path = expert_path(episode.extras["expert_dist"], episode.start, episode.start_dir)
        rows, cols = np.nonzero(episode.grid == DOOR)
        doors = dict(zip(zip(rows.tolist(), cols.tolist()), episode.door_color[rows, cols].tolist()))
        clauses = self._clauses(path, doors, episode.objects)
        episode.mission = route_instruction(episode_rng, clauses, split, self.phrasings)
        episode.extras["route"] = path
        # For the end-of-episode outcome keys (envs.core.outcome).
        episode.extras["room_of"] = room_of.astype(np.int8)
        episode.extras["end_info"] = {"num_rooms": int(room_of.max()) + 1,
                                      "route_doors": sum(cell in doors for cell in path),
                                      "start_doors": int(start_doors(episode.grid[None], room_of[None],
                                                                     np.array([episode.start]))[0])}
        return episode

    def _finish_batch(self, episodes, split):
        """``_finish`` of a batch, with the paths and their clauses from one kernel call
        (``envs.tasks.route_kernel.describe_routes``); the Python ``_finish`` without numba."""
        if not self.compiled or not episodes:
            return super()._finish_batch(episodes, split)
        from envs.core.rng_kernel import DrawnIntegers
        from envs.tasks.route_kernel import CLAUSE_KINDS, describe_routes

        n, k = len(episodes), self.max_objects
        starts = np.array([(*ep.start, ep.start_dir) for ep in episodes], np.int64)
        dist = np.stack([ep.extras["expert_dist"] for ep in episodes])
        length = int(dist[np.arange(n), starts[:, 2], starts[:, 0], starts[:, 1]].max()) + 1  # >= any path's cells
        objects = np.zeros((n, k, 4), np.int64)
        for j, ep in enumerate(episodes):
            objects[j, : len(ep.objects)] = [(o.row, o.col, o.type, o.color) for o in ep.objects]
        pending = [ep.extras.pop("pending") for ep in episodes]
        streams = np.stack([rng.state for rng, _ in pending])  # the episode streams, where the kernel goes on drawing
        n_templates = [len(ROUTE[kind][phrasing_group(split, self.phrasings)]) for kind in CLAUSE_KINDS]
        paths = np.empty((n, length, 2), np.int64)
        path_len = np.empty(n, np.int64)
        codes = np.empty((n, 3 * length + 1, 3), np.int64)  # at most a turn, a landmark and a door per segment
        n_codes = np.empty(n, np.int64)
        joiner = np.empty(n, np.int64)
        grids = np.stack([ep.grid for ep in episodes])
        describe_routes(dist, starts, grids, np.stack([ep.door_color for ep in episodes]),
                        objects, np.array([len(ep.objects) for ep in episodes], np.int64), streams,
                        np.array(n_templates, np.int64), len(JOINERS), paths, path_len, codes, n_codes, joiner)
        rooms = np.stack([room_of for _, room_of in pending])
        rooms_i8, n_rooms = rooms.astype(np.int8), (rooms.max(axis=(1, 2)) + 1).tolist()
        n_start_doors = start_doors(grids, rooms, starts[:, :2]).tolist()
        for j, (ep, n_path, n_code, join) in enumerate(zip(episodes, path_len.tolist(), n_codes.tolist(), joiner.tolist())):
            clauses, drawn, doors = [], [], 0
            for kind, arg, template in codes[j, :n_code].tolist():
                if kind == 2:
                    clauses.append(("turn", {"side": "left" if arg == 0 else "right"}))
                elif kind == 3:
                    clauses.append(("landmark", {"obj": ep.objects[arg].description}))
                elif kind == 4:
                    clauses.append(("goal", {"obj": ep.objects[0].description}))
                else:
                    clauses.append((CLAUSE_KINDS[kind], {"door": COLOR_NAMES[arg]}))
                    doors += 1
                drawn.append((template, n_templates[kind]))
            if join >= 0:
                drawn.append((join, len(JOINERS)))
            ep.mission = route_instruction(DrawnIntegers(*zip(*drawn)), clauses, split, self.phrasings)
            ep.extras["route"] = list(map(tuple, paths[j, :n_path].tolist()))
            ep.extras["room_of"] = rooms_i8[j]
            ep.extras["end_info"] = {"num_rooms": n_rooms[j], "route_doors": doors,
                                     "start_doors": n_start_doors[j]}
        return episodes

    @staticmethod
    def _lookalike(rng, goal_kind):
        """An object kind with the goal's colour or its type, not both (``lookalikes``)."""
        g_type, g_color = goal_kind
        if int(rng.integers(2)) == 0:  # the goal's colour, another type
            return (g_type + 1 + int(rng.integers(len(OBJECT_TYPES) - 1))) % len(OBJECT_TYPES), g_color
        return g_type, (g_color + 1 + int(rng.integers(len(COLOR_NAMES) - 1))) % len(COLOR_NAMES)

    def _free_cell(self, rng, corner, near_door, objects):
        """A random cell of the room at ``corner`` without an object (nor, unless
        ``near_door`` is None, next to a door), in row-major order; None if there is none."""
        taken = {(o.row, o.col) for o in objects}
        r0, c0 = corner
        ok = [(r, c) for r in range(r0, r0 + self.room_size) for c in range(c0, c0 + self.room_size)
              if (r, c) not in taken and (near_door is None or not near_door[r][c])]
        if not ok:
            return None
        return ok[int(rng.integers(len(ok)))]

    # ---------------------------------------------------------------- words
    @staticmethod
    def _clauses(path, doors, objects):
        """Describe the path: doors, the turn after each door, landmarks passed, the goal.

        ``doors``: {cell: colour index} of the door cells. Plain Python over small lists:
        this runs once per episode, where NumPy's per-call cost would dominate.
        """
        clauses: list[tuple[str, dict]] = []
        goal = objects[0]
        moves = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:])]
        door_steps = [i for i, cell in enumerate(path) if cell in doors]
        # The path's steps within one cell (8-neighbourhood) of each landmark that it passes.
        step_of = {cell: t for t, cell in enumerate(path)}
        near: list[tuple[int, list[int]]] = []
        for k, obj in enumerate(objects[1:], start=1):
            steps = [step_of[cell] for cell in ((obj.row + dr, obj.col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1))
                     if cell in step_of]
            if steps:
                near.append((k, steps))
        used_landmarks: set[int] = set()
        segments = [0] + door_steps + [len(path) - 1]
        for seg, (start, end) in enumerate(zip(segments, segments[1:])):
            if seg > 0:
                # The turn after the door: the first change of direction before the next door.
                d_in = moves[start - 1]
                for m in moves[start:end]:
                    if m != d_in:
                        cross = d_in[0] * m[1] - d_in[1] * m[0]
                        side = "left" if cross > 0 else "right"
                        clauses.append(("turn", {"side": side}))
                        break
            # The first landmark (by index) not yet named that the segment passes.
            for k, steps in near:
                if k not in used_landmarks and any(start <= t <= end for t in steps):
                    clauses.append(("landmark", {"obj": objects[k].description}))
                    used_landmarks.add(k)
                    break
            if end < len(path) - 1 or path[end] in doors:
                door = COLOR_NAMES[doors[path[end]]]
                clauses.append(("exit" if seg == 0 else "door", {"door": door}))
        clauses.append(("goal", {"obj": goal.description}))
        return clauses


class FollowRouteEnv(VLNEnv):
    __doc__ = """
    ## Description
    ``num_rooms`` rooms joined by coloured doors. The mission is a Room-to-Room style
    route built from the shortest path with landmarks ("leave the room through the green
    door, turn left, walk past the blue box and stop next to the yellow key"). The goal is
    in another room, usually out of sight at the start; the agent must STOP within one
    cell of it.
    """ + _DOC_COMMON + """
    ## Starting State
    A random free cell of a room other than the goal's, a random heading.

    ## Arguments
    ``split`` ("train", "seen" or "unseen"), ``num_rooms=(2, 6)``, ``room_size=5``,
    ``landmarks_per_room=(0, 2)``, ``max_steps=150``, ``lookalikes=0.0`` (the chance that a landmark in
    the goal's room has the goal's colour or type: a training curriculum), ``hub_starts=0.0`` (the chance
    that the start room has two or more doors: a training curriculum), ``phrasings=None | "train" |
    "heldout"`` (the instructions' templates; None: the split's own, held-out for unseen),
    ``view_size=64``, ``fov_deg=90``,
    ``reward_shaping=False``, ``render_mode=None | "rgb_array"``, ``vfov_deg=None`` (square pixels),
    ``expert="shortest" | "in_view" | "scanning"`` (``info["expert_action"]``: the shortest path;
    as short in cells with the next door or the goal kept in view; or that, after turning left
    until the next door or the goal has been in view; ``envs.core.in_view_expert``).
    """

    def __init__(self, split: str = "train", num_rooms=(2, 6), room_size: int = 5, landmarks_per_room=(0, 2),
                 max_steps: int = 150, view_size: int = 64, fov_deg: float = 90.0, reward_shaping: bool = False,
                 render_mode: str | None = None, vfov_deg: float | None = None, expert: str = "shortest",
                 lookalikes: float = 0.0, hub_starts: float = 0.0, phrasings: str | None = None) -> None:
        task = FollowRouteTask(num_rooms, room_size, landmarks_per_room=landmarks_per_room, max_steps=max_steps,
                               lookalikes=lookalikes, hub_starts=hub_starts, phrasings=phrasings)
        super().__init__(task, split, view_size, fov_deg, max_steps, reward_shaping, render_mode, vfov_deg, expert)


class FollowRouteVectorEnv(VLNVectorEnv):
    """``num_envs`` FollowRoute episodes stepped and rendered as one batch (see ``FollowRouteEnv``)."""

    def __init__(self, num_envs: int = 8, split: str = "train", num_rooms=(2, 6), room_size: int = 5,
                 landmarks_per_room=(0, 2), max_steps: int = 150, view_size: int = 64, fov_deg: float = 90.0,
                 reward_shaping: bool = False, render_mode: str | None = None, vfov_deg: float | None = None, expert: str = "shortest",
                 lookalikes: float = 0.0, hub_starts: float = 0.0, phrasings: str | None = None) -> None:
        task = FollowRouteTask(num_rooms, room_size, landmarks_per_room=landmarks_per_room, max_steps=max_steps,
                               lookalikes=lookalikes, hub_starts=hub_starts, phrasings=phrasings)
        super().__init__(task, num_envs, split, view_size, fov_deg, max_steps, reward_shaping, render_mode, vfov_deg, expert)


def start_door_cells(grids: np.ndarray, room_of: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(B, H, W) bool: the doors of each start room, door cells with a floor cell of that room
    beside them (4-neighbours), for grids and room maps (B, H, W) and start cells (B, 2), in whole arrays."""
    room = room_of[np.arange(len(starts)), starts[:, 0], starts[:, 1]][:, None, None]
    pad = np.pad(room_of, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    beside = ((pad[:, :-2, 1:-1] == room) | (pad[:, 2:, 1:-1] == room)
              | (pad[:, 1:-1, :-2] == room) | (pad[:, 1:-1, 2:] == room))
    return (grids == DOOR) & beside


def start_doors(grids: np.ndarray, room_of: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(B,) how many doors each start room has (``start_door_cells``)."""
    return start_door_cells(grids, room_of, starts).sum(axis=(1, 2))


def _near(mask: np.ndarray) -> np.ndarray:
    """Cells within one cell (8-neighbourhood) of a ``mask`` cell: a separable 3x3 dilation."""
    rows = mask.copy()
    rows[1:] |= mask[:-1]
    rows[:-1] |= mask[1:]
    out = rows.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out
