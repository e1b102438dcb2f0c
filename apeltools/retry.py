"""Waiting out transient faults: exponential backoff that a stop request interrupts."""

import logging
import threading
import time

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """A stop was requested (SIGTERM) or the retry budget ran out while waiting."""


class Backoff:
    """Delays of ``initial``, doubling up to ``maximum`` seconds, for at most ``give_up_after``.

    ``stop`` is a ``threading.Event``; setting it ends any wait at once.
    """

    def __init__(self, initial=1.0, maximum=60.0, give_up_after=None, stop=None):
        self.initial = initial
        self.maximum = maximum
        self.give_up_after = give_up_after
        self.stop = stop or threading.Event()

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row: ``initial``, doubling, at most ``maximum``."""
        return min(self.initial * 2 ** (failures - 1), self.maximum)

    def call(self, action, transient, describe):
        """Run ``action()`` until it does not raise ``transient``; return its result.

        ``give_up_after`` counts from the first attempt, attempts included; the
        last wait is cut to what is left of it, so that the last attempt falls at
        the end of the budget rather than one doubling before it. Raises
        ``Interrupted`` when stopped or out of time; the caller then leaves its
        work where it was (e.g. unlocks the queue element).
        """
        delay, failures, started = self.initial, 0, time.monotonic()
        while True:
            if self.stop.is_set():
                raise Interrupted("stopped")
            try:
                result = action()
            except transient as error:
                failures += 1
                wait, elapsed = delay, time.monotonic() - started
                if self.give_up_after is not None:
                    left = self.give_up_after - elapsed
                    wait = min(delay, left)
                    if wait <= 0:
                        raise Interrupted(f"gave up after {elapsed:.0f} s: {error}") from error
                    until = f"giving up in {left:.0f} s"
                else:
                    until = "for as long as it takes"
                # What is waited for and how long, so that a wait is not mistaken for a hang.
                log.warning("%s: %s; retrying in %.0f s (%s)", describe, error, wait, until)
                if self.stop.wait(wait):
                    raise Interrupted("stopped") from error
                delay = min(delay * 2, self.maximum)
                continue
            if failures:
                log.warning("%s: succeeded after %d failed attempts", describe, failures)
            return result
