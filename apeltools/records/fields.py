"""Field kinds: how one value of a record is read from text, checked and written back."""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apeltools.quoting import quote

NULL_TOKENS = frozenset({"", "none", "null"})


def is_null(text: str) -> bool:
    """True when a text value is one of the null tokens (empty, None, null in any case)."""
    return len(text) <= 4 and text.lower() in NULL_TOKENS


def parse_int(text: str) -> int:
    # int() would also take "+5", " 5" and "1_000": the wire format allows digits only.
    if not text.isdigit() or not text.isascii():
        if text[:1] == "-" and text[1:].isdigit():
            raise ValueError(f"must not be negative: {quote(text, bare=True)}")
        raise ValueError(f"not an integer: {quote(text)}")
    return int(text)


# float() also takes "1_000", "١٢", "nan" and "inf": the wire format means plain decimals.
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
# Times must fit every platform's time functions and the databases' DATETIME.
LATEST_TIME = 4102444800  # 2100-01-01T00:00:00Z


def parse_float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"not a number: {quote(text)}")
    return float(text)


def check_time(epoch: int) -> int:
    """An epoch time, if it is between 1970 and 2100."""
    if not 0 <= epoch < LATEST_TIME:
        raise ValueError(f"time {epoch} is outside 1970..2099")
    return epoch


def parse_time(text: str) -> int:
    """Epoch seconds from integer epoch text or ISO 8601 ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if text.isdigit() and text.isascii():
        return check_time(int(text))
    try:
        if not _ISO_TIME.fullmatch(text):
            raise ValueError
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an epoch or ISO 8601 time: {quote(text)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return check_time(int(moment.timestamp()))


def format_time(epoch: float) -> str:
    """ISO 8601 UTC text of epoch seconds, as used in XML records and reports."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of_sql_time(value: datetime.datetime | str | None) -> int | None:
    """Epoch seconds of a DATETIME read back from either database (datetime or text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return calendar.timegm(value.timetuple())


# (year, month) of the UTC days seen so far: a message's records end on a few days, and a UTC month
# begins at a midnight, so a day's number decides its month. Cleared when it grows beyond what
# decades of days would fill (damaged times).
_MONTH_OF_DAY: dict[int, tuple[int, int]] = {}


def month_of(epoch: float) -> tuple[int, int]:
    """(year, month) in UTC of epoch seconds."""
    day = int(epoch // 86400)
    found = _MONTH_OF_DAY.get(day)
    if found is None:
        moment = time.gmtime(day * 86400)
        found = (moment.tm_year, moment.tm_mon)
        if len(_MONTH_OF_DAY) > 20000:
            _MONTH_OF_DAY.clear()
        _MONTH_OF_DAY[day] = found
    return found


@lru_cache(maxsize=1024)
def month_bounds(year: int, month: int) -> tuple[int, int]:
    """Epoch seconds of the first second of a month and of the first second after it."""
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    return start, end


@dataclass(frozen=True)
class Kind:
    """A value type: its name, its parser from text and its writer to text."""

    name: str
    parse: Callable[[str], Any]
    write: Callable[[Any], str]
    sql: str  # portable column type, spelled per dialect by the schema files

    def __repr__(self) -> str:
        return self.name


STR = Kind("str", str, str, "text")
INT = Kind("int", parse_int, str, "int")
FLOAT = Kind("float", parse_float, str, "float")
TIME = Kind("time", parse_time, str, "time")


@dataclass(frozen=True)
class Field:
    """One field of a record type.

    ``lookup`` names the lookup table that holds the field's names in the
    database (the row keeps an id); ``key_default`` is what an absent value
    becomes in the database: for a field of a natural key, because SQL UNIQUE
    keys treat every NULL as different and would defeat replacing, and
    wherever the deployed loader stores an absent value so (the text ``None``,
    a zero), so that both store the same.
    """

    name: str
    kind: Kind = STR
    mandatory: bool = False
    minimum: float | None = None
    lookup: str | None = None
    key_default: Any = None
    size: int = 255  # longest text the database column holds

    @property
    def column(self) -> str:
        """The SQL column: names kept in a lookup table are stored as ``<Name>ID``."""
        return self.name + "ID" if self.lookup else self.name


def _text_converter(kind: Kind) -> Callable[[str], Any]:
    parse = kind.parse

    def convert(text: str) -> Any:
        if len(text) <= 4 and is_null(text):
            return None
        return parse(text)

    return convert


def _convert_str(text: str) -> str | None:
    text = text.strip()
    return None if is_null(text) else text



_TEXT_CONVERTERS: dict[Kind, Callable[[str], Any]] = {STR: _convert_str}


def text_converter(kind: Kind) -> Callable[[str], Any]:
    """Function from a wire text value (null tokens included) to a value of ``kind``."""
    if kind not in _TEXT_CONVERTERS:
        _TEXT_CONVERTERS[kind] = _text_converter(kind)
    return _TEXT_CONVERTERS[kind]
