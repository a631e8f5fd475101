#!/usr/bin/env python
"""vln-sightlines from a checkout: the command lives in vln/commands/sightlines.py (see --help)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vln.commands.sightlines import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
