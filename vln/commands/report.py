"""vln-report (scripts/report.py): a run's report.html, its videos beside it."""

from __future__ import annotations

import argparse

DESCRIPTION = """Write RUN/report.html: the run's config, learning curves, results with 95% intervals,
failure breakdown and a gallery of episode videos, filterable by outcome.

  python scripts/report.py runs/default
  python scripts/report.py runs/default --gallery 6

Training writes it at the end (unless --no-report). The page is self-contained: open it
from the file system (file://), no network needed; its videos are in RUN/report/.
"""


def parse_args(argv=None) -> argparse.Namespace:
    from vln.report import GALLERY_SIZE

    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run folder (config.json, eval.json, agent.keras, ...)")
    p.add_argument("--gallery", type=int, default=GALLERY_SIZE,
                   help=f"at most this many episode videos (default {GALLERY_SIZE}; 0: none)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from vln.cli import command_main

    return command_main(parse_args, _run, argv)


def _run(args) -> int:
    import time

    from vln.checkpoint import check_writable
    from vln.cli import quiet_keras_import, require_non_negative

    from pathlib import Path

    require_non_negative(gallery=args.gallery)
    if not (Path(args.run) / "config.json").is_file():  # before Keras starts: a typo fails at once
        raise ValueError(f"{args.run} holds no run: no config.json")
    check_writable(args.run)
    quiet_keras_import()
    from vln.report import write_run_report

    t0 = time.perf_counter()
    path = write_run_report(args.run, gallery=args.gallery)
    print(f"wrote {path} in {time.perf_counter() - t0:.1f} s (open it in a browser: file://{path.resolve()})")
    return 0
