"""The door-colour test: two-door starts driven with their instruction and with the door's colour swapped."""

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the envs)
from envs.core.constants import COLOR_NAMES
from vln.door_colours import door_colour_test, doors_taken, format_door_colour_test, start_room_doors, two_door_starts
from vln.policies import ExpertPolicy

ROUTE = {"num_rooms": [3, 3], "max_steps": 60}


def test_two_door_starts_swap_only_the_first_doors_colour_for_the_other_doors():
    starts = two_door_starts("vln/FollowRoute-v0", ROUTE, 6, seed=0)
    assert len(starts) == 6 and len({s.seed for s in starts}) == 6
    env = gym.make("vln/FollowRoute-v0", expert="in_view", split="unseen", **ROUTE).unwrapped
    for s in starts:
        obs, _ = env.reset(seed=s.seed)
        assert obs["mission"] == s.mission
        assert sorted(start_room_doors(env)) == sorted([s.route_door, s.other_door])
        named = COLOR_NAMES[int(env.episode.door_color[s.route_door])]
        other = COLOR_NAMES[int(env.episode.door_color[s.other_door])]
        assert named != other
        first = s.mission.index(f"{named} door")
        assert s.swapped == s.mission[:first] + other + s.mission[first + len(named):]
        assert s.swapped.index(f"{other} door") == first  # the swap is the first door the words name
    assert two_door_starts("vln/FollowRoute-v0", ROUTE, 6, seed=0) == starts  # seeded


def test_the_expert_ignores_the_words_so_it_takes_the_routes_door_both_times():
    """The expert walks to the route's door whatever the instruction says: every episode leaves by
    the route's door, the same door with the colour swapped, so the colour is never read."""
    result = door_colour_test(ExpertPolicy(), "vln/FollowRoute-v0", ROUTE, 10, seed=0, num_envs=4)
    assert result == {"episodes": 10, "route_door": 1.0, "swapped_named_door": 0.0, "same_door": 1.0, "colour_read": 0.0}
    assert "the same door both times" in format_door_colour_test(result)


def test_an_episode_that_never_reaches_a_door_takes_none():
    class Spin(ExpertPolicy):
        def act(self, images, expert):
            return expert * 0 + 1, {}  # turn on the spot until the step limit

    starts = two_door_starts("vln/FollowRoute-v0", {**ROUTE, "max_steps": 8}, 2, seed=0)
    taken = doors_taken(Spin(), "vln/FollowRoute-v0", {**ROUTE, "max_steps": 8}, starts, [s.mission for s in starts])
    assert taken == [None, None]


def test_envs_without_rooms_are_refused():
    with pytest.raises(ValueError, match="rooms and doors"):
        two_door_starts("vln/GoToObject-v0", {}, 2, seed=0)


def test_the_command_runs_the_test_on_a_saved_agent_and_refuses_envs_without_doors(tmp_path, capsys, tiny_goto_run):
    import json

    from agents import AgentConfig, VLNAgent, Vocabulary
    from vln.commands.sightlines import main

    env = gym.make("vln/FollowRoute-v0", **ROUTE)
    vocab = Vocabulary.build([env.reset(seed=s)[0]["mission"] for s in range(50)])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=int(env.action_space.n), hidden=16, text_hidden=8,
                                 conv_filters=(4, 8, 8), attention_dim=8), vocab)
    run = tmp_path / "route"
    run.mkdir()
    agent.save(run / "agent.keras")
    (run / "config.json").write_text(json.dumps({"env": "vln/FollowRoute-v0", "env_kwargs": ROUTE, "max_words": 48}))
    assert main(["--checkpoint", str(run), "--door-colours", "--episodes", "3", "--seed", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 3 and 0 <= result["colour_read"] <= min(result["route_door"], result["swapped_named_door"])
    assert main(["--checkpoint", str(tiny_goto_run), "--door-colours", "--episodes", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "rooms and doors" in err[0]
