"""Progress on a terminal: a bar on stderr, only when stderr is a TTY, with log lines printed above it.

rich draws the bar. While it is shown, log lines must go through the same
console (:func:`console`, which :mod:`apeltools.logs` uses on a terminal), so
that rich clears the bar, prints the line and draws the bar again below it:
a line written to stderr beside it would land in the middle of the bar's line.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when a bar or the console is first needed: not on every start
    from rich.console import Console
    from rich.progress import Progress as Bars

_console: Console | None = None


def console() -> Console:
    """The stderr console that progress bars and log lines share on a terminal (plain text: no
    markup, highlighting or wrapping, as log lines are written to a file)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
    return _console


class Progress:
    """A progress bar of one run: ``update(count, second)`` shows counts and rate (``units`` name them),
    ``start_file(name, size)`` a file being read, whose bytes ``update(..., done=offset)`` advances.
    Does nothing when disabled, which it is by default when stderr is not a TTY."""

    def __init__(self, what: str, enabled: bool | None = None, units: tuple[str, str] = ("records", "messages")):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.what = what
        self.units = units
        self.started = time.monotonic()
        self._bars: Bars | None = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bars

            # stdout is data, never redirected; stray stderr writes print above the bar too.
            self._bars = Bars(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                              TimeElapsedColumn(), console=console(), transient=True, redirect_stdout=False)
            self._task = self._bars.add_task(self.what, total=None, counts="")
            self._bars.start()
        return self

    def start_file(self, name: str, size: int | None = None) -> None:
        """Show that ``name`` is read now: a bar of its ``size`` bytes when known."""
        if self._bars is not None:
            self._bars.update(self._task, description=f"{self.what} {name}", total=size, completed=0)

    def update(self, count: int, second: int | None = None, done: int | None = None) -> None:
        """``count`` of the first unit so far (and ``second`` of the other), ``done`` bytes of the file."""
        if self._bars is None:
            return
        rate = count / max(time.monotonic() - self.started, 1e-9)
        text = f"{count:,} {self.units[0]}"
        if second is not None:
            text += f", {second:,} {self.units[1]}"
        fields = {"counts": f"{text} ({rate:,.0f}/s)"}
        if done is not None:
            fields["completed"] = done
        self._bars.update(self._task, **fields)

    def __exit__(self, *exc) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
