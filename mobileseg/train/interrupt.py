"""Ctrl-C (SIGINT) and SIGTERM during training: finish the step, save ``last.pt``, say how to resume.

A signal that arrived mid-step would leave the optimiser half-applied, so the handler only asks
the loop to stop; the loop checks between steps, writes the resumable checkpoint it would have
written at a ``--save-every`` step, and ends with :class:`TrainingInterrupted`. A second signal
stops at once (the last saved checkpoint stays valid: checkpoints are written atomically).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from mobileseg.errors import MobilesegError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(MobilesegError):
    """Training stopped on a signal after saving a checkpoint it can resume from."""


class StopRequest:
    """Set by the first SIGINT/SIGTERM while :func:`stop_on_signal` is active."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""


@contextlib.contextmanager
def stop_on_signal(enabled: bool = True) -> Iterator[StopRequest]:
    """Within the block the first SIGINT/SIGTERM sets the yielded request; a second raises
    KeyboardInterrupt. Outside the main thread (or with ``enabled`` False) nothing is installed."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request:
            raise KeyboardInterrupt
        request.signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
