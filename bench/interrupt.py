"""Ctrl-C (or SIGTERM) that no library can swallow.

The handler raises ``KeyboardInterrupt`` as Python's default does, and also sets a flag. Some
code between bench and Ray catches a ``KeyboardInterrupt`` now and then (seen once in CI: the
run went on and exited 0), so the runner ends Tune through a stopper when the flag is set and
raises again after ``fit``; the recorder writes no rows for trials stopped that way, so a resume
runs them again, exactly as when the exception gets through.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

requested = threading.Event()


def handle(signum: int, frame: Any) -> None:
    requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT and SIGTERM to :func:`handle` (main thread only, as Python requires)."""
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt arrived, even one that was swallowed."""
    if requested.is_set():
        raise KeyboardInterrupt
