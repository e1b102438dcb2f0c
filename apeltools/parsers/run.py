"""A parse run: the log files of one or more sources into the site database or NDJSON, with one report.

``apel-parse`` is this module behind options: :func:`sources_for` says which
files of which type (named on the command line, or as the configuration's
``[blah]``, ``[batch]`` and ``[parser:NAME]`` sections describe them), and
:func:`parse` reads them, logs what each file gave and fails when a file could
not be read, yielded nothing but errors or more than ``max_bad`` of them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TextIO

from apeltools.config import Config
from apeltools.db.base import Database
from apeltools.errors import ApelError, ConfigError, UsageError
from apeltools.parsers import files, registry, sources
from apeltools.parsers.files import FileReport
from apeltools.parsers.sources import LogSource
from apeltools.progress import Progress
from apeltools.quoting import quote

log = logging.getLogger(__name__)

Batch = tuple[LogSource, list[str]]  # a source and the files of it to parse


def sources_for(config: Config, log_type: str | None = None, paths: tuple[str, ...] | list[str] = ()
                ) -> list[Batch]:
    """The files to parse: ``paths`` of ``log_type`` (``-`` is stdin), or without them every file the
    configuration describes."""
    if log_type and not paths:
        raise UsageError("give the FILEs of TYPE (or neither, to parse what the configuration describes)")
    if log_type:
        source = LogSource("command line", log_type, ".", timezone=config.get("parser", "timezone"),
                           machine_name=config.get("site_info", "lrms_server"))
        return [(source, list(paths))]
    batches = [(source, source.files()) for source in sources.configured(config)]
    if not batches:
        raise UsageError("give TYPE and FILEs, or configure [blah], [batch] or [parser:NAME] sections (see --help)")
    return batches


def time_zone(name: str | None) -> tzinfo | None:
    """The time zone called ``name`` (e.g. Europe/London); None (the system's) when no name is given."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {quote(name)} (use a name like Europe/London)") from None


@dataclass
class ParseRun:
    """What a parse run read: one report per file, and how long it took."""

    reports: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(r.records for r in self.reports)

    def summary(self) -> str:
        reports = self.reports
        lines = sum(r.parsed + r.ignored + r.failed for r in reports)
        return (f"{len(reports)} files: {sum(r.parsed for r in reports)} lines parsed, "
                f"{sum(r.ignored for r in reports)} ignored, {sum(r.failed for r in reports)} failed, "
                f"{self.records} records in {self.seconds:.1f} s "
                f"({lines / max(self.seconds, 1e-9):,.0f} lines/s)")

    def check(self, max_bad: float | None = None) -> None:
        """Log each file's report, then raise ``ApelError`` when a file could not be read completely,
        yielded nothing but errors, or had more than ``max_bad`` (a fraction) of failed lines."""
        for report in self.reports:
            log.info(report.summary())
            for line in report.error_lines():
                log.warning(line)
            if report.problem:
                log.error(report.problem)
        log.info(self.summary())
        total = len(self.reports)
        unreadable = [r for r in self.reports if r.problem]
        if unreadable:
            raise ApelError(f"{len(unreadable)} of {total} files could not be read completely (see above)")
        bad = [reason for reason in (r.too_bad(max_bad) for r in self.reports) if reason]
        for reason in bad:
            log.error(reason)
        if bad:
            raise ApelError(f"{len(bad)} of {total} files had too many lines that could not be parsed (see above)")


def parse(batches: list[Batch], db: Database | None = None, stream: TextIO | None = None, timezone: str | None = None,
          max_bad: float | None = None) -> ParseRun:
    """Parse ``batches`` (see :func:`sources_for`) into the site database ``db``, remembering how far
    each file was read, or as NDJSON to ``stream``; ``timezone`` overrides each source's.

    Returns the run after :meth:`ParseRun.check` passed (it raises ``ApelError`` otherwise).
    """
    if (db is None) == (stream is None):
        raise UsageError("parse into a database or to a stream, not both")
    started = time.monotonic()
    run = ParseRun()
    output: files.Output
    if stream is not None:
        output = files.NDJSONOutput(stream)
    else:
        assert db is not None  # one of the two is given (checked above)
        output = files.DatabaseOutput(db)
    for source, paths in batches:
        parser_class = registry.get(source.type)
        memory = files.FileMemory(db, parser_class.name, reparse=source.reparse) if db is not None else None
        fields: dict[str, Any] = {"MachineName": source.machine_name} if source.machine_name else {}
        if not source.parallel and parser_class.honours_parallel:
            fields.update(Processors=0, NodeCount=0)
        each = files.BatchFieldsOutput(output, **fields) if fields else output
        # Records written to the terminal are the display: a bar would be drawn through them.
        shown = False if stream is not None and stream.isatty() else None
        with Progress(f"parsing {parser_class.name}", shown, units=("records", "files")) as progress:
            run.reports += files.parse_files(paths, parser_class, each, memory,
                                             time_zone(timezone or source.timezone), progress)
    run.seconds = time.monotonic() - started
    run.check(max_bad)
    return run
