#!/usr/bin/env python
"""Compare two evaluations of the same episodes, episode by episode (a paired test).

  python scripts/evaluate.py --checkpoint runs/a --episodes 2000 --out a.json
  python scripts/evaluate.py --checkpoint runs/b --episodes 2000 --out b.json
  python scripts/compare.py a_episodes.csv b_episodes.csv

Prints, for each metric, A's and B's means, the difference B - A with a 95% bootstrap
interval over episodes, and McNemar's exact test on the episodes only one of them solved.
Both must use the same --seed (and --split, --env); only the seeds both hold are compared.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vln.commands.compare import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
