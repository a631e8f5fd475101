"""vln-compare (scripts/compare.py): a paired, episode-by-episode comparison of two evaluations."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

DESCRIPTION = """Compare two evaluations of the same episodes, episode by episode (a paired test).

  python scripts/evaluate.py --checkpoint runs/a --episodes 2000 --out a.json
  python scripts/evaluate.py --checkpoint runs/b --episodes 2000 --out b.json
  python scripts/compare.py a_episodes.csv b_episodes.csv

Prints, for each metric, A's and B's means, the difference B - A with a 95% bootstrap
interval over episodes, and McNemar's exact test on the episodes only one of them solved.
Both must use the same --seed (and --split, --env); only the seeds both hold are compared.
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="per-episode CSV of evaluation A (evaluate.py --out writes <stem>_episodes.csv)")
    p.add_argument("b", help="per-episode CSV of evaluation B, on the same seeds")
    p.add_argument("--metrics", default="success,spl", help="comma-separated per-episode columns (default success,spl)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p.parse_args(argv)


def read_rows(path: str) -> list[dict[str, str]]:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such file")
    with file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "seed" not in rows[0]:
        raise ValueError(f"{path}: not a per-episode CSV (evaluate.py --out writes one, with a seed column)")
    return rows


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    from vln.stats import paired_comparison

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    result = paired_comparison(read_rows(args.a), read_rows(args.b), metrics)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['episodes']} episodes in both")
    print(f"{'metric':<10}{'A':>8}{'B':>8}{'B - A':>9}   95% interval")
    for m in metrics:
        r = result[m]
        lo, hi = r["ci95"]
        print(f"{m:<10}{r['a']:>8.3f}{r['b']:>8.3f}{r['diff']:>+9.3f}   [{lo:+.3f}, {hi:+.3f}]")
    if "mcnemar" in result:
        mc = result["mcnemar"]
        print(f"McNemar: {mc['gained']} episodes solved only by B, {mc['lost']} only by A, p = {mc['p']:.2g}")
    return 0

