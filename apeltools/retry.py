"""Waiting out transient faults: exponential backoff with jitter that a stop request interrupts."""

import logging
import random
import threading
import time

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """A stop was requested (SIGTERM) or the retry budget ran out while waiting."""


class Backoff:
    """Delays of ``initial``, doubling up to ``maximum`` seconds, for at most ``give_up_after``.

    Each delay is drawn at random between half and all of that step ("equal
    jitter"): processes that failed together (loaders of one database that
    restarted, senders of one broker) would otherwise come back in step and
    hammer the recovering service at the same instants. ``stop`` is a
    ``threading.Event``; setting it ends any wait at once. ``random`` draws
    in [0, 1); tests pass their own.
    """

    def __init__(self, initial=1.0, maximum=60.0, give_up_after=None, stop=None, random=random.random):
        self.initial = initial
        self.maximum = maximum
        self.give_up_after = give_up_after
        self.stop = stop or threading.Event()
        self.random = random

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row: between half and all of ``initial``
        doubled ``failures - 1`` times, at most ``maximum``."""
        step = min(self.initial * 2 ** (failures - 1), self.maximum)
        return step * (0.5 + self.random() / 2)

    def call(self, action, transient, describe):
        """Run ``action()`` until it does not raise ``transient``; return its result.

        ``give_up_after`` counts from the first attempt, attempts included; the
        last wait is cut to what is left of it, so that the last attempt falls at
        the end of the budget rather than one doubling before it. Raises
        ``Interrupted`` when stopped or out of time; the caller then leaves its
        work where it was (e.g. unlocks the queue element).
        """
        failures, started = 0, time.monotonic()
        while True:
            if self.stop.is_set():
                raise Interrupted("stopped")
            try:
                result = action()
            except transient as error:
                failures += 1
                wait, elapsed = self.delay(failures), time.monotonic() - started
                if self.give_up_after is not None:
                    left = self.give_up_after - elapsed
                    wait = min(wait, left)
                    if wait <= 0:
                        raise Interrupted(f"gave up after {elapsed:.0f} s: {error}") from error
                    until = f"giving up in {left:.0f} s"
                else:
                    until = "for as long as it takes"
                # What is waited for and how long, so that a wait is not mistaken for a hang.
                log.warning("%s: %s; retrying in %.1f s (%s)", describe, error, wait, until)
                if self.stop.wait(wait):
                    raise Interrupted("stopped") from error
                continue
            if failures:
                log.warning("%s: succeeded after %d failed attempts", describe, failures)
            return result
