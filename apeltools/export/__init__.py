"""Job lifecycles for process-mining tools: one trace per job, events for submit, start and end.

``events_of`` alone decides which events a job has and their lifecycle
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

from apeltools import lifecycle
from apeltools.errors import ApelError
from apeltools.lifecycle import JobLife, JobSelection, read_jobs

# Lifecycle transitions of the XES standard extension (and MXML's EventType).
SCHEDULE, START, COMPLETE, ABORT = "schedule", "start", "complete", "ate_abort"


@dataclass(frozen=True, slots=True)
class Event:
    activity: str  # submit, start or end
    transition: str
    timestamp: int  # epoch seconds
    resource: str | None  # the CE a job was submitted to, the node it ran on


def events_of(job: JobLife) -> list[Event]:
    """The events of a job's trace: submit (when known), start, and end, which completes a job
    that completed (or whose end is unknown) and aborts any other."""
    events = []
    if job.submit is not None:
        events.append(Event("submit", SCHEDULE, job.submit, job.ce or job.queue))
    node = job.node or job.queue
    events.append(Event("start", START, job.start, node))
    ended = COMPLETE if job.final_state in (None, lifecycle.COMPLETED) else ABORT
    events.append(Event("end", ended, job.end, node))
    return events


def case_id(job: JobLife) -> str:
    """A job's trace name: its natural key (a job id may be used twice)."""
    return f"{job.batch_system}:{job.job_id}:{job.end}"


def attributes(job: JobLife) -> list[tuple[str, object]]:
    """A job's trace attributes, in order (absent ones left out); tags as ``tag:KEY``."""
    pairs = [("user", job.user), ("dn", job.dn), ("localuser", job.local_user), ("vo", job.vo), ("ce", job.ce),
             ("queue", job.queue), ("node", job.node), ("site", job.site), ("batchsystem", job.batch_system),
             ("jobid", job.job_id), ("state", job.shown_state), ("batchstate", job.state),
             ("exitcode", job.exit_code), ("waiting", job.waiting), ("wall", job.wall), ("cpu", job.cpu)]
    pairs += [(f"tag:{key}", value) for key, value in sorted(job.tags.items())]
    return [(name, value) for name, value in pairs if value is not None]



def iso_time(epoch: int) -> str:
    """ISO 8601 in UTC with milliseconds, as XES and MXML write dates."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(epoch))


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
        raw = gzip.open(path, "wt", encoding="utf-8", compresslevel=6) if path.endswith(".gz") else \
            open(path, "w", encoding="utf-8")
    except OSError as error:
        raise ApelError(f"cannot write {path}: {error.strerror}") from None
    with raw:
        yield raw


def writer_for(fmt: str):
    from apeltools.export import csv, mxml, xes

    writers = {"xes": xes.XESWriter, "mxml": mxml.MXMLWriter, "csv": csv.CSVWriter}
    if fmt not in writers:
        raise ApelError(f"unknown export format {fmt!r}: choose from {', '.join(writers)}")
    return writers[fmt]


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


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                              "\r": "&#13;", "\t": "&#9;"})


def xml_text(value: object) -> str:
    """A value as XML attribute or element text (escaped)."""
    return str(value).translate(_XML_ESCAPES)
