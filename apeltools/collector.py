"""Holding off Python's garbage collector while records are in hand.

A message of 1,000 records makes tens of thousands of objects (value strings, tuples, the
records) and no reference cycle. Each collection the allocations trigger walks every young
object, and the older generations' collections every record still held, and frees nothing:
decoding spent 8-10 % of its time there, apel-load about a sixth of its CPU. The collector
is held off while a message is decoded and while a loader's batch of messages is parsed and
stored, and let run again between batches, when their records are gone, so that a cycle made
by anything else (a library, an exception) is still collected.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_collection() -> Iterator[None]:
    """No garbage collection inside the block; the collector's state is left as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Pause:
    """Collection held off from ``hold`` to ``release`` (a batch's life); both may be repeated."""

    def __init__(self) -> None:
        self._enabled: bool | None = None  # the state found by the first hold, until released

    def hold(self) -> None:
        if self._enabled is None:
            self._enabled = gc.isenabled()
            gc.disable()

    def release(self) -> None:
        if self._enabled:
            gc.enable()
        self._enabled = None
