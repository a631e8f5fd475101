#!/usr/bin/env python
"""Train a VLN agent: imitation (behaviour cloning + DAgger), then REINFORCE, then evaluation.

With no flags this is the README's main job: the default agent on vln/GoToObject-v0.
The backend is Keras's: set KERAS_BACKEND=jax (or tensorflow, the default) in the environment.
The flags are generated from vln.config.TrainConfig (see --help); the command lives in
vln/commands/train.py (installed as vln-train).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, os.getcwd())  # custom envs given as package.module:Class from the working folder
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vln.commands.train import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
