"""Preemption and Ctrl-C: SIGTERM or SIGINT ends a training run at its next safe point.

A cluster sends SIGTERM some seconds before it kills a job, and Ctrl-C sends SIGINT. Inside
``stop_on_signals()`` the handler only records the signal: Python runs handlers between
bytecodes, so raising from one could land in the middle of a checkpoint write. The training
loops look at the record at safe points (each minibatch, each REINFORCE update, each DAgger
round, each step of a collection), checkpoint what a resume can continue from, and raise
``Stopped``; the command prints its one line and exits with 128 + the signal's number (143
for SIGTERM, 130 for SIGINT). A second signal ends the process at once, as if no handler
were there (the last checkpoint stands: checkpoints are committed by one rename).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []  # the signals seen inside stop_on_signals (a list: set from the handler)


class Stopped(Exception):
    """The run stopped on a signal at a safe point; ``exit_code`` is 128 + the signal's number."""

    def __init__(self, signum: int, during: str, kept: str, out: str) -> None:
        self.signum, self.during, self.kept, self.out = signum, during, kept, out
        self.exit_code = 128 + signum
        self.summary = f"stopped by {signal.Signals(signum).name} during {during}; {kept}"
        super().__init__(f"{self.summary}; continue it with --resume (run folder {out})")


def requested() -> int | None:
    """The signal that asked the run to stop, or None."""
    return _received[0] if _received else None


def _handler(signum: int, frame) -> None:
    if _received:  # a second signal: no more waiting for a safe point
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT are recorded (``requested()``) inside the block, not acted on at once.

    Outside the main thread Python cannot set handlers: there the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _received.clear()
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _received.clear()
