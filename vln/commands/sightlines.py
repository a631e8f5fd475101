"""vln-sightlines (scripts/sightlines.py): what a FollowRoute agent had seen when it went wrong."""

from __future__ import annotations

import argparse

DESCRIPTION = """Drive a FollowRoute agent greedily and say, for its failures, which door it left the
start room by and whether the route's door had been in its view before; and, for its stops by
another object in the goal's room, whether the goal was in view at the stop, earlier, or never.

  python scripts/sightlines.py --checkpoint runs/default
  python scripts/sightlines.py --checkpoint runs/default --episodes 1000 --split seen --json

A wrong door taken without the right one in view is a search failure, with it in view a
grounding one; so is a stop by a distractor with the goal in view. The env and its kwargs are
the run's (made with the in-view expert, whose line-of-sight test this uses).

With --door-colours it tests instead whether the agent reads the colour of the door it is told
to take: episodes that start in a room with two doors, each driven with its instruction and
again with the first door's colour word swapped for the other door's.

  python scripts/sightlines.py --checkpoint runs/default --door-colours --episodes 300
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="an agent.keras file or a run folder")
    p.add_argument("--episodes", type=int, default=500, help="episodes (default 500)")
    p.add_argument("--split", default="unseen", choices=("train", "seen", "unseen"), help="layouts (default unseen)")
    p.add_argument("--seed", type=int, default=8_000_000, help="first episode seed (default 8000000)")
    p.add_argument("--num-envs", type=int, default=64, help="episodes driven together (default 64)")
    p.add_argument("--door-colours", action="store_true",
                   help="test whether the agent reads the named door's colour (two-door starts, colour swapped)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    import json

    from vln.cli import require_positive, resolve_inputs
    from vln.sightlines import format_sightlines, sightlines

    require_positive(episodes=args.episodes, num_envs=args.num_envs)
    inputs = resolve_inputs(args.checkpoint, None, None, None, None, None, quiet=True)
    if args.door_colours:
        from vln.door_colours import door_colour_test, format_door_colour_test
        from vln.policies import AgentPolicy

        policy = AgentPolicy(inputs["policy"], "greedy", max_words=inputs["max_words"])
        result = door_colour_test(policy, inputs["env"], inputs["env_kwargs"], args.episodes, args.seed, args.split,
                                  args.num_envs)
        print(json.dumps(result, indent=2) if args.json else format_door_colour_test(result))
        return 0
    result = sightlines(inputs["policy"], inputs["env"], inputs["env_kwargs"], args.episodes, args.seed,
                        args.split, inputs["max_words"], args.num_envs)
    print(json.dumps(result, indent=2) if args.json else format_sightlines(result))
    return 0
