"""Ctrl-C (or SIGTERM) that no library can swallow.

The handler raises ``KeyboardInterrupt`` as Python's default does, and also sets a flag. Some
code between bench and Ray catches a ``KeyboardInterrupt`` now and then (seen once in CI: the
run went on and exited 0), so the runner ends Tune through a stopper when the flag is set and
raises again after ``fit``; the recorder writes no rows for trials stopped that way, so a resume
runs them again, exactly as when the exception gets through.

Inside ``fit`` the first signal only sets the flag (:func:`deferred`): an exception raised at an
arbitrary line there can land in a library's cleanup code (seen in CI: inside Optuna's journal
file lock release, which then failed with FileNotFoundError instead), and the stopper ends the
search within one Tune step anyway. A second signal raises at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

requested = threading.Event()
_deferring = threading.Event()


def handle(signum: int, frame: Any) -> None:
    first = not requested.is_set()
    requested.set()
    if first and _deferring.is_set():
        return  # the stopper ends the search; check() raises after it
    raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """While open, a first interrupt only sets the flag; callers end their work through it and
    call :func:`check` after."""
    _deferring.set()
    try:
        yield
    finally:
        _deferring.clear()


def install() -> None:
    """Route SIGINT and SIGTERM to :func:`handle` (main thread only, as Python requires)."""
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt arrived, even one that was swallowed."""
    if requested.is_set():
        raise KeyboardInterrupt
