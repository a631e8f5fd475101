"""What every command-line script shares: bad input as one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_guarded(body: Callable[[], int | None]) -> int:
    """Run a script's body; a user error prints ``error: ...`` and returns 2, no traceback."""
    try:
        return body() or 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - bad input must read as one line, not a traceback
        from vln.evaluation import user_error_message

        message = user_error_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
