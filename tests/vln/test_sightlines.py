"""The sightlines of FollowRoute episodes: which door the agent left by, what it had seen."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the envs)
from envs.core.constants import DOOR
from envs.core.world import WorldObject
from vln.sightlines import (DISTRACTOR_CASES, DOOR_CASES, FACING_CASES, GOAL_CASES, IN_GOAL_ROOM, _Track, format_sightlines,
                            sightlines)

ROUTE = {"num_rooms": [2, 3], "max_steps": 60}


def drive(track, env, actions):
    for a in actions:
        _, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            track.end(info)
            return info
        track.step(info)
    return None


def test_the_expert_leaves_by_the_routes_door_having_seen_it_and_sees_the_goal():
    for seed in range(5):
        env = gym.make("vln/FollowRoute-v0", expert="in_view", split="unseen", **ROUTE).unwrapped
        obs, info = env.reset(seed=seed)
        track = _Track(env, info, obs["mission"])
        assert env.batch.grid[0][track.route_door] == DOOR
        while True:
            _, _, terminated, truncated, info = env.step(int(info["expert_action"]))
            if terminated or truncated:
                track.end(info)
                break
            track.step(info)
        assert info["success"]
        assert track.left_by == track.route_door and track.door_seen and track.goal_ever
        assert track.door_case() == DOOR_CASES[0]
        assert track.goal_case() == GOAL_CASES[0]  # the in-view expert stops facing the goal


def test_turning_on_the_spot_never_leaves_the_start_room():
    env = gym.make("vln/FollowRoute-v0", expert="in_view", split="unseen", **ROUTE).unwrapped
    obs, info = env.reset(seed=3)
    track = _Track(env, info, obs["mission"])
    left = [a for a, name in enumerate(env.metadata["action_names"]) if name.lower() == "left"][0]
    assert drive(track, env, [left] * 100) is not None  # truncated at max_steps
    assert track.left_by is None and track.door_case() == DOOR_CASES[3] and not track.goal_ever


def test_a_distractor_is_named_by_what_it_shares_with_the_goal():
    env = gym.make("vln/FollowRoute-v0", expert="in_view", split="unseen", **ROUTE).unwrapped
    obs, info = env.reset(seed=0)
    track = _Track(env, info, "walk past the red key and stop by the blue ball")
    track.goal = WorldObject(1, 1, 0, 2)  # a blue ball
    row, col = int(env.batch.row[0]), int(env.batch.col[0])
    # (type, colour) of one object beside the agent's cell: ball, box, key, cone; red, green, blue.
    for kind, case in [((2, 0), 0), ((1, 2), 1), ((0, 1), 2), ((3, 1), 3)]:
        track.objects = [WorldObject(row + 1, col, *kind), WorldObject(row + 3, col + 3, 2, 0)]
        assert track.distractor_case() == DISTRACTOR_CASES[case]
    # Of two objects beside it, the case listed first wins; nothing beside it is "neither".
    track.objects = [WorldObject(row - 1, col - 1, 0, 1), WorldObject(row, col + 1, 2, 2)]
    assert track.distractor_case() == DISTRACTOR_CASES[1]
    track.objects = []
    assert track.distractor_case() == DISTRACTOR_CASES[3]


def test_the_cell_ahead_says_whether_the_agent_faced_another_object():
    from envs.core.constants import DIR_VEC

    env = gym.make("vln/FollowRoute-v0", expert="in_view", split="unseen", **ROUTE).unwrapped
    obs, info = env.reset(seed=0)
    track = _Track(env, info, obs["mission"])
    row, col, heading = int(env.batch.row[0]), int(env.batch.col[0]), int(env.batch.heading[0])
    d_row, d_col = (int(v) for v in DIR_VEC[heading])
    behind = WorldObject(row - d_row, col - d_col, 0, 1)
    track.objects = [behind]
    assert track.facing_case() == FACING_CASES[1]  # an object behind the agent is not faced
    track.objects = [behind, WorldObject(row + d_row, col + d_col, 2, 0)]
    assert track.facing_case() == FACING_CASES[0]
    env.batch.heading[0] = (heading + 2) % 4  # turned round: now it faces the one that was behind
    track.objects = [behind]
    assert track.facing_case() == FACING_CASES[0]


def test_sightlines_counts_add_up_and_other_envs_are_refused():
    from agents import AgentConfig, VLNAgent, Vocabulary

    env = gym.make("vln/FollowRoute-v0", **ROUTE)
    missions = [env.reset(seed=s)[0]["mission"] for s in range(50)]
    vocab = Vocabulary.build(missions)
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=int(env.action_space.n), hidden=16, text_hidden=8,
                                 conv_filters=(4, 8, 8), attention_dim=8), vocab)
    result = sightlines(agent, "vln/FollowRoute-v0", ROUTE, 12, seed=100, num_envs=5)
    assert result["episodes"] == 12 == sum(result["outcomes"].values())
    failures = 12 - result["outcomes"].get("success", 0)
    assert sum(result["doors"].values()) == failures
    assert sum(result["goal"].values()) == result["outcomes"].get("at_distractor", 0)
    assert sum(result["distractor"].values()) == result["outcomes"].get("at_distractor", 0)
    assert sum(result["facing"].values()) == sum(result["outcomes"].get(c, 0) for c in IN_GOAL_ROOM)
    assert "what the cell ahead held" in format_sightlines(result)
    assert "failures: how the agent left the start room" in format_sightlines(result)
    with pytest.raises(ValueError, match="rooms and doors"):
        sightlines(agent, "vln/GoToObject-v0", {}, 2, seed=0)
