"""Values as operators type them, in options and in the configuration: a day or a month, a comma list."""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable

from apeltools.errors import UsageError
from apeltools.quoting import quote
from apeltools.records.fields import month_bounds


def day_or_month_start(value: str) -> int:
    """Epoch seconds of the start of a YYYY-MM-DD day or a YYYY-MM month (UTC)."""
    for fmt in ("%Y-%m-%d", "%Y-%m"):
        try:
            return calendar.timegm(datetime.datetime.strptime(value, fmt).timetuple())
        except ValueError:
            continue
    raise UsageError(f"{quote(value)} is not a date (YYYY-MM-DD or YYYY-MM)")


def day_or_month_end(value: str) -> int:
    """Epoch seconds just after the end of a YYYY-MM-DD day or a YYYY-MM month (UTC)."""
    start = day_or_month_start(value)
    if len(value) == 7:
        return month_bounds(*map(int, value.split("-")))[1]
    return start + 86400


def comma_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The items of a comma-separated value, or of several (a repeated option's), blanks dropped."""
    values = [value] if isinstance(value, str) else value or ()
    return tuple(item.strip() for text in values for item in text.split(",") if item.strip())
