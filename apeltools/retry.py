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

    def call(self, action, transient, describe):
        """Run ``action()`` until it does not raise ``transient``; return its result.

        Raises ``Interrupted`` when stopped or out of time; the caller then
        leaves its work where it was (e.g. unlocks the queue element).
        """
        delay, waited, failures = self.initial, 0.0, 0
        while True:
            if self.stop.is_set():
                raise Interrupted("stopped")
            try:
                result = action()
            except transient as error:
                failures += 1
                if self.give_up_after is not None and waited + delay > self.give_up_after:
                    raise Interrupted(f"gave up after {waited:.0f} s: {error}") from error
                log.warning("%s: %s; retrying in %.0f s", describe, error, delay)
                started = time.monotonic()
                if self.stop.wait(delay):
                    raise Interrupted("stopped") from error
                waited += time.monotonic() - started
                delay = min(delay * 2, self.maximum)
                continue
            if failures:
                log.warning("%s: succeeded after %d failed attempts", describe, failures)
            return result
