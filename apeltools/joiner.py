"""The site join: batch records + blah records + the CE's benchmark → job records.

A batch record joins the blah record with the same batch job id (``lrmsID``)
whose validity window holds the job's end: from one day before to 28 days
after the blah timestamp (the latest such blah record before the end wins,
since batch job ids are reused). The job takes the benchmark its CE had when
it ended. Grid jobs get SubmitHost = ceID, GlobalUserName = userDN, FQAN = the
first userFQAN, InfrastructureType ``grid``; with local jobs enabled, a batch
record that no blah record claims becomes a ``local`` job. Job records are
stored with ``Database.store`` like loaded ones, so they replace by natural key.

Incremental: only batch records after the last one joined are read (by
primary key), plus those marked to retry (an index on JoinStatus), in id order
and in chunks, each chunk's blah records by an index lookup; a record that
joins is not written to again. A record that cannot join keeps its reason in
BatchRecords.JoinStatus and is reported; it is retried when a blah record with
its job id arrives, and records without a benchmark or that end in the future
(beyond the clock skew tolerated) on every run. A record that is not a valid
job (one that ends before it starts can never be) is reported once and set
aside: never retried, and not counted as waiting.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from apeltools import ce_benchmarks
from apeltools.ce_benchmarks import Benchmark, History
from apeltools.config import Config
from apeltools.db.base import Database
from apeltools.db import site
from apeltools.errors import ConflictError, UsageError
from apeltools.progress import Progress
from apeltools.records.types import FUTURE_TOLERANCE, JOB, FieldProblem
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)
T = TypeVar("T")

WINDOW_BEFORE = 86400  # a job may end up to a day before its blah timestamp (clock skew)
WINDOW_AFTER = 28 * 86400
CHUNK = 20000
EXAMPLES = 10
BLAH_MARK = "blah_id"  # the newest blah record the last join saw
BATCH_MARK = "batch_id"  # the newest batch record joined (or found unjoinable)
DEFAULT_BDII_PORT = "2170"
# A transaction that lost to a concurrent one (a Galera certification conflict at commit with a
# loader on another node, a deadlock) was rolled back whole: it is run again, for as long as a
# loader's transactions keep winning, but not for ever.
CONFLICT_GIVE_UP = 120

REASONS = {
    site.NO_BLAH: "no blah record",
    site.OUTSIDE_WINDOW: "blah record outside its validity window",
    site.NO_BENCHMARK: "no benchmark for the CE",
    site.INVALID: "not a valid job record",
    site.IN_FUTURE: "ends more than 2 days in the future",
}
# The statuses of records that may still join (on a later run); INVALID ones are set aside.
WAITING = (site.NO_BLAH, site.OUTSIDE_WINDOW, site.NO_BENCHMARK, site.IN_FUTURE)


@dataclass
class JoinSettings:
    """What the join needs besides the data: the site name, how to treat local jobs, and where the
    CEs' benchmarks come from; built by :meth:`from_config`."""

    site: str
    local_jobs: bool = False
    local_submit_host: str | None = None  # SubmitHost (and benchmark key) of local jobs
    ce_type: str | None = None  # e.g. CREAM; None: guessed from each CE id
    chunk: int = CHUNK
    benchmarks: list[Benchmark] = field(default_factory=list)  # configured, recorded before each join
    bdii_url: str | None = None  # the site BDII publishing the other CEs' benchmarks

    @classmethod
    def from_config(cls, config: Config, site: str | None = None, local_jobs: bool | None = None,
                    local_submit_host: str | None = None, ce_type: str | None = None,
                    bdii_url: str | None = None, no_bdii: bool = False, chunk: int | None = None) -> JoinSettings:
        """Settings from the command line's values, else the existing client.cfg keys: ``[site_info]
        site_name`` (or ``[spec_updater] site_name``); ``[joiner] local_jobs``, ``local_submit_host``
        (else ``[spec_updater] lrms_server``, else this host's name), ``ce_type`` and ``chunk``; the benchmarks
        of ``[spec_updater] manual_specN``, and for local jobs ``spec_type`` and ``spec_value``; the
        BDII at ``[spec_updater] ldap_host`` and ``ldap_port`` when ``enabled`` (never with ``no_bdii``)."""
        site = site or config.get("site_info", "site_name") or config.get("spec_updater", "site_name")
        if not site:
            raise UsageError("no site name: give --site or set [site_info] site_name in the configuration")
        settings = cls(
            site=site,
            local_jobs=local_jobs if local_jobs is not None else config.get_bool("joiner", "local_jobs", False),
            local_submit_host=(local_submit_host or config.get("joiner", "local_submit_host")
                               or config.get("spec_updater", "lrms_server") or socket.getfqdn()),
            ce_type=ce_type or config.get("joiner", "ce_type"),
            chunk=chunk or _configured_chunk(config),
            benchmarks=ce_benchmarks.from_config(config),
            bdii_url=None if no_bdii else (bdii_url or _configured_bdii(config)),
        )
        kind, value = config.get("spec_updater", "spec_type"), config.get("spec_updater", "spec_value")
        if settings.local_jobs and kind and value and settings.local_submit_host not in {
                b.ce for b in settings.benchmarks}:
            settings.benchmarks.append(ce_benchmarks.make_benchmark(settings.local_submit_host, kind, value))
        return settings


def _configured_chunk(config: Config) -> int:
    """``[joiner] chunk``: batch records joined (and jobs written) per transaction."""
    chunk = config.get_float("joiner", "chunk", CHUNK)
    if chunk < 1 or chunk != int(chunk):
        raise UsageError(f"[joiner] chunk must be a whole number of at least 1, not {chunk:g}")
    return int(chunk)


def _configured_bdii(config: Config) -> str | None:
    if not config.get_bool("spec_updater", "enabled", True):
        return None
    host = config.get("spec_updater", "ldap_host")
    if not host:
        return None
    return f"ldap://{host}:{config.get('spec_updater', 'ldap_port', DEFAULT_BDII_PORT)}"


def update_benchmarks(db: Database, settings: JoinSettings) -> None:
    """Record the configured benchmarks and, for the other CEs, those the BDII publishes (a BDII
    that cannot be read is a warning: the join uses the benchmarks known before)."""
    replaying_conflicts(lambda: ce_benchmarks.update(db, settings.benchmarks, "config"), "recording the benchmarks")
    if not settings.bdii_url:
        return
    try:
        discovered = ce_benchmarks.discover(settings.bdii_url, settings.site)
    except ce_benchmarks.SpecError as error:
        log.warning("%s; joining with the benchmarks known before", error)
        return
    manual = {b.ce for b in settings.benchmarks}
    replaying_conflicts(lambda: ce_benchmarks.update(db, [b for b in discovered if b.ce not in manual], "bdii"),
                        "recording the benchmarks")


def replaying_conflicts(action: Callable[[], T], describe: str) -> T:
    """``action()``, run again after each ``ConflictError`` (its transaction was rolled back whole);
    the last ``ConflictError`` is raised when they go on for ``CONFLICT_GIVE_UP`` seconds."""
    try:
        return Backoff(initial=0.2, maximum=5, give_up_after=CONFLICT_GIVE_UP).call(action, ConflictError, describe)
    except Interrupted as gave_up:
        raise gave_up.__cause__ or gave_up


@dataclass
class JoinReport:
    """What one join did: jobs made, and the batch records that could not join, by reason."""

    joined: int = 0
    local: int = 0
    unjoined: Counter[str] = field(default_factory=Counter)  # reason → count
    # reason → [(batch system, job id, end, detail)]
    examples: dict[str, list[tuple[str, str, int, str]]] = field(default_factory=dict)
    reopened: int = 0
    seconds: float = 0.0
    waiting: dict[str, int] = field(default_factory=dict)  # reason → batch records that may join later, all runs


    def note(self, status: int, batch_system: str, job_id: str, end: int, detail: str = "") -> None:
        reason = REASONS[status]
        self.unjoined[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES:
            shown.append((batch_system, job_id, end, detail))

    def summary(self) -> str:
        made = self.joined + self.local
        text = (f"joined {self.joined} grid jobs and {self.local} local jobs in {self.seconds:.1f} s "
                f"({made / max(self.seconds, 1e-9):,.0f}/s)")
        if self.unjoined:
            text += "; not joined: " + ", ".join(f"{count} {reason}" for reason, count in
                                                 sorted(self.unjoined.items()))
        waiting = sum(self.waiting.values())
        if waiting:
            text += f"; {waiting} batch records in all wait to be joined (apel-join --unjoined lists them)"
        return text

    def problem_lines(self) -> list[str]:
        """One line per reason with examples, for people."""
        lines = []
        for reason, count in sorted(self.unjoined.items()):
            shown = ", ".join(f"{system} {job}" + (f" ({detail})" if detail else "")
                              for system, job, _, detail in self.examples.get(reason, []))
            lines.append(f"{count} batch records not joined: {reason}: {shown}"
                         + (" ..." if count > len(self.examples.get(reason, [])) else ""))
        return lines


def guess_ce_type(ce_id: str) -> str:
    """The CE type for InfrastructureDescription, from a CE id."""
    lowered = ce_id.lower()
    if "/cream-" in lowered or ":8443/" in lowered:
        return "CREAM"
    if ":9619" in lowered or "condor" in lowered:
        return "HTCONDORCE"
    if "arc" in lowered.split(".", 1)[0] or ":2811" in lowered:
        return "ARC"
    return "CE"


def pick_blah(end: int, candidates: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The blah record (a row tail starting with its timestamp) whose window holds ``end``: the
    latest one at or before the end, else the earliest after it; None when no window holds it."""
    before = after = None
    for candidate in candidates:
        stamp = candidate[0]
        if stamp <= end:
            if end - stamp <= WINDOW_AFTER and (before is None or stamp > before[0]):
                before = candidate
        elif stamp - end <= WINDOW_BEFORE and (after is None or stamp < after[0]):
            after = candidate
    return before or after


class Joiner:
    """Joins the new batch records of a site database, and those to retry."""

    def __init__(self, db: Database, settings: JoinSettings, now: int | None = None,
                 progress: Progress | None = None) -> None:
        self.db = db
        self.settings = settings
        self.now = int(time.time()) if now is None else now
        self.progress = progress
        self._ce_types: dict[str, str] = {}

    def run(self) -> JoinReport:
        started = time.monotonic()
        report = JoinReport()
        db = self.db
        history = History.load(db)
        newest_blah = site.newest_blah_id(db)
        report.reopened = replaying_conflicts(
            lambda: site.reopen(db, site.get_state(db, BLAH_MARK), site.WAITING_FOR_BLAH,
                                (site.NO_BENCHMARK, site.IN_FUTURE)), "reopening batch records")
        self._pass(True, 0, history, report)
        self._pass(False, site.get_state(db, BATCH_MARK), history, report)
        replaying_conflicts(lambda: self._mark_blah_seen(newest_blah), "marking the blah records seen")
        report.waiting = {REASONS[status]: count for status, count in site.status_counts(db, WAITING).items()}
        report.seconds = time.monotonic() - started
        return report

    def _pass(self, retry: bool, after: int, history: History, report: JoinReport) -> None:
        """Join the records to retry, or the new ones after the mark, chunk by chunk."""
        db = self.db
        while True:
            rows = site.with_blah(db, retry, after, self.settings.chunk)
            if not rows:
                return
            jobs, failures = self._chunk(rows, history, report)
            last = rows[-1][0]
            replaying_conflicts(lambda: self._write(jobs, retry, after, last, failures),
                                f"joining batch records {after + 1} to {last}")
            after = last
            if self.progress is not None:
                self.progress.update(report.joined + report.local)

    def _mark_blah_seen(self, newest: int) -> None:
        with self.db.transaction():
            site.set_state(self.db, BLAH_MARK, newest)

    def _write(self, jobs: list[Any], retry: bool, after: int, last: int, failures: dict[int, list[int]]) -> None:
        """Store one chunk's jobs and its mark in one transaction: a conflict replays both, and a
        join killed between chunks leaves none half done."""
        with self.db.transaction():
            if jobs:
                self.db.store(JOB, jobs, None)
            site.mark(self.db, retry, after, last, failures, BATCH_MARK)

    def _chunk(self, rows: list[tuple[Any, ...]], history: History,
               report: JoinReport) -> tuple[list[Any], dict[int, list[int]]]:
        """Job records and {status: [batch ids]} of the failures, for the rows of one chunk."""
        jobs: list[Any] = []
        failures: dict[int, list[int]] = {}
        index, count = 0, len(rows)
        while index < count:
            row = rows[index]
            batch_id = row[0]
            candidates = []
            while index < count and rows[index][0] == batch_id:
                if rows[index][14] is not None:
                    candidates.append(rows[index][14:])
                index += 1
            status, job, detail = self._job(row, candidates, history)
            if job is not None:
                jobs.append(job)
                if status == site.LOCAL:
                    report.local += 1
                    failures.setdefault(site.LOCAL, []).append(batch_id)
                else:
                    report.joined += 1
            else:
                failures.setdefault(status, []).append(batch_id)
                report.note(status, row[1], row[2], row[11], detail)
        return jobs, failures

    def _job(self, row: tuple[Any, ...], candidates: list[tuple[Any, ...]],
             history: History) -> tuple[int, Any, str]:
        """(status, job record or None, detail) for one batch record and its blah records."""
        settings = self.settings
        (_, system, job_id, user, queue, machine, wall, cpu, processors, nodes, start, end, real,
         virtual) = row[:14]
        if end < start:
            # Decided before the blah record and the benchmark: no blah record or benchmark that
            # comes later can make this a job, so it must not wait for them.
            return site.INVALID, None, "EndTime: EndTime is before StartTime"
        if end > self.now + FUTURE_TOLERANCE:
            # A batch server's clock ahead of ours: not a job record yet, but one when that time
            # comes, so it waits (it was set aside as invalid for good).
            return site.IN_FUTURE, None, ""
        blah = pick_blah(end, candidates) if candidates else None
        if blah is None:
            status = site.OUTSIDE_WINDOW if candidates else site.NO_BLAH
            if not settings.local_jobs:
                return status, None, ""
            submit_host, dn, fqan, kind, ce_type = settings.local_submit_host, None, None, "local", \
                settings.ce_type or "CE"
        else:
            _, dn, fqan, submit_host, blah_user = blah
            user = user or blah_user
            kind = "grid"
            ce_type = settings.ce_type or self._ce_type(submit_host)
        benchmark = history.at(submit_host, end) if submit_host else None
        if benchmark is None:
            return site.NO_BENCHMARK, None, submit_host or "no local submit host configured"
        job = JOB.make(
            Site=settings.site, SubmitHost=submit_host, MachineName=machine, Queue=queue,
            LocalJobId=job_id, LocalUserId=user, GlobalUserName=dn, FQAN=fqan,
            WallDuration=wall, CpuDuration=cpu, Processors=processors, NodeCount=nodes,
            StartTime=start, EndTime=end, InfrastructureDescription=f"APEL-{ce_type}-{system}",
            InfrastructureType=kind, MemoryReal=real, MemoryVirtual=virtual,
            ServiceLevelType=benchmark[0], ServiceLevel=benchmark[1],
        )
        try:
            JOB.check(job, self.now)
        except FieldProblem as problem:
            return site.INVALID, None, f"{problem.field}: {problem}"
        return (site.FINE if kind == "grid" else site.LOCAL), job, ""

    def _ce_type(self, ce_id: str) -> str:
        found = self._ce_types.get(ce_id)
        if found is None:
            found = self._ce_types[ce_id] = guess_ce_type(ce_id)
        return found


def join(db: Database, settings: JoinSettings, now: int | None = None,
         progress: Progress | None = None) -> JoinReport:
    """Join every new batch record and those to retry; returns a ``JoinReport``.

    One join at a time per database: a second one raises BusyError (two runs
    would both take the same waiting records).
    """
    with db.exclusive("join"):
        return Joiner(db, settings, now, progress).run()


def run(db: Database, settings: JoinSettings) -> JoinReport:
    """What ``apel-join`` does: record the benchmarks, join (with progress on a terminal), and log
    the report and each kind of problem."""
    update_benchmarks(db, settings)
    with Progress("joining") as progress:
        report = join(db, settings, progress=progress)
    log.info(report.summary())
    for line in report.problem_lines():
        log.warning(line)
    return report


def unjoined(db: Database) -> list[tuple[str, str, str, int, str]]:
    """Every batch record not joined: (batch system, job id, lrms id, end time, reason)."""
    return [(system, job_id, lrms_id, int(end), REASONS[status])
            for system, job_id, lrms_id, end, status in site.unjoined(db)]
