"""Summarising: job records, summaries and normalised summaries into monthly super-summaries,
cloud VM records into cloud summaries, accelerator records into accelerator summaries.

Incremental by default. New job records reach SuperSummaries as the deltas the
loader wrote beside them (no record is read again: a group's normalised
durations grow by what its exact, rounded product grows by); a month whose
records were replaced or deleted, or that received summaries, is recomputed
from its sources. All sums are exact integers, so the order in which records
arrive never changes a figure. Everything happens in one transaction that reads one consistent
snapshot, so records loaded meanwhile are neither lost nor counted twice: they
are summarised by the next run. ``full=True`` recomputes everything, and gives
the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apeltools import events
from apeltools.db import summaries as sql
from apeltools.db.base import Database
from apeltools.errors import ConflictError
from apeltools.records.fields import epoch_of_sql_time
from apeltools.records.types import CLOUD_SUMMARY
from apeltools.retry import Backoff

log = logging.getLogger(__name__)

SUMMARISER_DN = "apel-summarise"
# A conflict lasts as long as a loader's transaction: a few short waits, then the error.
CONFLICT_ATTEMPTS = 6
CONFLICT_BACKOFF = Backoff(initial=0.5, maximum=5)


@dataclass
class SummaryResult:
    full: bool
    months: int = 0  # site-months recomputed from their sources
    deltas: int = 0  # delta rows added in place
    rows: int = 0  # super-summary rows written
    cloud_months: int = 0
    accelerator_months: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        return (
            f"{kind} summarise: {self.months} site-months recomputed, {self.deltas} deltas added, "
            f"{self.rows} super-summary rows written, {self.cloud_months} cloud and "
            f"{self.accelerator_months} accelerator site-months in {self.seconds:.2f} s"
        )


def summarise(db: Database, full: bool = False) -> SummaryResult:
    """Bring the summaries up to date (or rebuild them with ``full``); returns what was done.

    Raises ``BusyError`` when another summariser holds the lock.
    """
    started = time.monotonic()
    with db.exclusive("summarise"):
        # A loader on another Galera node can win a certification conflict at our commit (rows
        # both changed): everything was rolled back, so the whole run is replayed.
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                result, dirty, deltas = _summarise_once(db, full)
                break
            except ConflictError as error:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                wait = CONFLICT_BACKOFF.delay(attempt)
                log.warning("summarising: %s; replaying the run in %.1f s", error, wait)
                time.sleep(wait)
    events.site_months_summarised(db, dirty, deltas)
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def _summarise_once(db: Database, full: bool) -> tuple[SummaryResult, list, list]:
    """One summarising transaction: (what was done, the dirty marks and deltas it consumed)."""
    result = SummaryResult(full)
    db.prepare_for_aggregation()  # again after a conflict: the connection was replaced
    with db.transaction(snapshot=True):
        dirty = sql.dirty_marks(db)
        deltas = [] if full else sql.pending_deltas(db)  # a full run recomputes what they hold
        # kind → {(site id, year, month)} whose sources changed
        months: dict[str, set[tuple[Any, ...]]] = {kind: set() for kind in ("jobs", "cloud", "accelerator")}
        for kind, site, year, month, _ in dirty:
            months.setdefault(kind, set()).add((site, year, month))
        if full:
            _rebuild_super_summaries(db, result)
        else:
            _refresh_super_summaries(db, months["jobs"], deltas, result)
        _cloud(db, None if full else months["cloud"], result)
        _accelerator(db, None if full else months["accelerator"], result)
        if full:
            deltas = sql.consume_all_deltas(db)
        else:
            # Only the deltas read above, by id: a loader's delta committed meanwhile stays for next time.
            sql.delete_deltas(db, [row[0] for row in deltas])
        sql.clear_dirty(db, dirty)
    return result, dirty, deltas


# -- super summaries ------------------------------------------------------------------


def _rebuild_super_summaries(db: Database, result: SummaryResult) -> None:
    rows, result.months = sql.rebuild_super_summaries(db)
    result.rows += rows


def _refresh_super_summaries(db: Database, job_months: set[tuple[Any, ...]], deltas: Sequence[tuple[Any, ...]],
                             result: SummaryResult) -> None:
    for month in sorted(job_months):
        result.rows += sql.replace_super_summaries(db, sql.source_groups(db, month), month)
    result.months = len(job_months)
    # Deltas of recomputed months are included in their sources: those are only consumed.
    sql.add_deltas(db, job_months)
    result.deltas = sum(1 for _, site, year, month in deltas if (site, year, month) not in job_months)


# -- cloud ----------------------------------------------------------------------------


def _cloud(db: Database, months: set[tuple[Any, ...]] | None, result: SummaryResult) -> None:
    """Recompute cloud summaries of the sites whose records changed, from the first changed month on.

    A VM's record per month holds its cumulative figures at the month's last
    measurement; its usage in a month is the difference to its previous
    month's record, so a VM that was reported started and then completed is
    counted once, with its final status. VMs are grouped as the deployed
    summariser groups them: by their CpuCount (kept, not summed), not by their
    CloudType (a group takes the greatest of its VMs').
    """
    if months is not None and not months:
        return
    first: dict[Any, tuple[int, int]] = {}  # site id -> first (year, month) to recompute; every site when rebuilding
    for site, year, month in months or ():
        first[site] = min(first.get(site, (year, month)), (year, month))
    records = sql.cloud_records(db, None if months is None else list(first))
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    previous: dict[str, tuple[Any, ...]] = {}
    for r in records:
        figures = tuple(r[name] or 0 for name in sql.CLOUD_CUMULATIVE)
        before = previous.get(r["VMUUID"], (0,) * len(figures))
        previous[r["VMUUID"]] = figures
        if months is not None and (r["MeasurementYear"], r["MeasurementMonth"]) < first[r["SiteNameID"]]:
            continue  # only the base for the next month's differences
        # A figure smaller than before means the VM's counters restarted.
        used = [now - old if now >= old else now for now, old in zip(figures, before)]
        # CpuCount: MySQL gives the DECIMAL, SQLite what it holds; both as the float they store.
        key = tuple(float(r[name] or 0) if name == "CpuCount" else r[name] for name in sql.CLOUD_SUMMARY_KEY)
        start = epoch_of_sql_time(r["StartTime"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = dict.fromkeys(sql.CLOUD_SUMMED, 0)
            g.update(EarliestStartTime=start, LatestStartTime=start, NumberOfVMs=0, CloudType=r["CloudType"])
        elif r["CloudType"] is not None and (g["CloudType"] is None or r["CloudType"] > g["CloudType"]):
            g["CloudType"] = r["CloudType"]
        if start is not None:
            g["EarliestStartTime"] = min(g["EarliestStartTime"] or start, start)
            g["LatestStartTime"] = max(g["LatestStartTime"] or start, start)
        for name, value in zip(sql.CLOUD_CUMULATIVE, used):
            g[name] += value
        for name in sql.CLOUD_SUMMED:
            if name not in sql.CLOUD_CUMULATIVE:
                g[name] += r[name] or 0
        g["NumberOfVMs"] += 1
    summariser_dn = db.lookup_ids("DNs", [SUMMARISER_DN])[SUMMARISER_DN]
    if months is None:
        sql.delete_computed_cloud(db, summariser_dn)
    else:
        for site, since in first.items():
            sql.delete_computed_cloud(db, summariser_dn, site, since)
    summaries = [CLOUD_SUMMARY.make(**dict(zip(sql.CLOUD_SUMMARY_KEY, key)), **values)
                 for key, values in groups.items()]
    db.store(CLOUD_SUMMARY, summaries, SUMMARISER_DN)
    result.cloud_months = len({(k[0], k[2], k[3]) for k in groups})


# -- accelerators -----------------------------------------------------------------------


def _accelerator(db: Database, months: set[tuple[Any, ...]] | None, result: SummaryResult) -> None:
    """Recompute accelerator summaries of the changed site-months (all with ``months=None``)."""
    if months is not None and not months:
        return
    for target in sorted(months) if months is not None else [None]:
        rows = sql.replace_accelerator_summaries(db, target)
        result.accelerator_months += len({row[:3] for row in rows})
