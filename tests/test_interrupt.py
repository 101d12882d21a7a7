"""Ctrl-C inside a Tune search only sets the flag the stopper reads (an exception raised at an
arbitrary line there can land in a library's cleanup); a second Ctrl-C, or one elsewhere, raises."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from bench import interrupt


@pytest.fixture(autouse=True)
def no_interrupt_requested() -> Iterator[None]:
    interrupt.requested.clear()
    yield
    interrupt.requested.clear()


def test_first_interrupt_inside_deferred_sets_the_flag_and_a_second_raises() -> None:
    with interrupt.deferred():
        interrupt.handle(signal.SIGINT, None)
        assert interrupt.requested.is_set()
        with pytest.raises(KeyboardInterrupt):
            interrupt.handle(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()


def test_interrupt_outside_deferred_raises_at_once() -> None:
    with pytest.raises(KeyboardInterrupt):
        interrupt.handle(signal.SIGTERM, None)
    assert interrupt.requested.is_set()
