"""The daemons' loop: one step every interval until stopped, failures waited out with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from apeltools.retry import Backoff

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0


Errors = type[Exception] | tuple[type[Exception], ...]


def repeat(step: Callable[[], object], stop: threading.Event, interval: float, *, once: bool = False,
           transient: Errors = (), ends: Errors = (), backoff: Backoff | None = None,
           housekeeping: Callable[[], None] | None = None,
           housekeeping_interval: float = HOUSEKEEPING_INTERVAL) -> None:
    """Run ``step()`` every ``interval`` seconds until ``stop`` is set, or once with ``once``.

    A step that raises ``transient`` is logged and tried again after the
    ``backoff`` delay for that many failures in a row (``once``: the error is
    raised). A step that raises ``ends`` (e.g. ``Interrupted``, stopped while
    waiting) ends the loop quietly; any other error ends it too, raised.
    ``housekeeping()`` runs after a step once ``housekeeping_interval`` seconds
    have passed since the loop started or since it last ran.
    """
    backoff = backoff or Backoff()
    failures = 0
    checked = time.monotonic()
    while not stop.is_set():
        try:
            step()
            failures = 0
        except ends:
            break
        except transient as error:
            failures += 1
            delay = backoff.delay(failures)
            log.error("%s; retrying in %.1f s", error, delay)
            if once:
                raise
            stop.wait(delay)
            continue
        if once:
            break
        if housekeeping is not None and time.monotonic() - checked >= housekeeping_interval:
            checked = time.monotonic()
            housekeeping()
        stop.wait(interval)
