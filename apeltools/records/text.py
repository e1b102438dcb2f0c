"""The APEL text message grammar: ``Header: vX.Y``, then ``Key: Value`` records ended by ``%%``."""

import re
from dataclasses import dataclass

from apeltools.errors import MessageError
from apeltools.quoting import quote
from apeltools.records import benchmark
from apeltools.records.columns import (
    DICT, LEGACY, NORMALISED_DICT, NORMALISED_DURATIONS, NORMALISED_LEGACY, ColumnDecoder, lf_block,
)
from apeltools.records.fields import TIME
from apeltools.records.types import JOB, NORMALISED_SUMMARY, SUMMARY, SYNC, CLOUD, CLOUD_SUMMARY

HEADER_SHAPE = re.compile(r"^APEL(-[a-z]+)+-message: v[0-9]+\.[0-9]+$")
_SEPARATOR = re.compile(r"^[ \t]*%%[ \t]*$", re.M)


@dataclass(frozen=True, eq=False)
class TextFormat:
    """One header of the text grammar: its record type and how it spells benchmarks."""

    header: str
    rtype: object
    benchmarks: str | None = None

    def __post_init__(self):
        hidden = set()
        if self.benchmarks in (DICT, NORMALISED_LEGACY, NORMALISED_DICT):
            hidden.add("ServiceLevelType")
        wire = tuple(f for f in self.rtype.fields if f.name not in hidden)
        object.__setattr__(self, "hidden", frozenset(hidden))
        object.__setattr__(self, "wire", wire)
        implied = {"ServiceLevelType": "HEPSPEC"} if self.benchmarks == NORMALISED_LEGACY else {}
        object.__setattr__(self, "implied", implied)
        # The deployed loader stores a v0.4 job's benchmark type as its dict key in lower case.
        object.__setattr__(self, "lower_case_type", self.rtype is JOB and self.benchmarks == DICT)
        object.__setattr__(self, "decoder", ColumnDecoder(self))

    @property
    def type_name(self):
        return self.header.split(":", 1)[0]

    def __repr__(self):
        return f"<TextFormat {self.header}>"


JOB_V03 = TextFormat("APEL-individual-job-message: v0.3", JOB, LEGACY)
JOB_V04 = TextFormat("APEL-individual-job-message: v0.4", JOB, DICT)
SUMMARY_V02 = TextFormat("APEL-summary-job-message: v0.2", SUMMARY, LEGACY)
SUMMARY_V04 = TextFormat("APEL-summary-job-message: v0.4", SUMMARY, DICT)
NORMALISED_V03 = TextFormat("APEL-summary-job-message: v0.3", NORMALISED_SUMMARY, NORMALISED_LEGACY)
NORMALISED_V04 = TextFormat("APEL-normalised-summary-message: v0.4", NORMALISED_SUMMARY, NORMALISED_DICT)
SYNC_V01 = TextFormat("APEL-sync-message: v0.1", SYNC)
CLOUD_V04 = TextFormat("APEL-cloud-message: v0.4", CLOUD)
CLOUD_SUMMARY_V04 = TextFormat("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY)

TEXT_FORMATS = (
    JOB_V03, JOB_V04, SUMMARY_V02, SUMMARY_V04, NORMALISED_V03, NORMALISED_V04,
    SYNC_V01, CLOUD_V04, CLOUD_SUMMARY_V04,
)
_BY_HEADER = {f.header: f for f in TEXT_FORMATS}
_BY_HEADER["APEL-individual-job-message: v0.2"] = TextFormat(
    "APEL-individual-job-message: v0.2", JOB, LEGACY
)


def format_for_header(header):
    """The text format of a header line, or MessageError when it is not one we know."""
    header = header.strip()
    found = _BY_HEADER.get(header)
    if found is None and HEADER_SHAPE.match(header):
        type_name, version = header.split(": ", 1)
        if type_name == "APEL-individual-job-message" and version != "v0.4":
            # Every job message version but v0.4 uses the legacy benchmark syntax.
            found = TextFormat(header, JOB, LEGACY)
    if found is None:
        raise MessageError(f"Message type {quote(header, bare=True)} not recognised.")
    return found


def split_records(body):
    """(header, [record block text, ...]) of a text message; blank blocks are dropped."""
    header, blocks, crlf = split_lines(body)
    return header, list(map(lf_block, blocks)) if crlf else blocks


def split_lines(body):
    """(header, [record block text, ...], crlf) of a text message. With ``crlf``, the blocks
    are as written (CRLF line ends), each with a CR of its own at its end (the one of the
    separator's line end): ``columns.lf_block`` makes one the block of ``split_records``.

    A message with CRs is split at ``\n%%\r\n`` as it is, rather than copied with its CRLF
    pairs made LF first (a pass over the whole message of 1-2 ms for 1,000 records); when
    that leaves a '%' in a piece (a separator between other line ends, with blanks around
    it, or a value holding "%%"), the message is copied with LF and split as any other.
    """
    if "\r" in body:
        header, _, rest = body.lstrip().partition("\n")
        pieces = ("\r\n" + rest).split("\n%%\r\n")
        if "%" not in "".join(pieces):
            last = pieces.pop()  # the text after the last separator: no CR of one at its end
            blocks = [piece if piece[-1:] == "\r" else piece + "\r" for piece in pieces if piece and not piece.isspace()]
            if last and not last.isspace():
                blocks.append(last + "\r")
            return header.strip(), blocks, True
        body = body.replace("\r\n", "\n")
    header, _, rest = body.lstrip().partition("\n")
    # Splitting at "\n%%\n" is many times faster than a multi-line regular expression;
    # the rare pieces that still hold "%%" (a separator with spaces around it, or a
    # value containing "%%") are split exactly by the expression.
    pieces = ("\n" + rest).split("\n%%\n")
    if "%" not in "".join(pieces):  # one search of a copy is cheaper than one per piece
        return header.strip(), [piece for piece in pieces if piece and not piece.isspace()], False
    blocks = []
    for piece in pieces:
        if "%%" in piece:
            blocks.extend(block for block in _SEPARATOR.split(piece) if block.strip())
        elif piece.strip():
            blocks.append(piece)
    return header.strip(), blocks, False


_HEADER_LINE = re.compile(r"^APEL(?:-[a-z]+)+-message: v[0-9]+\.[0-9]+\r?$", re.M)


def split_stream(body):
    """The messages of a stream of text messages written one after another.

    A header line cannot be a record line (no field is named like one), so
    each header starts a message. XML, JSON and single messages come back whole.
    """
    if body.lstrip()[:1] in ("<", "{"):
        return [body]
    starts = [m.start() for m in _HEADER_LINE.finditer(body)]
    if len(starts) <= 1:
        return [body]
    return [body[a:b] for a, b in zip([0] + starts[1:], starts[1:] + [len(body)])]


def first_line(block):
    """The first non-blank line of a record block, for error messages."""
    return block.strip().split("\n", 1)[0].strip()


def decode(fmt, blocks, now, crlf=False):
    """([record, or None where bad], {index: RecordError}) of a message's record blocks
    (``crlf``: as ``split_lines`` gives them)."""
    return fmt.decoder.decode(blocks, now, crlf)


def parse_block(fmt, block, now):
    """One record of a text format from its block of ``Key: Value`` lines."""
    records, bad = fmt.decoder.decode([block], now)
    if bad:
        raise bad[0]
    return records[0]


def _write_value(fmt, field, record):
    value = getattr(record, field.name)
    if value is None:
        return None if field.kind is TIME else "None"
    if fmt.benchmarks == DICT and field.name == "ServiceLevel":
        return benchmark.write_dict(record.ServiceLevelType, value)
    if fmt.benchmarks == NORMALISED_DICT and field.name in NORMALISED_DURATIONS:
        return benchmark.write_dict(record.ServiceLevelType, value)
    return field.kind.write(value)


def write_record(fmt, record):
    """The ``Key: Value`` lines of one record, ended by ``%%``."""
    lines = []
    for field in fmt.wire:
        text = _write_value(fmt, field, record)
        if text is not None:
            lines.append(f"{field.name}: {text}")
    lines.append("%%")
    return "\n".join(lines) + "\n"


def write_message(fmt, records):
    """A whole text message: the header line, then every record."""
    return fmt.header + "\n" + "".join(write_record(fmt, record) for record in records)
