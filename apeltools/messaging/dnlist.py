"""The list of authorised signer DNs, re-read when its file changes, never lost to a bad rewrite.

One DN per line in OpenSSL slash form, ``#`` comments and blank lines ignored
(formats.md §7). When the file changes and the new content is empty or cannot
be read, the last good list stays in force and an error is logged: an outage
of whatever writes the file must not reject every message.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from apeltools.errors import ConfigError

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0


def parse_dns(text: str) -> frozenset[str]:
    """The DNs of a DN list file's text (comments and blank lines dropped)."""
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
    )


class DNList:
    """``dn in dns`` answers from the current file, checked for changes at most once a second."""

    def __init__(self, path: str, check_interval: float = CHECK_INTERVAL):
        self.path = path
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._stamp = None
        self._checked = 0.0
        self._dns: frozenset[str] | None = None
        self.refresh()
        if not self._dns:
            raise ConfigError(f"DN list {path} is missing, unreadable or empty: refusing to start")

    def __contains__(self, dn: str) -> bool:
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self.refresh()
        return dn in self._dns

    def __len__(self) -> int:
        return len(self._dns or ())

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read."""
        with self._lock:
            self._checked = time.monotonic()
            try:
                info = os.stat(self.path)
            except OSError as error:
                if self._stamp != "missing":
                    self._complain(f"cannot read DN list {self.path}: {error.strerror}")
                    self._stamp = "missing"
                return
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                with open(self.path, encoding="utf-8") as handle:
                    dns = parse_dns(handle.read())
            except (OSError, UnicodeDecodeError) as error:
                self._complain(f"cannot read DN list {self.path}: {getattr(error, 'strerror', None) or error}")
                return
            if not dns:
                self._complain(f"DN list {self.path} is empty")
                return
            if self._dns is not None:
                log.info("DN list %s re-read: %d DNs (was %d)", self.path, len(dns), len(self._dns))
            self._dns = dns

    def _complain(self, problem: str) -> None:
        if self._dns:
            log.error("%s; keeping the previous list of %d DNs", problem, len(self._dns))
        else:
            log.error(problem)
