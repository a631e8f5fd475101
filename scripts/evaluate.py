#!/usr/bin/env python
"""Evaluate an agent (greedy) or the expert / a random policy with the Room-to-Room metrics.

  python scripts/evaluate.py --checkpoint runs/default                  # the run's env, 200 unseen episodes
  python scripts/evaluate.py --checkpoint runs/default/agent.keras --split seen --out eval_seen.json
  python scripts/evaluate.py --policy expert --env vln/FollowRoute-v0 --episodes 50

Prints a table (SR, SPL, NE, OSR, nDTW, SDTW, PL, episodes). With --out FILE it writes the
summary as JSON and one row per episode to FILE's stem + "_episodes.csv" beside it. The
episodes run batched on the env's native vector env; the default seed is a training run's
eval seed, so the figures match its eval.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, os.getcwd())  # custom envs given as package.module:Class from the working folder
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vln.commands.evaluate import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
