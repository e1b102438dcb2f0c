"""The events and attributes of a job's trace, and how the writers spell their values.

``events_of`` alone decides which events a job has and their lifecycle
transitions; ``AttributeText``, ``escaped`` and ``iso_time`` are the
writers' fast spelling of what recurs millions of times.
"""

import operator
import re
import time
from types import NoneType
from typing import NamedTuple

from apeltools import lifecycle
from apeltools.lifecycle import JobLife

# Lifecycle transitions of the XES standard extension (and MXML's EventType).
SCHEDULE, START, COMPLETE, ABORT = "schedule", "start", "complete", "ate_abort"


class Event(NamedTuple):
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


# A job's trace attributes: (name, JobLife attribute); absent ones are left out, tags follow as tag:KEY.
ATTRIBUTES = (("user", "user"), ("localuser", "local_user"), ("vo", "vo"), ("ce", "ce"), ("queue", "queue"),
              ("node", "node"), ("site", "site"), ("state", "shown_state"), ("batchstate", "state"),
              ("exitcode", "exit_code"), ("waiting", "waiting"), ("wall", "wall"), ("cpu", "cpu"))
_VALUES = operator.attrgetter(*(attribute for _, attribute in ATTRIBUTES))


def attributes(job: JobLife) -> list[tuple[str, object]]:
    """A job's trace attributes, in order (absent ones left out); tags as ``tag:KEY``."""
    pairs = [(name, value) for (name, _), value in zip(ATTRIBUTES, _VALUES(job)) if value is not None]
    return pairs + [(f"tag:{key}", value) for key, value in sorted(job.tags.items())]


class AttributeText:
    """A job's attributes spelt by a writer, through one %-template per set of present attributes
    (exports write millions of traces: formatting each attribute one by one costs more than
    the rest of the export together).

    ``piece(name, is_int)`` spells one attribute with ``%s`` where its escaped value goes.
    """

    def __init__(self, piece):
        self.piece = piece
        self.templates = {}

    def __call__(self, job: JobLife) -> str:
        values = _VALUES(job)
        shape = tuple(map(type, values))
        template = self.templates.get(shape)
        if template is None:
            template = self.templates[shape] = "".join(
                self.piece(name, kind is int) for (name, _), kind in zip(ATTRIBUTES, shape) if kind is not NoneType)
        text = template % tuple([value if type(value) is int else _ESCAPED[value] for value in values
                                 if value is not None])
        if job.tags:
            text += "".join(self.piece(xml_text(f"tag:{key}").replace("%", "%%"), False) % xml_text(value)
                            for key, value in sorted(job.tags.items()))
        return text


class _Days(dict):
    def __missing__(self, day):
        text = self[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
        return text


_DAYS = _Days()
_CLOCK = [f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60)]
_SECONDS = [f"{second:02d}.000+00:00" for second in range(60)]


def iso_time(epoch: int) -> str:
    """ISO 8601 in UTC with milliseconds, as XES and MXML write dates."""
    day, second = divmod(epoch, 86400)
    minute, second = divmod(second, 60)
    return _DAYS[day] + _CLOCK[minute] + _SECONDS[second]


_NEEDS_ESCAPE = re.compile('[&<>"\n\r\t]')
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                              "\r": "&#13;", "\t": "&#9;"})


class Escapes(dict):
    """Escaped texts by text, for the values that recur job after job (users, VOs, CEs, queues,
    nodes): each is escaped once by ``escape`` and then found by a dictionary lookup. Emptied
    when it grows large, so unique values cannot make memory grow with the number of jobs."""

    LIMIT = 100_000

    def __init__(self, escape):
        super().__init__()
        self.escape = escape

    def __missing__(self, text):
        if len(self) >= self.LIMIT:
            self.clear()
        escaped = self[text] = self.escape(text)
        return escaped


def _escape(text: str) -> str:
    return text.translate(_XML_ESCAPES) if _NEEDS_ESCAPE.search(text) else text


_ESCAPED = Escapes(_escape)


def escaped(text: str) -> str:
    """XML text of a string that recurs (an attribute value, a resource): escaped once, then looked up."""
    return _ESCAPED[text]


def xml_text(value: object) -> str:
    """A value as XML attribute or element text (escaped)."""
    return str(value) if type(value) is int else _escape(str(value))


class XMLLogWriter:
    """An XML event log spelt by templates: ``HEAD``, then per job ``TRACE`` (``%(case)s``,
    ``%(job)s``), its attributes (``attribute(name, is_int)`` with ``%s`` for the value) and
    ``ATTRIBUTES_END``, one ``EVENT`` per event (activity, transition, time, and ``RESOURCE`` or
    nothing), ``TRACE_END``; ``TAIL`` at the end. XES and MXML differ only in these."""

    HEAD = TAIL = TRACE = ATTRIBUTES_END = TRACE_END = EVENT = RESOURCE = ""

    @staticmethod
    def attribute(name: str, is_int: bool) -> str:
        raise NotImplementedError

    def __init__(self, out):
        self.out = out
        self.attributes = AttributeText(self.attribute)

    def begin(self) -> None:
        self.out.write(self.HEAD)

    def job(self, job: JobLife, events: list[Event]) -> None:
        self.out.write("".join((
            self.TRACE % {"case": xml_text(case_id(job)), "job": xml_text(job.job_id)},
            self.attributes(job),
            self.ATTRIBUTES_END,
            *[self.EVENT % (e.activity, e.transition, iso_time(e.timestamp),
                            "" if e.resource is None else self.RESOURCE % escaped(e.resource)) for e in events],
            self.TRACE_END)))

    def end(self) -> None:
        self.out.write(self.TAIL)
