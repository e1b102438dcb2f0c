"""What the probes and status reports read: newest end times, job counts against sync counts, loads.

Read-only queries on the compatibility views (formats.md §4) and on
LoadedMessages. Times come back as timezone-aware UTC datetimes whichever
backend stores them (SQLite keeps text, MySQL DATETIME; both in UTC).
"""

from __future__ import annotations

import datetime as dt

from apeltools.db.base import Database

LATEST_END_TIME = "SELECT MAX(LatestEndTime), COUNT(*) FROM VSuperSummaries WHERE Site = ?"
LATEST_END_TIMES = "SELECT Site, MAX(LatestEndTime) FROM VSuperSummaries GROUP BY Site ORDER BY Site"
SITES = "SELECT Site FROM VSuperSummaries UNION SELECT Site FROM VSyncRecords"
REPOSITORY_JOBS = (
    "SELECT Year, Month, SubmitHost, SUM(NumberOfJobs) FROM VSuperSummaries "
    "WHERE Site = ? AND Year * 100 + Month >= ? GROUP BY Year, Month, SubmitHost"
)
SITE_SYNC_JOBS = (
    "SELECT Year, Month, SubmitHost, SUM(NumberOfJobs) FROM VSyncRecords "
    "WHERE Site = ? AND Year * 100 + Month >= ? GROUP BY Year, Month, SubmitHost"
)
GRID_TOTALS = (
    "SELECT SUM(NumberOfJobs), SUM(WallDuration) FROM VSuperSummaries WHERE Site = ? AND InfrastructureType = 'grid'"
)
NEWEST_LOAD = "SELECT MAX(LoadTime) FROM LoadedMessages"
LOADS_SINCE = (
    "SELECT COUNT(*), COALESCE(SUM(RecordCount), 0), COALESCE(SUM(RejectedCount), 0) "
    "FROM LoadedMessages WHERE LoadTime >= ?"
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def as_utc(value: dt.datetime | str | None) -> dt.datetime | None:
    """A stored time (datetime or ``YYYY-MM-DD HH:MM:SS`` text, UTC) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.timezone.utc)


def latest_end_time(db: Database, site: str) -> tuple[dt.datetime | None, int]:
    """(newest LatestEndTime of the site's summaries, number of summary rows)."""
    latest, rows = db.query(LATEST_END_TIME, (site,))[0]
    return as_utc(latest), int(rows or 0)


def latest_end_times(db: Database) -> dict[str, dt.datetime | None]:
    """{site: newest LatestEndTime} for every site with summaries, in the database's order of site names."""
    return {site: as_utc(latest) for site, latest in db.query(LATEST_END_TIMES)}


def sites(db: Database) -> list[str]:
    """Every site with summaries or sync counts."""
    return sorted(row[0] for row in db.query(SITES))


def job_counts(db: Database, site: str, since: tuple[int, int]) -> tuple[dict, dict]:
    """({(year, month, submit host): jobs} in the repository, the same from the site's sync records).

    Only months from ``since`` = (year, month) on.
    """
    key = since[0] * 100 + since[1]
    repository = {(int(y), int(m), h): int(n) for y, m, h, n in db.query(REPOSITORY_JOBS, (site, key))}
    synced = {(int(y), int(m), h): int(n) for y, m, h, n in db.query(SITE_SYNC_JOBS, (site, key))}
    return repository, synced


def grid_totals(db: Database, site: str) -> tuple[int, int]:
    """(jobs, wall seconds) of the site's grid jobs in the repository's summaries."""
    jobs, wall = db.query(GRID_TOTALS, (site,))[0]
    return int(jobs or 0), int(wall or 0)


def loads(db: Database, since: dt.datetime) -> tuple[dt.datetime | None, int, int, int]:
    """(newest load time ever, messages, records and rejected records loaded since ``since``)."""
    newest = as_utc(db.query(NEWEST_LOAD)[0][0])
    messages, records, rejected = db.query(LOADS_SINCE, (since.strftime(TIME_FORMAT),))[0]
    return newest, int(messages), int(records), int(rejected)
