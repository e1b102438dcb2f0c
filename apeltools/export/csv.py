"""CSV with one row per event, the form most process-mining tools import (case, activity, time).

Columns: case_id, activity, lifecycle, timestamp (ISO 8601, UTC), resource,
then the job's attributes (user, vo, ce, queue, node, site, state,
exitcode) and its tags as ``key=value`` joined by ``;``. Quoted as Python's
csv module quotes (a field with a comma, quote or line break in double
quotes, quotes doubled), written directly: the job's part of each row once.
"""

import re

from apeltools.export.events import Escapes, case_id, iso_time

COLUMNS = ("case_id", "activity", "lifecycle", "timestamp", "resource", "user", "vo", "ce", "queue", "node",
           "site", "state", "exitcode", "tags")
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def quoted(text: str) -> str:
    """A CSV field."""
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


_QUOTED = Escapes(quoted)


def _field(value):
    if value is None:
        return ""
    return str(value) if type(value) is int else _QUOTED[value]


class CSVWriter:
    def __init__(self, out):
        self.out = out

    def begin(self):
        self.out.write(",".join(COLUMNS) + "\n")

    def job(self, job, events):
        case = quoted(case_id(job))
        tags = ";".join(f"{key}={value}" for key, value in sorted(job.tags.items()))
        tail = ",".join([_field(v) for v in (job.user, job.vo, job.ce, job.queue, job.node, job.site,
                                               job.shown_state, job.exit_code)]) + "," + quoted(tags)
        self.out.write("".join([f"{case},{e.activity},{e.transition},{iso_time(e.timestamp)},"
                                f"{_field(e.resource)},{tail}\n" for e in events]))

    def end(self):
        pass
