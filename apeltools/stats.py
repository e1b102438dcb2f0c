"""Job statistics as users and operators ask for them: final states, failure rate, waiting, run time.

Per group of jobs (by user, VO, CE, queue, site, day, month, state or a tag):
jobs by final state, the failure rate (``apeltools.lifecycle.is_failure``
over the jobs whose final state is known), waiting time from submission to
start (median, 90th percentile by nearest rank, maximum; seconds), run time
(median wall seconds, wall and CPU hours) and CPU efficiency (CPU time over
wall time times cores). Days and months are those the jobs ended in (UTC),
as accounting places jobs.
"""

import math
import statistics
import time
from collections import Counter
from collections.abc import Iterable

from apeltools import lifecycle
from apeltools.errors import ApelError, UsageError
from apeltools.lifecycle import JobLife
from apeltools.query import Answer
from apeltools.quoting import quote

DIMENSIONS = {
    "user": lambda job: job.user,
    "dn": lambda job: job.dn,
    "localuser": lambda job: job.local_user,
    "vo": lambda job: job.vo,
    "ce": lambda job: job.ce,
    "queue": lambda job: job.queue,
    "site": lambda job: job.site,
    "batchsystem": lambda job: job.batch_system,
    "state": lambda job: job.shown_state,
    "day": lambda job: time.strftime("%Y-%m-%d", time.gmtime(job.end)),
    "month": lambda job: time.strftime("%Y-%m", time.gmtime(job.end)),
}
ALIASES = {"submithost": "ce", "local-user": "localuser"}
TAG_PREFIX = "tag:"
STATE_COLUMNS = tuple("".join(part.title() for part in state.split("_")) for state in lifecycle.FINAL_STATES)
WAITING = ("WaitKnown", "WaitMedian", "WaitP90", "WaitMax")
RUNNING = ("RunMedian", "WallHours", "CpuHours", "Efficiency")
SHAPES = {
    "stats": ("Jobs",) + STATE_COLUMNS + ("Unknown", "FailureRate") + WAITING + RUNNING,
    "states": ("Jobs",) + STATE_COLUMNS + ("Unknown", "FailureRate"),
    "waiting": ("Jobs",) + WAITING,
}


def dimension(name: str):
    """The function giving a job's value of a group-by dimension (``tag:KEY`` for a tag)."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        key = name[len(TAG_PREFIX):]
        return lambda job: job.tags.get(key)
    name = ALIASES.get(name, name)
    if name not in DIMENSIONS:
        raise UsageError(f"cannot group jobs by {quote(name)}: choose from {', '.join(DIMENSIONS)} or tag:KEY")
    return DIMENSIONS[name]


class _Group:
    __slots__ = ("states", "waits", "walls", "cpu", "core_seconds")

    def __init__(self):
        self.states = Counter()
        self.waits = []
        self.walls = []
        self.cpu = 0
        self.core_seconds = 0

    def add(self, job: JobLife) -> None:
        self.states[job.final_state] += 1
        waiting = job.waiting
        if waiting is not None:
            self.waits.append(waiting)
        self.walls.append(job.wall)
        self.cpu += job.cpu
        self.core_seconds += job.wall * (job.processors or 1)

    def figures(self) -> dict:
        jobs = len(self.walls)
        known = jobs - self.states[None]
        failures = sum(n for state, n in self.states.items() if lifecycle.is_failure(state))
        waits = sorted(self.waits)
        values = {"Jobs": jobs, "Unknown": self.states[None],
                  "FailureRate": round(failures / known, 4) if known else None,
                  "WaitKnown": len(waits),
                  "WaitMedian": _plain(statistics.median(waits)) if waits else None,
                  "WaitP90": percentile(waits, 90) if waits else None,
                  "WaitMax": waits[-1] if waits else None,
                  "RunMedian": _plain(statistics.median(self.walls)) if jobs else None,
                  "WallHours": round(sum(self.walls) / 3600, 2), "CpuHours": round(self.cpu / 3600, 2),
                  "Efficiency": round(self.cpu / self.core_seconds, 3) if self.core_seconds else None}
        values.update({column: self.states[state] for column, state in zip(STATE_COLUMNS, lifecycle.FINAL_STATES)})
        return values


def percentile(ordered: list, p: float):
    """The ``p``-th percentile of sorted values by nearest rank (a value that occurred)."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _plain(value):
    return int(value) if float(value).is_integer() else value


def statistics_of(jobs: Iterable[JobLife], group_by=(), shape: str = "stats", limit: int | None = None,
                  offset: int = 0) -> Answer:
    """One row per group of ``jobs`` (one row in all without ``group_by``) with the ``shape``'s
    figures: ``stats`` (everything), ``states`` (jobs by final state) or ``waiting``; groups in
    order of their values, ``limit`` of them after the first ``offset``."""
    if shape not in SHAPES:
        raise ApelError(f"unknown statistics {quote(shape)}: choose from {', '.join(SHAPES)}")
    keys = [dimension(name) for name in group_by]
    groups = {}
    for job in jobs:
        key = tuple(get(job) for get in keys)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
        group.add(job)
    if not keys and not groups:
        groups[()] = _Group()  # the figures of no jobs at all
    columns = list(SHAPES[shape])
    rows = []
    for key in sorted(groups, key=lambda k: tuple((v is not None, str(v)) for v in k)):
        figures = groups[key].figures()
        rows.append(list(key) + [figures[c] for c in columns])
    labels = [ALIASES.get(name, name) for name in group_by]
    return Answer(labels + columns, rows[offset:][:limit])
