"""Allocator settings for the processes that move messages of megabytes (apel-send, apel-receive).

Every large message passes through several buffers of its own size (socket
reads, frame assembly, the signed part, the payload). By default glibc gives
each buffer above 128 KiB fresh pages from the kernel with ``mmap`` and hands
them back on ``free``, so every copy of a megabyte also pays for 256 page
faults and the zeroing of those pages: measured here, it doubled stomp.py's
cost of receiving a 1 MB message (2.0 → 1.0 ms). Raising the mmap and trim
thresholds keeps such buffers in the heap to be reused, at the price of a
resident size that stays near its high-water mark (a few times the largest
message) instead of shrinking after each one.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # the largest that glibc documents for 64-bit systems
TRIM_THRESHOLD = 256 << 20


def keep_large_buffers() -> bool:
    """Have glibc's malloc reuse large buffers instead of mapping and unmapping them; False elsewhere."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc: nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.debug("malloc thresholds not changed")
    return done
