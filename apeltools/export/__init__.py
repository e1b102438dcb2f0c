"""Job lifecycles for process-mining tools: one trace per job, events for submit, start and end.

``events.events_of`` alone decides which events a job has and their lifecycle
transitions; the writers (``xes``, ``mxml``, ``csv``) only spell them. Jobs
are read a page at a time and written as they come, so memory stays flat for
any number of jobs; a path ending in ``.gz`` is written gzip-compressed.
"""

import contextlib
import gzip
import io
import sys
import time
from dataclasses import dataclass

from apeltools.errors import ApelError
from apeltools.export import csv, mxml, xes
from apeltools.export.events import events_of
from apeltools.lifecycle import JobSelection, read_jobs
from apeltools.quoting import quote

WRITERS = {"xes": xes.XESWriter, "mxml": mxml.MXMLWriter, "csv": csv.CSVWriter}


@dataclass
class ExportReport:
    traces: int = 0
    events: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"exported {self.traces} jobs, {self.events} events in {self.seconds:.1f} s "
                f"({self.events / max(self.seconds, 1e-9):,.0f} events/s)")


@contextlib.contextmanager
def open_output(path: str):
    """A text stream to write to: stdout for ``-``, gzip for a name ending in ``.gz``."""
    if path == "-":
        yield sys.stdout
        return
    try:
        # Level 1: these logs repeat themselves so much that it compresses them 25-fold already, in
        # two thirds of the CPU time of gzip's default level (whose files are about 40 % smaller).
        raw = gzip.open(path, "wt", encoding="utf-8", compresslevel=1) if path.endswith(".gz") else \
            open(path, "w", encoding="utf-8")
    except OSError as error:
        raise ApelError(f"cannot write {path}: {error.strerror}") from None
    with raw:
        yield raw


def writer_for(fmt: str):
    if fmt not in WRITERS:
        raise ApelError(f"unknown export format {quote(fmt)}: choose from {', '.join(WRITERS)}")
    return WRITERS[fmt]


def export(db, selection: JobSelection, fmt: str, out: io.TextIOBase, page_size: int = 5000) -> ExportReport:
    """Write the selected jobs' lifecycles to ``out`` in ``fmt`` (xes, mxml or csv)."""
    return export_jobs(read_jobs(db, selection, page_size), fmt, out)


def export_jobs(jobs, fmt: str, out: io.TextIOBase) -> ExportReport:
    """Write jobs (any iterable of ``JobLife``) to ``out`` in ``fmt``; the jobs are consumed as they come."""
    report = ExportReport()
    began = time.monotonic()
    writer = writer_for(fmt)(out)
    writer.begin()
    for job in jobs:
        events = events_of(job)
        writer.job(job, events)
        report.traces += 1
        report.events += len(events)
    writer.end()
    report.seconds = time.monotonic() - began
    return report
