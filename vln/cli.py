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


def require_positive(**values: int | float | None) -> None:
    """ValueError naming the first flag (``num_envs`` -> ``--num-envs``) that is not positive."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")


def require_non_negative(**values: int | float | None) -> None:
    """ValueError naming the first flag that is negative (0 is allowed: it skips a phase)."""
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be 0 or more, got {value}")


def quiet_keras_import() -> None:
    """Import Keras (and start its backend) with native stderr muted.

    TensorFlow's C++ start-up lines come before its logging is configured, so no
    environment variable silences them; without this, a one-line ``error:`` would follow
    a screen of them.
    """
    from vln.evaluation import _NativeStderrMuted

    with _NativeStderrMuted():
        import keras

        # JAX is left unstarted: its start-up is quiet, and env worker processes forked
        # (ShardedVectorEnv) before its threads exist are safe.
        if keras.backend.backend() != "jax":
            keras.ops.convert_to_numpy(keras.ops.zeros(1))


def add_policy_arguments(parser) -> None:
    """The flags evaluate.py and rollout.py share: what drives, on which env and split."""
    parser.add_argument("--checkpoint", help="agent.keras file, or a run folder holding one")
    parser.add_argument("--policy", choices=("agent", "expert", "random"),
                        help="what drives (default: agent with --checkpoint)")
    parser.add_argument("--env", help="Gymnasium id or package.module:Class (default: the run's env, else vln/GoToObject-v0)")
    parser.add_argument("--env-kwargs", help='env keyword arguments as JSON, e.g. \'{"num_rooms": [2, 3]}\'')
    parser.add_argument("--split", choices=("train", "seen", "unseen"),
                        help="episodes: seen or unseen layouts (default unseen where the env has splits)")
