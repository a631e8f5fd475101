"""What the agent had seen when it went wrong: FollowRoute failures against the route's first
door and the goal, each checked for having been in the agent's view.

For each episode the agent drives greedily, two questions the episode's own info cannot answer:

- **Which door did it leave the start room by, and had it seen the right one?** The route's first
  door is the in-view expert's waypoint from the start cell. While the agent is in the start
  room, the expert's target is that door, so ``info["target_view"]`` (the in-view expert's
  line-of-sight test) says whether it is in the frame the agent acts on.
- **Had it seen the goal when it stopped by another object in the goal's room?** There the
  expert's target is the goal, so the same test says whether the goal was in view at the stop,
  earlier, or never.
- **What did that other object share with the goal?** The instruction may name it on the
  route ("walk past the red key"); otherwise it may have the goal's colour or its type, or
  neither. The first that applies is reported.
- **What did it face when it stopped in the goal's room but not at the goal?** Another object
  in the cell ahead (it walked up to the wrong object: a grounding failure), or no object (it
  stopped short, or beside the goal without facing it).

A wrong door taken without the right one ever in view is a search failure; with it in view, a
grounding one. A stop by a distractor with the goal in view is a grounding failure, too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from envs.core.constants import COLOR_NAMES, DIR_VEC, DOOR, OBJECT_TYPES
from vln.breakdown import failure_category

DOOR_CASES = ("left by the route's door", "left by another door, the route's door seen", "left by another door, never seen",
              "never left the start room")
GOAL_CASES = ("goal in view at the stop", "goal seen earlier, not at the stop", "goal never in view")
DISTRACTOR_CASES = ("named on the route", "the goal's colour", "the goal's type", "neither")
FACING_CASES = ("another object", "no object")
# The failures that ended in the goal's room (vln.breakdown's categories).
IN_GOAL_ROOM = ("at_distractor", "goal_room_not_at_goal")


def sightlines(agent, env_id: str, env_kwargs: Mapping[str, Any], episodes: int, seed: int, split: str = "unseen",
               max_words: int | None = None, num_envs: int = 64) -> dict[str, Any]:
    """Drive ``episodes`` episodes (seeds ``seed, seed + 1, ...``) greedily with ``agent``.

    Returns ``episodes``, ``success``, ``outcomes`` (failure category: count), ``doors`` (for
    episodes that fail: ``DOOR_CASES`` → count) and ``goal`` (for stops by a distractor in the
    goal's room: ``GOAL_CASES`` → count, and ``distractor``: ``DISTRACTOR_CASES`` → count) and
    ``facing`` (for every failure that stopped in the goal's room: ``FACING_CASES`` → count, what
    the cell ahead of the agent held). The env is made with ``expert="in_view"``, whose
    line-of-sight test this needs; the episodes are the same as with any expert.
    """
    import gymnasium as gym

    from vln.policies import AgentPolicy

    kwargs = {**env_kwargs, "expert": "in_view", "split": split}
    probe = gym.make(env_id, **kwargs).unwrapped
    probe.reset(seed=seed)
    require_rooms_and_doors(probe, env_id, "sightlines")
    outcomes: Counter = Counter()
    doors: Counter = Counter()
    goal: Counter = Counter()
    distractor: Counter = Counter()
    facing: Counter = Counter()
    policy = AgentPolicy(agent, "greedy", max_words=max_words)
    done = 0
    while done < episodes:
        n = min(num_envs, episodes - done)
        envs = [gym.make(env_id, **kwargs).unwrapped for _ in range(n)]
        first = [e.reset(seed=seed + done + i) for i, e in enumerate(envs)]
        tracks = [_Track(e, info, o["mission"]) for e, (o, info) in zip(envs, first)]

        def on_step(i: int, info: Mapping[str, Any], ended: bool) -> bool:
            tracks[i].end(info) if ended else tracks[i].step(info)
            return False

        drive(policy, envs, first, [o["mission"] for o, _ in first], on_step)
        for t in tracks:
            category = failure_category(t.final)
            outcomes[category or "success"] += 1
            if category is not None:
                doors[t.door_case()] += 1
            if category == "at_distractor":
                goal[t.goal_case()] += 1
                distractor[t.distractor_case()] += 1
            if category in IN_GOAL_ROOM:
                facing[t.facing_case()] += 1
        done += n
    return {"episodes": done, "success": outcomes["success"] / done, "outcomes": dict(outcomes),
            "doors": {k: doors[k] for k in DOOR_CASES if doors[k]}, "goal": {k: goal[k] for k in GOAL_CASES if goal[k]},
            "distractor": {k: distractor[k] for k in DISTRACTOR_CASES if distractor[k]},
            "facing": {k: facing[k] for k in FACING_CASES if facing[k]}}


def drive(policy, envs: list, resets: list[tuple[Mapping[str, Any], Mapping[str, Any]]], missions: list[str],
          on_step: Callable[[int, Mapping[str, Any], bool], bool]) -> None:
    """Step the (unwrapped, reset) ``envs`` with ``policy``, each with its instruction in
    ``missions``, until every episode has ended or been let go.

    ``resets`` are the envs' ``(obs, info)`` from their resets. After each step of env ``i``,
    ``on_step(i, info, ended)`` is called (``ended``: terminated or truncated); env ``i`` stops
    there when the episode ended or ``on_step`` returns True. The policy gets the env's
    ``expert_action`` too (-1 where there is none), so ``ExpertPolicy`` drives as well.
    """
    policy.begin(missions)
    images = np.stack([obs["image"] for obs, _ in resets])
    expert = np.array([info.get("expert_action", -1) for _, info in resets], np.int64)
    live = np.ones(len(envs), bool)
    while live.any():
        actions, _ = policy.act(images, expert)
        for i in np.flatnonzero(live):
            obs, _, terminated, truncated, info = envs[i].step(int(actions[i]))
            images[i], expert[i] = obs["image"], info.get("expert_action", -1)
            ended = bool(terminated or truncated)
            if on_step(i, info, ended) or ended:
                live[i] = False


def require_rooms_and_doors(env, env_id: str, what: str) -> None:
    """ValueError unless ``env`` (unwrapped, reset) is a built-in env whose episode has rooms and doors."""
    episode = getattr(env, "episode", None)
    if episode is None or "room_of" not in episode.extras or not (episode.grid == DOOR).any():
        raise ValueError(f"{env_id}: {what} needs a built-in env with rooms and doors (vln/FollowRoute-v0)")


class _Track:
    """One episode's sightings: of the route's first door before leaving the start room, of the goal in its room."""

    def __init__(self, env, info: Mapping[str, Any], mission: str) -> None:
        self.batch, ep = env.batch, env.episode
        self.rooms, self.mission = ep.extras["room_of"], mission
        self.objects = [o for k, o in enumerate(ep.objects) if k != ep.goal]
        row, col = int(self.batch.row[0]), int(self.batch.col[0])
        self.goal = goal = ep.objects[ep.goal]
        self.goal_room = self.rooms[goal.row, goal.col]
        self.route_door = tuple(int(v) for v in self.batch.waypoint[0, row, col])
        self.door_seen = bool(info.get("target_view", 0))
        self.left_by: tuple[int, int] | None = None
        self.goal_now = self.goal_ever = False
        self.final: Mapping[str, Any] = {}

    def step(self, info: Mapping[str, Any]) -> None:
        row, col = int(self.batch.row[0]), int(self.batch.col[0])
        in_view = bool(info.get("target_view", 0))
        if self.left_by is None and self.batch.grid[0, row, col] == DOOR:
            self.left_by = (row, col)
        if self.left_by is None:
            self.door_seen |= in_view
        self.goal_now = in_view and self.rooms[row, col] == self.goal_room
        self.goal_ever |= self.goal_now

    def end(self, info: Mapping[str, Any]) -> None:
        self.final = info

    def door_case(self) -> str:
        if self.left_by is None:
            return DOOR_CASES[3]
        if self.left_by == self.route_door:
            return DOOR_CASES[0]
        return DOOR_CASES[1] if self.door_seen else DOOR_CASES[2]

    def goal_case(self) -> str:
        # ``goal_now`` is what the frame the agent stopped on showed (the step before the STOP).
        return GOAL_CASES[0] if self.goal_now else GOAL_CASES[1] if self.goal_ever else GOAL_CASES[2]

    def distractor_case(self) -> str:
        """The first ``DISTRACTOR_CASES`` that applies to an object next to the final cell."""
        row, col = int(self.batch.row[0]), int(self.batch.col[0])
        near = [o for o in self.objects if abs(o.row - row) <= 1 and abs(o.col - col) <= 1]
        cases = [DISTRACTOR_CASES[0] if f"{COLOR_NAMES[o.color]} {OBJECT_TYPES[o.type]}" in self.mission
                 else DISTRACTOR_CASES[1] if o.color == self.goal.color
                 else DISTRACTOR_CASES[2] if o.type == self.goal.type else DISTRACTOR_CASES[3] for o in near]
        return min(cases, key=DISTRACTOR_CASES.index, default=DISTRACTOR_CASES[3])

    def facing_case(self) -> str:
        """``FACING_CASES``: whether the cell ahead of the final cell holds an object other than the goal."""
        d_row, d_col = DIR_VEC[int(self.batch.heading[0])]
        ahead = (int(self.batch.row[0]) + int(d_row), int(self.batch.col[0]) + int(d_col))
        return FACING_CASES[0] if any((o.row, o.col) == ahead for o in self.objects) else FACING_CASES[1]


def format_sightlines(result: Mapping[str, Any]) -> str:
    """The result as small tables, one per question."""
    n = result["episodes"]
    lines = [f"{n} episodes, success {result['success']:.3f}", "", "outcome                         episodes"]
    lines += [f"  {k:<30}{v:>8}" for k, v in sorted(result["outcomes"].items(), key=lambda kv: -kv[1])]
    lines += ["", "failures: how the agent left the start room", ""]
    lines += [f"  {k:<48}{v:>6}" for k, v in result["doors"].items()]
    lines += ["", "stops by a distractor in the goal's room: the goal", ""]
    lines += [f"  {k:<48}{v:>6}" for k, v in result["goal"].items()]
    lines += ["", "stops by a distractor in the goal's room: what the distractor shares with the goal", ""]
    lines += [f"  {k:<48}{v:>6}" for k, v in result.get("distractor", {}).items()]
    lines += ["", "stops in the goal's room, not at the goal: what the cell ahead held", ""]
    lines += [f"  {k:<48}{v:>6}" for k, v in result.get("facing", {}).items()]
    return "\n".join(lines)
