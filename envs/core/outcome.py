"""How an episode ended, for failure analysis: extra end-of-episode info keys.

Computed once per episode at its end (``EpisodeBatch.end_infos``), from the episode, the
cells the agent visited and whether it stopped; nothing is tracked per step. The keys
(all plain ``bool`` / ``int``, so the vector env reports them as arrays with ``_key``
masks like every other end key):

- ``stopped`` (bool): the episode ended by STOP, not by the step limit.
- ``near_distractor`` (bool): the final cell is within one cell (8-neighbourhood) of an
  object other than the goal (a distractor in GoToObject, a landmark in FollowRoute).
- ``goal_room`` / ``final_room`` (int): the room of the goal object and of the final cell
  (rooms are numbered per episode; ``final_room`` is -1 in a doorway, which belongs to
  no room). GoToObject has one room, 0.
- ``in_goal_room`` (bool): ``final_room == goal_room``.
- task-specific counts the task stores in ``episode.extras["end_info"]`` at generation:
  ``num_distractors`` (GoToObject: objects besides the target), ``num_rooms`` and
  ``route_doors`` (FollowRoute: rooms of the layout, doors on the reference route), and
  ``start_doors`` (FollowRoute: doors of the start room; from two or more the agent must
  pick the instruction's).
- ``doors_passed`` (int, where ``route_doors`` is given): how many of the reference
  route's doors, in order, the agent went through in the route's direction. A door is
  gone through when the agent steps into the door cell from one side and out to the
  other; the count is the longest prefix of the route's door crossings that occurs, in
  order, among the agent's crossings (detours and crossings back do not undo progress).

The room keys need ``episode.extras["room_of"]`` ((H, W) room index, -1 off the rooms);
a task without it gives only ``stopped``, ``near_distractor`` and its ``end_info`` counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.core.constants import DOOR
from envs.core.world import Episode

Cell = tuple[int, int]


def outcome_info(ep: Episode, trajectory: Sequence[Cell], reference: Sequence[Cell], stopped: bool) -> dict[str, Any]:
    """The keys above for one ended episode.

    ``trajectory``: the cells visited in order, without repeats of consecutive cells (as
    ``info["trajectory"]``); its last cell is where the episode ended. ``reference``: the
    reference (expert) path, as ``info["reference_path"]``.
    """
    final = (int(trajectory[-1][0]), int(trajectory[-1][1]))
    goal = ep.objects[ep.goal]
    near = False  # (a plain loop: this runs for every ended episode)
    for k, o in enumerate(ep.objects):
        if k != ep.goal and abs(o.row - final[0]) <= 1 and abs(o.col - final[1]) <= 1:
            near = True
            break
    out: dict[str, Any] = {"stopped": bool(stopped), "near_distractor": bool(near)}
    room_of = ep.extras.get("room_of")
    if room_of is not None:
        goal_room, final_room = int(room_of[goal.row, goal.col]), int(room_of[final])
        out.update(goal_room=goal_room, final_room=final_room, in_goal_room=final_room == goal_room)
    static = ep.extras.get("end_info", {})
    out.update({key: int(value) for key, value in static.items()})
    if "route_doors" in static:
        rows, cols = np.nonzero(ep.grid == DOOR)
        doors = set(zip(rows.tolist(), cols.tolist()))
        out["doors_passed"] = doors_passed(door_crossings(ep.grid, trajectory, doors),
                                           door_crossings(ep.grid, reference, doors))
    return out


def door_crossings(grid: np.ndarray, cells: Sequence[Cell], doors: set[Cell] | None = None) -> list[tuple[Cell, Cell]]:
    """(door cell, cell it was entered from) for each time ``cells`` go through a door.

    A visit to a door cell counts when the cells before and after it differ: a door has
    one free cell on each side, so the path came from one side and left by the other.
    ``doors``: the door cells of ``grid``, when the caller has them (a set: this runs per
    ended episode, per cell).
    """
    cells = [(int(c[0]), int(c[1])) for c in cells]
    if doors is None:
        rows, cols = np.nonzero(grid == DOOR)
        doors = set(zip(rows.tolist(), cols.tolist()))
    return [(cells[t], cells[t - 1]) for t in range(1, len(cells) - 1)
            if cells[t] in doors and cells[t - 1] != cells[t + 1]]


def doors_passed(agent: Sequence[tuple[Cell, Cell]], route: Sequence[tuple[Cell, Cell]]) -> int:
    """Length of the longest prefix of ``route`` that is a subsequence of ``agent`` (greedy)."""
    k = 0
    for crossing in agent:
        if k < len(route) and crossing == route[k]:
            k += 1
    return k


def room_index(grid_shape: tuple[int, int], rooms: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """An (H, W) int8 array: ``k`` on the cells of ``rooms[k]`` ((row0, col0, rows, cols)), -1 elsewhere."""
    out = np.full(grid_shape, -1, np.int8)
    for k, (r, c, h, w) in enumerate(rooms):
        out[r : r + h, c : c + w] = k
    return out
