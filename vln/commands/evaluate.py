"""vln-evaluate (scripts/evaluate.py): Room-to-Room metrics of an agent, the expert or a random policy."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """Evaluate an agent (greedy) or the expert / a random policy with the Room-to-Room metrics.

  python scripts/evaluate.py --checkpoint runs/default                  # the run's env, 200 unseen episodes
  python scripts/evaluate.py --checkpoint runs/default/agent.keras --split seen --out eval_seen.json
  python scripts/evaluate.py --policy expert --env vln/FollowRoute-v0 --episodes 50

Prints a table (SR, SPL, NE, OSR, nDTW, SDTW, PL, episodes), then the failure breakdown
(success by rooms, distractors and instruction length; why episodes failed; for routes, the
doors passed). With --out FILE it writes the
summary as JSON and one row per episode to FILE's stem + "_episodes.csv" beside it. With
--report it also writes an HTML page of the results, with 95% intervals, the breakdown and a
gallery of episode videos (and the run's config and curves for a checkpoint of a run). The
episodes run batched on the env's native vector env; the default seed is a training run's
eval seed, so the figures match its eval.json.
"""


def parse_args(argv=None) -> argparse.Namespace:
    from vln.cli import add_policy_arguments

    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_policy_arguments(p)
    p.add_argument("--episodes", type=int, default=200, help="episodes (default 200)")
    p.add_argument("--seed", type=int, default=1_000_000, help="first episode seed (default 1000000, as training's eval)")
    p.add_argument("--num-envs", type=int, default=32, help="envs stepped together (default 32)")
    p.add_argument("--max-words", type=int, help="instruction length for the agent (default: the run's)")
    p.add_argument("--out", help="write the summary JSON here (and <stem>_episodes.csv beside it)")
    p.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    p.add_argument("--report", nargs="?", const="", metavar="HTML",
                   help="also write an HTML report here (default: --out's stem + .html, else report.html), "
                        "its videos in the folder of the same name without .html")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    from vln.breakdown import format_breakdown
    from vln.checkpoint import check_writable
    from vln.cli import parse_env_kwargs, require_positive, resolve_inputs
    from vln.evaluation import evaluate, write_results

    require_positive(episodes=args.episodes, num_envs=args.num_envs)
    if args.report is not None:
        page = report_path(args)
        if page.suffix.lower() not in (".html", ".htm") or (args.out and page == Path(args.out)):
            raise ValueError(f"--report must name an .html file other than --out, got {page}")
        check_writable(page.parent)
    env_kwargs = parse_env_kwargs(args.env_kwargs) if args.env_kwargs is not None else None
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise ValueError(f"--out must be a file name, {out} is a folder")
        check_writable(out.parent if str(out.parent) else Path("."))
    run = resolve_inputs(args.checkpoint, args.policy, args.env, env_kwargs, args.split, args.max_words, quiet=True)
    summary, rows = evaluate(run["policy"], run["env"], args.episodes, args.seed, run["split"], run["env_kwargs"],
                             args.num_envs, run["max_words"])
    from vln.tables import format_markdown, format_table

    print((format_markdown if args.markdown else format_table)({f"{run['name']}/{run['split']}": summary}))
    print()
    print(format_breakdown(summary["breakdown"]))
    if args.out:
        meta = {"env": run["env"], "env_kwargs": run["env_kwargs"], "split": run["split"], "policy": run["name"],
                "checkpoint": args.checkpoint, "seed": args.seed, "max_words": run["max_words"]}
        json_path, csv_path = write_results(args.out, summary, rows, meta)
        print(f"wrote {json_path} and {csv_path}")
    if args.report is not None:
        path = _write_report(args, run, summary, rows)
        print(f"wrote {path} (open it in a browser: file://{path.resolve()})")
    return 0


def report_path(args) -> Path:
    """Where --report writes: its value, else beside --out (same stem), else report.html here."""
    if args.report:
        return Path(args.report)
    return Path(args.out).with_suffix(".html") if args.out else Path("report.html")


def _write_report(args, run, summary, rows) -> Path:
    from vln.checkpoint import run_config
    from vln.report import write_report

    config, curves = {}, None
    if args.checkpoint:  # the run's config and curves, where the checkpoint lies in a run folder
        config = run_config(args.checkpoint)
        folder = Path(args.checkpoint) if Path(args.checkpoint).is_dir() else Path(args.checkpoint).parent
        curves = next((c for c in (folder / "curves.png", folder.parent / "curves.png") if c.is_file()), None)
    return write_report(report_path(args), {run["split"]: (summary, rows)}, policy=run["policy"], env=run["env"],
                        env_kwargs=run["env_kwargs"], max_words=run["max_words"], config=config or None,
                        curves=curves, title=f"vln evaluation: {run['name']} on {run['env']} ({run['split']})")

