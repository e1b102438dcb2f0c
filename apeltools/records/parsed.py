"""The outcome of parsing one message: its good records, its bad ones and why, and how to re-wrap them.

Every codec (text, XML, JSON) fills one; nothing here knows a format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from apeltools.errors import RecordError
from apeltools.records.types import RecordType


@dataclass
class ParsedMessage:
    """The outcome of parsing one message, record by record.

    ``records`` are the good records and ``sources`` what each was read from
    (parallel to ``records``); ``errors`` hold one ``RecordError`` per bad
    record (with its index and first line) and ``rejected`` what each bad record
    was read from: a text block, an XML element or a JSON value. ``wrap``
    makes a message of the same format from such raw records (see
    ``message.reject_body``), so that bad records can be re-processed once mended.
    """

    format: str
    rtype: RecordType
    wrap: Callable[[list], str]
    records: list[Any] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    # True when no value can hold a backslash or a tab (lets storage skip escaping: values hold no
    # LF, and a CR is data to LOAD DATA, whose lines end at LF).
    plain: bool = False

    @property
    def total(self) -> int:
        return len(self.records) + len(self.errors)

    def accept(self, record: Any, raw: Any) -> None:
        self.records.append(record)
        self.sources.append(raw)

    def reject(self, error: RecordError, index: int, first_line: str | None, raw: Any) -> None:
        self.errors.append(error.at(index, first_line))
        self.rejected.append(raw)

    def refuse(self, refused: list[tuple[Any, RecordError]]) -> None:
        """Move good records to the rejected ones: ``refused`` is [(record, RecordError)]."""
        if not refused:
            return
        reasons = {id(record): error for record, error in refused}
        records, sources = [], []
        for record, raw in zip(self.records, self.sources):
            error = reasons.get(id(record))
            if error is None:
                records.append(record)
                sources.append(raw)
            else:
                self.errors.append(error)
                self.rejected.append(raw)
        self.records, self.sources = records, sources
