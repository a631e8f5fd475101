#!/usr/bin/env python
"""Roll out an agent (greedy) or the expert / a random policy and write one MP4 per episode.

  python scripts/rollout.py --checkpoint runs/default --episodes 4 --video-dir videos
  python scripts/rollout.py --policy expert --env vln/FollowRoute-v0 --episodes 2
  python scripts/rollout.py --checkpoint runs/default --episodes 1 --still docs/rollout_still.png

Each video (H.264, yuv420p, plays in browsers) shows the first-person view, the top-down map
with the path so far and the goal, the instruction with each word shaded by the agent's
attention at that step, the action, the step count, the policy LSTM's most active cells,
and SUCCESS or FAIL at the end. The seeds match scripts/evaluate.py's, so episode k here is
row k of its CSV.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, os.getcwd())  # custom envs given as package.module:Class from the working folder
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vln.commands.rollout import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
