"""vln-imitation-accuracy (scripts/imitation_accuracy.py): an agent's teacher-forced fit to the expert."""

from __future__ import annotations

import argparse

DESCRIPTION = """Teacher-forced accuracy of an agent on the expert's own episodes, per split.

  python scripts/imitation_accuracy.py --checkpoint runs/default
  python scripts/imitation_accuracy.py --checkpoint runs/default --episodes 500 --splits train unseen

The agent is fed the expert's frames and previous actions, and scored on predicting the
expert's next action: accuracy and loss over all steps, and by the kind of the expert's
action (forward, turn, stop) with what the agent chose instead. The same figures on the
training layouts and on unseen ones tell underfitting (both low) from overfitting. The env
and its kwargs are the run's.
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="an agent.keras file or a run folder")
    p.add_argument("--episodes", type=int, default=200, help="expert episodes per split (default 200)")
    p.add_argument("--splits", nargs="+", default=["train", "unseen"], help="splits to measure (default train unseen)")
    p.add_argument("--seed", type=int, default=3_000_000, help="first episode seed (default 3000000)")
    p.add_argument("--num-envs", type=int, default=32, help="envs stepped together (default 32)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    import json

    from vln.cli import require_positive, resolve_inputs
    from vln.environments import make_vector_env
    from vln.evaluation import default_split
    from vln.teacher_forcing import expert_episodes, format_teacher_forced, teacher_forced

    require_positive(episodes=args.episodes, num_envs=args.num_envs)
    inputs = resolve_inputs(args.checkpoint, None, None, None, None, None, quiet=True)
    if default_split(inputs["env"]) == "train" and set(args.splits) != {"train"}:
        raise ValueError(f"env {inputs['env']!r} has no splits: use --splits train")
    results = {}
    for split in args.splits:
        env = make_vector_env(inputs["env"], min(args.num_envs, args.episodes), split, inputs["env_kwargs"], imitation=True)
        try:
            trajectories = expert_episodes(env, args.episodes, args.seed)
        finally:
            env.close()
        results[split] = teacher_forced(inputs["policy"], trajectories, inputs["max_words"])
    print(json.dumps(results, indent=2) if args.json else format_teacher_forced(results))
    return 0
