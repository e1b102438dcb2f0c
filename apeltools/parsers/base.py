"""What a log parser is: the plugin contract, its errors, and helpers shared by the formats.

A parser reads one log file, line by line. ``parse(line)`` returns a record
(``BatchRecord`` or ``BlahRecord``) to output, ``None`` for a line that is
not a finished job (ignored), or ``FOLDED`` for a line that was understood
but belongs to a record that comes out later (a SLURM job step); it raises
``ParseError`` for a line it cannot read. A parser that holds records back
sets ``holds`` and appends them to ``ready`` when they are complete;
``finish()`` returns what is still held when the file ends. One parser
instance reads one file.

A site adds a batch system by publishing a subclass under the entry point
group ``apeltools.parsers`` (see ``apeltools.parsers.registry``).
"""

from __future__ import annotations

import calendar
import datetime
import time
from collections.abc import Iterable

from apeltools.records.site import BatchRecord, BlahRecord

FOLDED = object()  # a line that was parsed into a record held for later


class ParseError(ValueError):
    """A line that cannot be parsed. The message should not quote the line's values, so
    that one error repeated on many lines is counted as one distinct error."""


class Parser:
    """Base class of the parsers; ``name`` is what ``apel-parse TYPE`` calls it."""

    name = ""
    batch_system = ""  # as in InfrastructureDescription, e.g. "SLURM"; empty for blah
    holds = False
    ready: list[BatchRecord | BlahRecord]  # set by a parser that holds: the held records now complete
    # Whether ``[batch] parallel = false`` makes it store 0 processors and 0 nodes, as the
    # deployed PBS, SGE and LSF parsers do (both are summary keys: a switching site keeps its groups).
    honours_parallel = False

    def __init__(self, timezone: datetime.tzinfo | None = None) -> None:
        # Only logs that write local wall-clock times (SLURM) need the time zone.
        self.timezone = timezone

    def parse(self, line: str) -> BatchRecord | BlahRecord | object | None:
        raise NotImplementedError

    def finish(self) -> Iterable[BatchRecord | BlahRecord]:
        return ()


def check_order(start: int, end: int) -> None:
    """Refuse a job that ends before it starts: no job record can be made of it (the deployed
    parsers refuse such a line too), and passed on it would wait in the join for ever."""
    if end < start:
        raise ParseError("the job ends before it starts")


def duration(text: str) -> int:
    """Seconds of ``[D-]HH:MM:SS``, ``[[D:]HH:]MM:SS``, ``MM:SS.sss`` or plain seconds."""
    if len(text) == 8 and text[2] == ":" and text[5] == ":":
        # HH:MM:SS, the common case, as one number HHMMSS; anything else the rules below decide
        digits = text.replace(":", "")
        if len(digits) == 6 and digits.isdecimal():
            number = int(digits)
            return number // 10000 * 3600 + number // 100 % 100 * 60 + number % 100
    days = 0
    if "-" in text:
        day_text, _, text = text.partition("-")
        days = int(day_text)
    parts = text.split(":")
    if not 1 <= len(parts) <= 4 or not all(parts):
        raise ValueError(text)
    seconds = float(parts[-1])
    scale = (60, 3600, 86400)
    for position, part in enumerate(reversed(parts[:-1])):
        seconds += int(part) * scale[position]
    if seconds < 0 or (days and len(parts) == 4):
        raise ValueError(text)
    return int(round(seconds)) + days * 86400


MEMORY_UNITS = {"": 1 / 1024, "b": 1 / 1024, "k": 1, "kb": 1, "m": 1024, "mb": 1024, "g": 1024 ** 2,
                "gb": 1024 ** 2, "t": 1024 ** 3, "tb": 1024 ** 3, "p": 1024 ** 4, "pb": 1024 ** 4}


def memory_kb(text: str, default_unit: str = "") -> int | None:
    """KB of a memory value with an optional unit suffix (K, M, G, T, P, kb, mb, ...; none: bytes
    unless ``default_unit`` says otherwise); blank is unknown (None)."""
    text = text.strip()
    if not text:
        return None
    # KB already (1536000K, 524288kb), the common case: by the rules below in fewer steps
    number = text[:-2] if text[-2:] in ("kb", "KB", "Kb", "kB") else text[:-1] if text[-1] in "kK" else ""
    if number.isdecimal() and number.isascii():
        return int(number)
    end = len(text)
    while end and text[end - 1].isalpha():
        end -= 1
    unit = text[end:].lower() or default_unit
    factor = MEMORY_UNITS.get(unit)
    if factor is None:
        raise ValueError(text)
    value = float(text[:end])
    if value < 0:
        raise ValueError(text)
    return int(round(value * factor))


def epoch(text: str) -> int:
    """Epoch seconds of a non-negative integer (or decimal) text."""
    if text.isdecimal():
        return int(text)
    value = float(text) if "." in text else int(text)
    if value < 0:
        raise ValueError(text)
    return int(value)


# Epoch seconds of the midnights (``YYYY-MM-DD``) and of the minutes into a day (``HH:MM``) read so
# far: a log's lines share a few days and at most 1,440 minutes, so most lines convert only their
# seconds. Both are cleared when they grow beyond what a log could hold (damaged lines).
_MIDNIGHTS: dict[str, int] = {}
_MINUTES: dict[str, int] = {}
_REMEMBERED = 20000


def utc_epoch(text: str) -> int:
    """Epoch seconds of ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    if len(text) != 19 or text[4] != "-" or text[7] != "-" or text[13] != ":" or text[16] != ":":
        raise ValueError(text)
    day, minute = text[:10], text[11:16]
    midnight = _MIDNIGHTS.get(day)
    if midnight is None:
        # timegm is linear in day, hour, minute and second (out of range ones included): the
        # midnight plus the time of day is what it gives for the whole stamp.
        midnight = calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), 0, 0, 0))
        if len(_MIDNIGHTS) >= _REMEMBERED:
            _MIDNIGHTS.clear()
        _MIDNIGHTS[day] = midnight
    minutes = _MINUTES.get(minute)
    if minutes is None:
        minutes = int(text[11:13]) * 3600 + int(text[14:16]) * 60
        if len(_MINUTES) >= _REMEMBERED:
            _MINUTES.clear()
        _MINUTES[minute] = minutes
    return midnight + minutes + int(text[17:19])


def local_epoch(text: str, timezone: datetime.tzinfo | None = None) -> int:
    """Epoch seconds of a local wall-clock ``YYYY-MM-DDTHH:MM:SS`` in ``timezone``
    (a ``zoneinfo.ZoneInfo``; None: the system's local time zone)."""
    if len(text) != 19 or text[4] != "-" or text[7] != "-" or text[13] != ":" or text[16] != ":":
        raise ValueError(text)
    parts = (int(text[0:4]), int(text[5:7]), int(text[8:10]),
             int(text[11:13]), int(text[14:16]), int(text[17:19]))
    if timezone is None:
        return int(time.mktime(parts + (0, 0, -1)))
    return int(datetime.datetime(*parts, tzinfo=timezone).timestamp())
