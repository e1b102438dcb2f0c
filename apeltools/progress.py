"""Progress on a terminal: one self-overwriting line on stderr, only when stderr is a TTY."""

import sys
import time


class Progress:
    """``update(records, messages)`` redraws at most a few times a second; nothing when disabled."""

    def __init__(self, what, enabled=None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.what = what
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, records, messages=None):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        rate = records / max(now - self.started, 1e-9)
        text = f"{self.what}: {records:,} records"
        if messages is not None:
            text += f", {messages:,} messages"
        self.stream.write(f"\r{text} ({rate:,.0f}/s)\x1b[K")
        self.stream.flush()
        self._drawn = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
