"""Reading log files: plain, gzip or bzip2, from where the last run stopped, with per-file counts.

A file is known by a hash of its first ``HEAD_SIZE`` bytes of (decompressed)
content, so a log renamed or compressed by logrotate is the same file as
before: its read offset applies, and only what was appended since the last
run is parsed. A file shorter than a full head is recognised later by the
prefix it had then. In a plain file, a last line without its newline is still
being written and is left for the next run.
"""

import bz2
import gzip
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from itertools import chain
from types import ModuleType
from typing import IO, Any, Protocol

from apeltools.db import site
from apeltools.db.base import Database
from apeltools.parsers.base import FOLDED, ParseError, Parser
from apeltools.progress import Progress
from apeltools.records.site import BatchRecord, BlahRecord

log = logging.getLogger(__name__)

HEAD_SIZE = 4096
CHUNK = 10000  # records written per transaction
MAX_ERRORS_LISTED = 20
PROGRESS_LINES = 2000  # lines between two progress updates within a file


def open_log(path: str) -> tuple[IO[bytes], bool]:
    """A binary stream of a log's content, decompressing gzip and bzip2; (stream, complete).

    ``complete`` says that nothing more will be written to the stream, so a
    last line without a newline is a whole line (a compressed file, stdin).
    """
    if path == "-":
        return sys.stdin.buffer, True
    compressed = _compression(path)
    if compressed:
        return compressed.open(path, "rb"), True
    return open(path, "rb"), False


def _compression(path: str) -> ModuleType | None:
    """The module that reads ``path`` (gzip or bz2) by its first bytes, None for a plain file."""
    with open(path, "rb") as probe:
        magic = probe.read(3)
    return gzip if magic[:2] == b"\x1f\x8b" else bz2 if magic == b"BZh" else None


@dataclass
class FileReport:
    """What reading one file did: line counts, and each distinct error with its count and first line."""

    path: str
    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    records: int = 0
    skipped_lines: int = 0  # read by earlier runs
    offset: int = 0  # bytes of content read so far, by this and earlier runs
    lines: int = 0  # lines read so far
    errors: dict[str, list[int]] = field(default_factory=dict)  # reason -> [count, first line number]
    problem: str | None = None  # the file could not be read (to the end)

    def note_error(self, reason: str, line_number: int) -> None:
        self.failed += 1
        seen = self.errors.get(reason)
        if seen is None:
            self.errors[reason] = [1, line_number]
        else:
            seen[0] += 1

    def summary(self) -> str:
        text = (f"{self.path}: {self.parsed} lines parsed, {self.ignored} ignored, {self.failed} failed, "
                f"{self.records} records")
        if self.skipped_lines:
            text += f" ({self.skipped_lines} lines read before)"
        return text

    def too_bad(self, max_bad: float | None = None) -> str | None:
        """Why this file's reading failed, or None: it yielded nothing but errors (e.g. a PBS log
        parsed as SLURM), or more than ``max_bad`` (a fraction) of its lines that are records failed."""
        tried = self.parsed + self.failed
        if self.failed and not self.parsed:
            return f"{self.path}: all {self.failed} lines failed (is it a log of this type?)"
        if max_bad is not None and tried and self.failed / tried > max_bad:
            return (f"{self.path}: {self.failed} of {tried} lines failed "
                    f"({self.failed / tried:.1%}, more than --max-bad {max_bad:g})")
        return None

    def error_lines(self) -> list[str]:
        """One line per distinct error: reason, count, first line number."""
        ordered = sorted(self.errors.items(), key=lambda item: item[1][1])
        lines = [f"{self.path}:{first}: {reason} ({count} line{'s' if count > 1 else ''})"
                 for reason, (count, first) in ordered[:MAX_ERRORS_LISTED]]
        if len(ordered) > MAX_ERRORS_LISTED:
            lines.append(f"{self.path}: ... and {len(ordered) - MAX_ERRORS_LISTED} more distinct errors")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "parsed": self.parsed, "ignored": self.ignored, "failed": self.failed,
                "records": self.records, "skipped_lines": self.skipped_lines, "problem": self.problem,
                "errors": [{"reason": r, "count": c, "first_line": f} for r, (c, f) in self.errors.items()]}


class FileMemory:
    """How far each log file was read, kept in the site database (ParsedFiles)."""

    def __init__(self, db: Database, parser_name: str, reparse: bool = False) -> None:
        self.db = db
        self.parser_name = parser_name
        self.reparse = reparse  # read known files again from their start

    def find(self, head: bytes) -> tuple[int | None, int, int]:
        """(file id, offset, lines) of a known file with this head, or (None, 0, 0)."""
        found = site.file_by_head(self.db, self.parser_name, _hash(head))
        if found:
            file_id, _, offset, lines = found
            return (file_id, 0, 0) if self.reparse else (file_id, offset, lines)
        best = None
        for file_id, head_hash, head_size, offset, lines in site.short_head_files(
                self.db, self.parser_name, len(head)):
            if (best is None or head_size > best[0]) and _hash(head[:head_size]) == head_hash:
                best = (head_size, file_id, offset, lines)
        if best:
            # Bytes read then are the same bytes now: it is that file, grown since.
            return (best[1], 0, 0) if self.reparse else (best[1], best[2], best[3])
        return None, 0, 0

    def save(self, file_id: int | None, head: bytes, offset: int, lines: int, path: str) -> None:
        site.save_file(self.db, file_id, self.parser_name, _hash(head), len(head), offset, lines,
                       os.path.abspath(path), int(time.time()))


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Output(Protocol):
    """Where parsed records go: ``write(records, then)`` takes a chunk and, with the last chunk of a
    file, a function to run in the same transaction (remembering how far the file was read)."""

    def write(self, records: list[BatchRecord | BlahRecord], then: Callable[[], None] | None = None) -> None:
        ...


# progress(records so far, bytes of content read) within one file
FileProgress = Callable[[int, int], None]


def parse_file(path: str, parser: Parser, output: Output, memory: FileMemory | None = None, chunk: int = CHUNK,
               progress: FileProgress | None = None) -> FileReport:
    """Parse one log file with ``parser`` (a fresh instance) into ``output``.

    ``output.write(records, then=None)`` takes a chunk of records and, with
    the last chunk, a function to run in the same transaction (remembering the
    offset). ``memory`` (a ``FileMemory``) makes the read start where the last
    one stopped; without it the whole file is read. ``progress(records, offset)``,
    when given, is called every ``PROGRESS_LINES`` lines with the file's records
    so far and how far into its content the read is. Never raises for the
    content of the file: bad lines are counted in the report.
    """
    report = FileReport(path)
    try:
        stream, complete = open_log(path)
    except OSError as error:
        report.problem = f"cannot read {path}: {error.strerror}"
        return report
    with stream:
        try:
            head = stream.read(HEAD_SIZE)
        except (OSError, EOFError) as error:
            report.problem = f"cannot read {path}: {error}"
            return report
        file_id, offset, lines = memory.find(head) if memory else (None, 0, 0)
        if offset and not complete and os.path.getsize(path) < offset:
            log.warning("%s is shorter than when it was last read: reading it again from the start", path)
            offset = lines = 0
        report.skipped_lines = report.lines = lines
        report.offset = offset
        _read_lines(stream, head, complete, parser, output, report, chunk, progress)
    then = (lambda: memory.save(file_id, head, report.offset, report.lines, path)) if memory else None
    tail = list(parser.finish())
    report.records += len(tail)
    output.write(tail, then)
    return report


def _read_lines(stream: IO[bytes], head: bytes, complete: bool, parser: Parser, output: Output,
                report: FileReport, chunk: int, progress: FileProgress | None = None) -> None:
    """Read and parse the lines after ``report.offset``, advancing it and ``report.lines``."""
    offset, lines = report.offset, report.lines
    next_progress: float = lines + PROGRESS_LINES if progress is not None else float("inf")
    if offset <= len(head):
        rest = _Prefixed(head[offset:], stream)
    elif complete:
        _skip(stream, offset - len(head))
        rest = _Prefixed(b"", stream)
    else:
        stream.seek(offset)
        rest = _Prefixed(b"", stream)
    parse, holds = parser.parse, parser.holds
    pending: list[Any] = []
    append = pending.append
    # Counted in locals and stored in the report after the loop: at ~10 µs a line, the report's
    # attributes written per line were a few per cent of the time.
    parsed = ignored = 0
    try:
        for raw in rest:
            if not raw.endswith(b"\n") and not complete:
                break  # still being written
            try:
                result = parse(raw.decode("utf-8", "replace"))
            except ParseError as error:
                result = error
            except (ValueError, IndexError, TypeError, ArithmeticError) as error:  # a case the parser missed
                result = ParseError(f"unexpected {type(error).__name__}")
            if result is None:
                ignored += 1
            elif isinstance(result, ParseError):
                report.note_error(str(result), lines + 1)
            else:
                parsed += 1
                if result is not FOLDED:
                    append(result)
            if holds and parser.ready:
                pending.extend(parser.ready)
                parser.ready.clear()
            if len(pending) >= chunk:
                report.records += len(pending)
                output.write(pending)
                pending = []
                append = pending.append
            # The line is done: offset and lines say where the next run starts.
            offset += len(raw)
            lines += 1
            if lines >= next_progress and progress is not None:
                next_progress = lines + PROGRESS_LINES
                progress(report.records + len(pending), offset)
    except (OSError, EOFError) as error:
        # What came before the damage stands; the lines after it cannot be read.
        report.problem = f"{report.path} is damaged after line {lines}: {error}"
    report.parsed += parsed
    report.ignored += ignored
    report.offset, report.lines = offset, lines
    report.records += len(pending)
    output.write(pending)


def _skip(stream: IO[bytes], count: int) -> None:
    while count > 0:
        data = stream.read(min(count, 1 << 20))
        if not data:
            return
        count -= len(data)


class _Prefixed:
    """Lines of ``prefix`` followed by the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self.prefix = prefix
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        # The stream's own iterator after the prefix, not one resumed through a generator per line.
        return chain(self._prefix_lines(), self.stream) if self.prefix else iter(self.stream)

    def _prefix_lines(self) -> Iterator[bytes]:
        first, nl, rest = self.prefix.partition(b"\n")
        while nl:
            yield first + nl
            first, nl, rest = rest.partition(b"\n")
        # ``first`` is the start of a line that continues in the stream.
        following = self.stream.readline()
        if first or following:
            yield first + following


class DatabaseOutput:
    """Writes parsed records to the site database, a chunk per transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.written = 0

    def write(self, records: list[BatchRecord | BlahRecord], then: Callable[[], None] | None = None) -> None:
        if not records and then is None:
            return
        with self.db.transaction():
            self.written += site.store_site_records(self.db, records)
            if then is not None:
                then()


class BatchFieldsOutput:
    """Sets ``fields`` on every batch record before passing them on to ``output``, where the
    configuration says what the deployed parser stores whatever the log says, so that a site
    that switches keeps its values: ``[site_info] lrms_server`` is every job's MachineName,
    and ``[batch] parallel = false`` makes Processors and NodeCount 0. Blah records pass as
    they are.
    """

    def __init__(self, output: Output, **fields: Any) -> None:
        self.output = output
        self.fields = fields

    def write(self, records: list[BatchRecord | BlahRecord], then: Callable[[], None] | None = None) -> None:
        for record in records:
            if record.kind == "batch":
                for name, value in self.fields.items():
                    setattr(record, name, value)
        self.output.write(records, then)


class NDJSONOutput:
    """Writes parsed records as one JSON object a line."""

    def __init__(self, stream: IO[str]) -> None:
        import json

        from apeltools.records.site import as_dict

        self.stream = stream
        self._dumps = json.dumps
        self._as_dict = as_dict
        self.written = 0

    def write(self, records: list[BatchRecord | BlahRecord], then: Callable[[], None] | None = None) -> None:
        for record in records:
            self.stream.write(self._dumps(self._as_dict(record)) + "\n")
        self.written += len(records)


def parse_files(paths: Sequence[str], parser_class: type[Parser], output: Output, memory: FileMemory | None = None,
                timezone: tzinfo | None = None, progress: Progress | None = None) -> list[FileReport]:
    """Parse several files of one log type; returns their reports. A file that cannot be read
    is reported, and the others are still parsed. Stdin (``-``) is never remembered.

    ``progress`` (an :class:`apeltools.progress.Progress`) shows each file as it is read, its bytes
    (of a plain file) and the records so far.
    """
    reports: list[FileReport] = []
    for number, path in enumerate(paths, 1):
        within: FileProgress | None = None
        if progress is not None:
            done = sum(r.records for r in reports)
            progress.start_file(f"{os.path.basename(path)} ({number}/{len(paths)})", _plain_size(path))
            within = lambda records, offset, done=done: progress.update(done + records, number - 1, offset)  # noqa: E731
        report = parse_file(path, parser_class(timezone=timezone), output, memory if path != "-" else None,
                            progress=within)
        reports.append(report)
        if progress is not None:
            progress.update(sum(r.records for r in reports), len(reports), report.offset)
    return reports


def _plain_size(path: str) -> int | None:
    """The size of an uncompressed log file, whose content offsets are its bytes; None for others."""
    try:
        return None if _compression(path) else os.path.getsize(path)
    except OSError:
        return None
