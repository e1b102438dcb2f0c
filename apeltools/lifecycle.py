"""A job's life as its user sees it: queued, eligible, started, ended, and how it ended.

The parsers read each batch system's own words for the end of a job (SLURM's
``State``, PBS's ``Exit_status``, SGE's ``failed``/``exit_status``, LSF's
``jStatus``/``exitStatus``, HTCondor's ``JobStatus``/``ExitCode``) and name it
with one of ``FINAL_STATES``; whether a final state is a failure is decided
here alone (``is_failure``), for statistics, pages and exports alike.
"""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from apeltools.db import lifecycle as sql
from apeltools.errors import ApelError
from apeltools.query import Filters
from apeltools.quoting import quote
from apeltools.records.fqan import split_fqan

COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMEOUT = "timeout"
NODE_FAIL = "node_fail"
PREEMPTED = "preempted"
OUT_OF_MEMORY = "out_of_memory"
BOOT_FAIL = "boot_fail"
DEADLINE = "deadline"
FINAL_STATES = (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL,
                DEADLINE)
UNKNOWN = "unknown"  # shown for a job whose log did not say how it ended

# A job that was stopped on purpose (cancelled by a person, preempted by a more urgent job)
# did not fail: it is counted, but not as a failure.
FAILURES = frozenset({FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE})

SIGNALLED = 128  # the shell's convention: a job killed by signal N exits with 128 + N


def is_failure(final_state: str | None) -> bool:
    """Whether a job that ended in ``final_state`` failed (unknown states are not failures)."""
    return final_state in FAILURES


def by_exit_code(exit_code: int | None) -> str | None:
    """The final state of a job known only by its exit code: 0 completed, else failed."""
    if exit_code is None:
        return None
    return COMPLETED if exit_code == 0 else FAILED


def signalled(signal: int) -> int:
    """The exit code of a job killed by ``signal``."""
    return SIGNALLED + signal


def waiting_seconds(submit: int | None, start: int | None) -> int | None:
    """Seconds from submission to start (never negative: clocks of a CE and a batch server differ)."""
    if submit is None or start is None:
        return None
    return max(0, start - submit)


@dataclass(slots=True)
class JobLife:
    """One job's lifecycle as statistics and exports read it from the site database.

    ``submit`` is the batch system's queue time, else the CE's submission
    time (its blah record); ``ce_submit`` is the latter alone.
    """

    id: int
    batch_system: str
    job_id: str
    local_user: str | None
    queue: str | None
    node: str | None
    submit: int | None
    eligible: int | None
    start: int
    end: int
    wall: int
    cpu: int
    processors: int | None
    state: str | None
    final_state: str | None
    exit_code: int | None
    dn: str | None = None
    fqan: str | None = None
    vo: str | None = None
    ce: str | None = None
    ce_submit: int | None = None
    site: str | None = None
    tags: dict = field(default_factory=dict)

    @property
    def waiting(self) -> int | None:
        return waiting_seconds(self.submit, self.start)

    @property
    def user(self) -> str | None:
        """The grid user (DN), else the local account."""
        return self.dn or self.local_user

    @property
    def shown_state(self) -> str:
        return self.final_state or UNKNOWN


JOB_LIFE_FIELDS = tuple(f.name for f in dataclasses.fields(JobLife))


@dataclass
class JobSelection:
    """Which jobs a question, a tagging or an export is about: apel-query's filters and more.

    ``site`` is this database's site name (a site database holds one site's
    batch records): it is each job's site, and ``filters.sites`` compares with it.
    """

    filters: Filters = field(default_factory=Filters)
    local_users: tuple = ()
    queues: tuple = ()
    states: tuple = ()
    job_ids: tuple = ()
    tags: tuple = ()  # (key, value) pairs, all required
    site: str | None = None

    def check(self) -> None:
        unknown = [s for s in self.states if s not in FINAL_STATES]
        if unknown:
            raise ApelError(f"unknown final state {quote(unknown[0])}: choose from {', '.join(FINAL_STATES)}")

    def batch_filter(self) -> sql.BatchFilter:
        f = self.filters
        return sql.BatchFilter(start=f.start, end=f.end, local_users=self.local_users, queues=self.queues,
                               final_states=self.states, job_ids=self.job_ids, tags=self.tags, dns=f.dns,
                               ces=f.submit_hosts, fqans=f.fqans)

    def wants(self, job: "JobLife") -> bool:
        """The conditions SQL could not decide: those on the blah record that applies, VO, site."""
        f = self.filters
        if not (f.dns or f.submit_hosts or f.fqans or f.vos or f.sites or f.infrastructure):
            return True
        return ((not f.dns or job.dn in f.dns) and (not f.submit_hosts or job.ce in f.submit_hosts)
                and (not f.fqans or job.fqan in f.fqans) and (not f.vos or job.vo in f.vos)
                and (not f.sites or job.site in f.sites)
                and (f.infrastructure is None or (f.infrastructure == "grid") == (job.ce is not None)))


def read_jobs(db, selection: JobSelection, page_size: int = 5000) -> Iterator[JobLife]:
    """The lifecycles of the selected jobs, in the order they were stored, a page at a time."""
    from apeltools.joiner import pick_blah  # here: the parsers import this module for its states alone

    selection.check()
    with_tags = sql.any_tags(db)
    blah_at = len(sql.BATCH_COLUMNS)
    site = selection.site

    def complete(job, candidates):
        blah = pick_blah(job.end, candidates) if candidates else None
        if blah is not None:
            job.ce_submit, job.dn, job.fqan, job.ce = blah
            job.vo = split_fqan(job.fqan)[0] if job.fqan else None
            if job.submit is None:
                job.submit = job.ce_submit
        return selection.wants(job)

    for rows in sql.pages(db, selection.batch_filter(), page_size):
        jobs = []
        job, candidates = None, []
        # A batch record comes in one row per blah record of its job id (mostly one), in id order.
        for row in rows:
            if job is not None and row[0] == job.id:
                candidates.append(row[blah_at:])
                continue
            if job is not None and complete(job, candidates):
                jobs.append(job)
            job = JobLife(*row[:blah_at], site=site)
            candidates = [] if row[blah_at] is None else [row[blah_at:]]
        if job is not None and complete(job, candidates):
            jobs.append(job)
        if with_tags and jobs:
            found = sql.tags_of(db, [job.id for job in jobs])
            for job in jobs:
                job.tags = found.get(job.id, {})
        yield from jobs
