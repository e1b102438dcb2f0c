"""A whole message: recognise its format (text, XML or JSON) and parse every record of it."""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from apeltools.errors import MessageError, RecordError
from apeltools.records import text
from apeltools.records.types import now as current_time


@dataclass
class ParsedMessage:
    """The outcome of parsing one message, record by record.

    ``records`` are the good records and ``sources`` what each was read from
    (parallel to ``records``); ``errors`` hold one ``RecordError`` per bad
    record (with its index and first line) and ``rejected`` what each bad record
    was read from: a text block, an XML element or a JSON value. ``wrap``
    makes a message of the same format from such raw records (see
    :func:`reject_body`), so that bad records can be re-processed once mended.
    """

    format: str
    rtype: object
    wrap: Callable[[list], str]
    records: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    # True when no value can hold a backslash, tab or line break (lets storage skip escaping).
    plain: bool = False

    @property
    def total(self):
        return len(self.records) + len(self.errors)

    def accept(self, record, raw):
        self.records.append(record)
        self.sources.append(raw)

    def reject(self, error, index, first_line, raw):
        self.errors.append(error.at(index, first_line))
        self.rejected.append(raw)

    def refuse(self, refused):
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


def _text_body(header, blocks):
    return header + "\n" + "".join(block.strip("\n") + "\n%%\n" for block in blocks)


def _parse_text(body, now):
    header, blocks = text.split_records(body)
    fmt = text.format_for_header(header)
    message = ParsedMessage(fmt.header, fmt.rtype, partial(_text_body, fmt.header))
    message.plain = "\\" not in body and "\t" not in body and "\r" not in body
    parse_block, records, sources = text.parse_block, message.records, message.sources
    for index, block in enumerate(blocks):
        try:
            records.append(parse_block(fmt, block, now))
            sources.append(block)
        except RecordError as error:
            message.reject(error, index, text.first_line(block), block)
    return message


def parse_message(body, now=None):
    """Parse a message body (str) of any supported format.

    Raises ``MessageError`` when the message as a whole cannot be used (an
    unknown header, XML or JSON that does not parse); bad records inside a
    good message are reported in the result instead.
    """
    if now is None:
        now = current_time()
    stripped = body.lstrip()
    if not stripped:
        raise MessageError("Empty message.")
    if stripped.startswith("<"):
        from apeltools.records import xml

        return xml.parse(stripped, now)
    if stripped.startswith("{"):
        from apeltools.records import accelerator

        return accelerator.parse(stripped, now)
    return _parse_text(stripped, now)


def reject_body(message):
    """A message of the same format holding only the rejected records, to keep for re-processing
    (None when nothing was rejected): the header and each rejected record's own lines for
    text, the same root element with only the rejected record elements for XML, the same
    envelope with only the rejected UsageRecords for JSON."""
    if not message.rejected:
        return None
    return message.wrap(message.rejected)


def describe_errors(message, limit=20):
    """One line per rejected record (up to ``limit``), for logs and the reject queue."""
    lines = [str(error) for error in message.errors[:limit]]
    if len(message.errors) > limit:
        lines.append(f"... and {len(message.errors) - limit} more rejected records")
    return "\n".join(lines)


__all__ = ["ParsedMessage", "parse_message", "reject_body", "describe_errors", "MessageError"]
