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

import logging
import time
from dataclasses import dataclass

from apeltools.db import summaries as sql
from apeltools.db.base import Database
from apeltools.records.fields import epoch_of_sql_time
from apeltools.records.types import CLOUD_SUMMARY

log = logging.getLogger(__name__)

SUMMARISER_DN = "apel-summarise"
DELETE_CHUNK = 5000


@dataclass
class SummaryResult:
    full: bool
    months: int = 0  # site-months recomputed from their sources
    deltas: int = 0  # delta rows added in place
    rows: int = 0  # super-summary rows written
    cloud_months: int = 0
    accelerator_months: int = 0
    seconds: float = 0.0

    def summary(self):
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
    result = SummaryResult(full)
    db.prepare_for_aggregation()
    with db.exclusive("summarise"), db.transaction(snapshot=True):
        dirty = db.query(sql.SELECT_DIRTY)
        deltas = db.query(sql.SELECT_DELTAS)
        months = {kind: set() for kind in ("jobs", "cloud", "accelerator")}
        for kind, site, year, month, _ in dirty:
            months.setdefault(kind, set()).add((site, year, month))
        if full:
            _rebuild_super_summaries(db, result)
        else:
            _refresh_super_summaries(db, months["jobs"], deltas, result)
        _cloud(db, None if full else months["cloud"], result)
        _accelerator(db, None if full else months["accelerator"], result)
        # Only the deltas read above, by id: a loader's delta committed meanwhile stays for next time.
        for start in range(0, len(deltas), DELETE_CHUNK):
            ids = [row[0] for row in deltas[start:start + DELETE_CHUNK]]
            db.execute(sql.DELETE_DELTAS.format(marks=", ".join("?" * len(ids))), ids)
        for mark in dirty:
            db.execute(sql.CLEAR_DIRTY, mark)
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


# -- super summaries ------------------------------------------------------------------


def _sources(db, where_job="", where_summary="", params=()):
    """{key: values} merged from job records, summaries and normalised summaries."""
    groups = {}
    for row in db.query(sql.JOB_AGGREGATE.format(where=where_job), params):
        sql.merge(groups, *sql.job_aggregate_row(row))
    for row in db.query(sql.SUMMARY_ROWS.format(where=where_summary), params):
        sql.merge(groups, *sql.summary_row(row))
    for row in db.query(sql.NORMALISED_ROWS.format(where=where_summary), params):
        sql.merge(groups, *sql.normalised_row(row))
    return groups


def _write(db, groups, result):
    rows = [sql.super_row(key, values) for key, values in groups.items()]
    db.insert_rows("SuperSummaries", sql.SUPER_COLUMNS, rows, sql.TIME_COLUMNS)
    result.rows += len(rows)


def _rebuild_super_summaries(db, result):
    groups = _sources(db)
    db.execute(sql.DELETE_SUPER_ALL)
    _write(db, groups, result)
    result.months = len({key[:3] for key in groups})


def _refresh_super_summaries(db, job_months, deltas, result):
    for site, year, month in sorted(job_months):
        groups = _sources(db, sql.JOB_MONTH, sql.SUMMARY_MONTH, (site, year, month))
        db.execute(sql.DELETE_SUPER_MONTH, (site, year, month))
        _write(db, groups, result)
    result.months = len(job_months)
    # Deltas of recomputed months are included in their sources: those are only consumed.
    rows = [sql.added_row(row) for row in db.query(sql.SUM_DELTAS) if (row[0], row[2], row[1]) not in job_months]
    db.add_rows("SuperSummaries", sql.KEY_COLUMNS, sql.SUPER_COLUMNS, rows, add=sql.ADDED_COLUMNS,
                least=("EarliestEndTime",), greatest=("LatestEndTime", "InfrastructureDescription"))
    result.deltas = sum(1 for _, site, year, month in deltas if (site, year, month) not in job_months)


# -- cloud ----------------------------------------------------------------------------


def _cloud(db, months, result):
    """Recompute cloud summaries of the sites whose records changed, from the first changed month on.

    A VM's record per month holds its cumulative figures at the month's last
    measurement; its usage in a month is the difference to its previous
    month's record, so a VM that was reported started and then completed is
    counted once, with its final status.
    """
    if months is not None and not months:
        return
    first = {}  # site id -> first (year, month) to recompute; every site when rebuilding
    for site, year, month in months or ():
        first[site] = min(first.get(site, (year, month)), (year, month))
    if months is None:
        records = db.query_dicts(sql.CLOUD_RECORDS.format(where=""))
    else:
        where = sql.CLOUD_SITES.format(marks=", ".join("?" * len(first)))
        records = db.query_dicts(sql.CLOUD_RECORDS.format(where=where), list(first))
    groups, previous = {}, {}
    for r in records:
        figures = tuple(r[name] or 0 for name in sql.CLOUD_CUMULATIVE)
        before = previous.get(r["VMUUID"], (0,) * len(figures))
        previous[r["VMUUID"]] = figures
        if months is not None and (r["MeasurementYear"], r["MeasurementMonth"]) < first[r["SiteNameID"]]:
            continue  # only the base for the next month's differences
        # A figure smaller than before means the VM's counters restarted.
        used = [now - old if now >= old else now for now, old in zip(figures, before)]
        key = tuple(r[name] for name in sql.CLOUD_SUMMARY_KEY)
        start = epoch_of_sql_time(r["StartTime"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = dict.fromkeys(sql.CLOUD_SUMMED, 0)
            g.update(EarliestStartTime=start, LatestStartTime=start, NumberOfVMs=0)
        if start is not None:
            g["EarliestStartTime"] = min(g["EarliestStartTime"] or start, start)
            g["LatestStartTime"] = max(g["LatestStartTime"] or start, start)
        for name, value in zip(sql.CLOUD_CUMULATIVE, used):
            g[name] += value
        for name in sql.CLOUD_SUMMED:
            if name not in sql.CLOUD_CUMULATIVE:
                g[name] += r[name] or 0
        g["NumberOfVMs"] += 1
    for g in groups.values():
        # CpuCounts are thousandths (DECIMAL(10,3)), read as floats on SQLite: round their float sum
        # to the exact decimal one, as MySQL gives it, whatever the order of adding.
        g["CpuCount"] = round(g["CpuCount"], 3)
    summariser_dn = db.lookup_ids("DNs", [SUMMARISER_DN])[SUMMARISER_DN]
    if months is None:
        db.execute(sql.DELETE_COMPUTED_CLOUD_ALL, (summariser_dn,))
    else:
        for site, (year, month) in first.items():
            db.execute(sql.DELETE_COMPUTED_CLOUD_FROM, (summariser_dn, site, year * 12 + month))
    summaries = [CLOUD_SUMMARY.make(**dict(zip(sql.CLOUD_SUMMARY_KEY, key)), **values)
                 for key, values in groups.items()]
    db.store(CLOUD_SUMMARY, summaries, SUMMARISER_DN)
    result.cloud_months = len({(k[0], k[2], k[3]) for k in groups})


# -- accelerators -----------------------------------------------------------------------


def _accelerator(db, months, result):
    """Recompute accelerator summaries of the changed site-months (all with ``months=None``)."""
    if months is not None and not months:
        return
    targets = sorted(months) if months is not None else [None]
    for target in targets:
        if target is None:
            rows = db.query(sql.ACCELERATOR_AGGREGATE.format(where=""))
            db.execute(sql.DELETE_ACCELERATOR_ALL)
        else:
            rows = db.query(sql.ACCELERATOR_AGGREGATE.format(where=sql.ACCELERATOR_MONTH), target)
            db.execute(sql.DELETE_ACCELERATOR_MONTH, target)
        db.insert_rows("AcceleratorSummaries", sql.ACCELERATOR_COLUMNS, [tuple(r) for r in rows])
        result.accelerator_months += len({tuple(r[:3]) for r in rows})
