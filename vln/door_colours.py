"""Does a FollowRoute agent read the colour of the door it is told to take? A counterfactual test.

Episodes that start in a room with two doors hold the route's one decision the instruction alone
settles: which of the two to leave by. Each such episode is driven twice, greedily, from the
same seed: once with its instruction, once with the first door's colour word swapped for the
other door's ("leave through the purple door" becomes "leave through the green door"). An agent
that reads the colour leaves by the route's door the first time and by the other door the
second; one that does not leaves by the same door both times, whichever it happens to meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.core.constants import COLOR_NAMES, DOOR
from envs.tasks.follow_route import start_door_cells
from vln.sightlines import drive, require_rooms_and_doors


@dataclass(frozen=True)
class TwoDoorStart:
    """One episode that starts in a room with two doors."""

    seed: int
    mission: str  # the episode's own instruction
    swapped: str  # the same with the first door's colour word replaced by the other door's
    route_door: tuple[int, int]  # the door the route leaves by (the in-view expert's first waypoint)
    other_door: tuple[int, int]  # the start room's other door


def start_room_doors(env) -> list[tuple[int, int]]:
    """The door cells next to the start room of a built-in env's current episode (``start_door_cells``)."""
    episode, batch = env.episode, env.batch
    start = np.array([[int(batch.row[0]), int(batch.col[0])]])
    cells = start_door_cells(episode.grid[None], episode.extras["room_of"][None], start)[0]
    return [(int(row), int(col)) for row, col in np.argwhere(cells)]


def two_door_starts(env_id: str, env_kwargs: Mapping[str, Any], episodes: int, seed: int,
                    split: str = "unseen", max_seeds: int = 100_000) -> list[TwoDoorStart]:
    """The first ``episodes`` seeds from ``seed`` on whose episode starts in a room with two doors.

    Raises ValueError if the env has no rooms and doors, or if ``max_seeds`` seeds give fewer.
    """
    import gymnasium as gym

    env = gym.make(env_id, **{**env_kwargs, "expert": "in_view", "split": split}).unwrapped
    found: list[TwoDoorStart] = []
    for s in range(seed, seed + max_seeds):
        obs, _ = env.reset(seed=s)
        if s == seed:
            require_rooms_and_doors(env, env_id, "the door-colour test")
        doors = start_room_doors(env)
        if len(doors) != 2:
            continue
        row, col = int(env.batch.row[0]), int(env.batch.col[0])
        route = tuple(int(v) for v in env.batch.waypoint[0, row, col])
        if route not in doors:
            continue
        other = doors[1 - doors.index(route)]
        named, swap = (COLOR_NAMES[int(env.episode.door_color[d])] for d in (route, other))
        mission = obs["mission"]
        at = mission.find(f"{named} door")
        if at < 0:
            continue
        found.append(TwoDoorStart(s, mission, mission[:at] + swap + mission[at + len(named):], route, other))
        if len(found) == episodes:
            return found
    raise ValueError(f"only {len(found)} of {max_seeds} seeds from {seed} start in a room with two doors; "
                     f"{episodes} were asked for")


def doors_taken(policy, env_id: str, env_kwargs: Mapping[str, Any], starts: list[TwoDoorStart], missions: list[str],
                split: str = "unseen", num_envs: int = 64) -> list[tuple[int, int] | None]:
    """Drive each start's episode with ``missions[i]`` as its instruction until the agent steps
    onto a door cell: that cell (None where the episode ended first)."""
    import gymnasium as gym

    kwargs = {**env_kwargs, "expert": "in_view", "split": split}
    taken: list[tuple[int, int] | None] = []
    for first in range(0, len(starts), num_envs):
        wave = starts[first:first + num_envs]
        envs = [gym.make(env_id, **kwargs).unwrapped for _ in wave]
        resets = [e.reset(seed=s.seed) for e, s in zip(envs, wave)]
        out: list[tuple[int, int] | None] = [None] * len(wave)

        def on_step(i: int, info: Mapping[str, Any], ended: bool) -> bool:
            """Let env ``i`` go once it stands on a door, noting the door."""
            cell = (int(envs[i].batch.row[0]), int(envs[i].batch.col[0]))
            if envs[i].batch.grid[0, cell[0], cell[1]] == DOOR:
                out[i] = cell
                return True
            return False

        drive(policy, envs, resets, missions[first:first + len(wave)], on_step)
        taken += out
    return taken


def door_colour_test(policy, env_id: str, env_kwargs: Mapping[str, Any], episodes: int, seed: int,
                     split: str = "unseen", num_envs: int = 64) -> dict[str, Any]:
    """Drive ``episodes`` two-door starts (``two_door_starts``) with their instructions and with
    the first door's colour swapped; shares of the episodes:

    ``route_door``: left by the route's door with the instruction; ``swapped_named_door``: left by
    the other door, the one the swapped instruction names; ``same_door``: left by the same door
    both times; ``colour_read``: the route's door with the instruction and the other door with
    the swap (an agent that reads the colour scores 1; one that ignores it takes the same door
    both times and scores 0).
    """
    starts = two_door_starts(env_id, env_kwargs, episodes, seed, split)
    real = doors_taken(policy, env_id, env_kwargs, starts, [s.mission for s in starts], split, num_envs)
    swapped = doors_taken(policy, env_id, env_kwargs, starts, [s.swapped for s in starts], split, num_envs)
    n = len(starts)
    return {
        "episodes": n,
        "route_door": sum(t == s.route_door for t, s in zip(real, starts)) / n,
        "swapped_named_door": sum(t == s.other_door for t, s in zip(swapped, starts)) / n,
        "same_door": sum(a == b for a, b in zip(real, swapped)) / n,
        "colour_read": sum(a == s.route_door and b == s.other_door for a, b, s in zip(real, swapped, starts)) / n,
    }


def format_door_colour_test(result: Mapping[str, Any]) -> str:
    n = result["episodes"]
    return "\n".join([
        f"{n} episodes that start in a room with two doors, each driven with its instruction and with the",
        "first door's colour word swapped for the other door's:",
        "",
        f"  left by the route's door, with the instruction            {result['route_door']:.3f}",
        f"  left by the other door, with the colour swapped           {result['swapped_named_door']:.3f}",
        f"  both: the door the words name, each time                  {result['colour_read']:.3f}",
        f"  the same door both times (the colour word ignored)        {result['same_door']:.3f}",
    ])
