#!/usr/bin/env python3
"""Summariser: a full summarise of N job records against the deployed one, and an incremental one.

Loads N job records (default 5,000,000 for MariaDB, 500,000 for SQLite) spread
over six months of 20 sites (about 30,000 jobs a day). On MariaDB it first
times the baseline: what the deployed SummariseJobs procedure does, a single
INSERT ... SELECT ... GROUP BY of the jobs into a table of the deployed
super-summaries' columns (our own SQL, same grouping columns and sums). Then
it runs a full summarise (target: at most the baseline's time), loads one
further day of jobs (30,000) the way apel-load stores them, and times the
incremental summarise that follows (target: under 2 % of a full run). The
first full run also deletes the deltas of every job loaded (the loading does not
summarise in between, as a repository does); the second one, after the
incremental run, has none left.

MariaDB runs on the tuned test server of tests/services/ and on a private
mariadbd with the server's default settings (what a new operator has),
started here in a temporary directory.

    python benchmarks/summarise.py                       # both backends, both servers
    python benchmarks/summarise.py --backend mysql --servers default --jobs 1000000
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import default_mariadb, drop, fresh_database, mariadb_url  # noqa: E402

from apeltools import db as databases  # noqa: E402
from apeltools.records.fields import month_bounds  # noqa: E402
from apeltools.records.types import JOB  # noqa: E402
from apeltools.summariser import summarise  # noqa: E402

SITES = [f"BENCH-SITE-{n:02d}" for n in range(20)]
FQANS = ["/atlas/Role=production", "/atlas", "/cms/Role=pilot", "/lhcb", "/alice", "/dteam"]
BENCHMARKS = [("HEPSPEC", 10.5), ("HEPscore23", 15.3), ("si2k", 2500.0), ("HEPSPEC", 12.0)]
MONTHS = [(2026, m) for m in range(4, 10)]  # April to September
PER_DAY = 30_000
USERS_PER_SITE = 60
CHUNK = 20_000


def jobs(rng, count, first_id, start, end):
    """``count`` job records ending between two epoch times.

    Like real users, each of a site's USERS_PER_SITE users works in one VO
    with one job shape (cores), on any of the site's three CEs.
    """
    records = []
    for n in range(first_id, first_id + count):
        site = rng.randrange(len(SITES))
        user = rng.randrange(USERS_PER_SITE)
        wall = rng.randrange(60, 86400)
        finish = rng.randrange(start, end)
        level_type, level = BENCHMARKS[site % len(BENCHMARKS)]
        record = JOB.make(
            Site=SITES[site], SubmitHost=f"ce{n % 3}.site{site}.example.org:8443/cream-slurm",
            LocalJobId=str(n), GlobalUserName=f"/C=UK/O=eScience/CN=user {site}-{user}",
            FQAN=FQANS[user % len(FQANS)], WallDuration=wall, CpuDuration=int(wall * 0.8),
            Processors=(1, 8)[user % 2], NodeCount=1,
            StartTime=finish - wall, EndTime=finish, InfrastructureType="grid",
            InfrastructureDescription="APEL-CREAM-SLURM", ServiceLevelType=level_type, ServiceLevel=level,
        )
        JOB.check(record, finish)
        records.append(record)
    return records


def load(db, rng, count, first_id, start, end):
    stored = 0
    while stored < count:
        size = min(CHUNK, count - stored)
        db.store(JOB, jobs(rng, size, first_id + stored, start, end), "/CN=bench")
        stored += size
        if sys.stderr.isatty():
            sys.stderr.write(f"\rloading: {stored:,} of {count:,}\x1b[K")
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")


def settle(db, limit=120, stalled=10):
    """Wait (up to ``limit`` s) until MariaDB's background work from the loading is done.

    Loading N jobs at once, with no summarising in between, leaves a backlog
    of deltas that no production repository (which summarises after loading)
    has: InnoDB purges the rows the full run deleted, and flushes the pages
    the loads dirtied, in the background. Both runs are timed on a settled
    server, as the full run after the new day is. A default-settings server
    leaves a few thousand dirty pages unflushed while idle (no low-water mark):
    when neither figure has gone down for ``stalled`` s, waiting longer changes
    nothing, and the wait ends there instead of at ``limit``.
    """
    if db.dialect != "mysql":
        return
    deadline = time.monotonic() + limit
    best, progressed = None, time.monotonic()
    while time.monotonic() < deadline:
        status = db.query("SHOW ENGINE INNODB STATUS")[0][2]
        history = next((int(line.split()[-1]) for line in status.splitlines()
                        if line.startswith("History list length")), 0)
        dirty = int(db.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")[0][1])
        if history < 1000 and dirty < 1000:
            return
        if best is None or history < best[0] or dirty < best[1]:
            best = (min(history, best[0]) if best else history, min(dirty, best[1]) if best else dirty)
            progressed = time.monotonic()
        elif time.monotonic() - progressed >= stalled:
            return
        time.sleep(1)


# The deployed SummariseJobs as the baseline: its grouping columns and sums, into a table of the
# deployed HybridSuperSummaries' columns (keyed by the group), normalised durations as it takes
# them (positive durations times the benchmark, si2k counting 1/250, the DECIMAL sum rounded).
BASELINE_TABLE = """CREATE TABLE BaselineSuperSummaries (
  SiteID INT UNSIGNED NOT NULL, Month INT NOT NULL, Year INT NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL, VOID INT UNSIGNED NOT NULL, VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL, SubmitHostID INT UNSIGNED NOT NULL, Infrastructure VARCHAR(20),
  InfrastructureDescription VARCHAR(255), ServiceLevelType VARCHAR(50) NOT NULL,
  ServiceLevel DECIMAL(10,3) NOT NULL, NodeCount INT, Processors INT,
  EarliestEndTime DATETIME, LatestEndTime DATETIME, WallDuration BIGINT, CpuDuration BIGINT,
  NormalisedWallDuration BIGINT, NormalisedCpuDuration BIGINT, NumberOfJobs BIGINT,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID,
               ServiceLevelType, ServiceLevel, NodeCount, Processors)
)"""
_BASELINE_GROUP = ("SiteID, EndMonth, EndYear, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
                   "InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors")
BASELINE_SUMMARISE = (
    "INSERT INTO BaselineSuperSummaries SELECT SiteID, EndMonth, EndYear, GlobalUserNameID, VOID, VOGroupID, "
    "VORoleID, SubmitHostID, InfrastructureType, MAX(InfrastructureDescription), ServiceLevelType, ServiceLevel, "
    "NodeCount, Processors, MIN(EndTime), MAX(EndTime), SUM(WallDuration), SUM(CpuDuration), "
    "ROUND(SUM(GREATEST(WallDuration, 0) * CAST(ServiceLevel AS DECIMAL(10,3)) "
    "/ IF(ServiceLevelType = 'si2k', 250, 1))), "
    "ROUND(SUM(GREATEST(CpuDuration, 0) * CAST(ServiceLevel AS DECIMAL(10,3)) "
    "/ IF(ServiceLevelType = 'si2k', 250, 1))), "
    f"COUNT(*) FROM JobRecords GROUP BY {_BASELINE_GROUP}"
)


def baseline(db):
    """Seconds the deployed procedure's equivalent takes (into an empty table), or None on SQLite."""
    if db.dialect != "mysql":
        return None
    db.execute("DROP TABLE IF EXISTS BaselineSuperSummaries")
    db.execute(BASELINE_TABLE)
    started = time.perf_counter()
    with db.transaction():
        db.execute(BASELINE_SUMMARISE)
    seconds = time.perf_counter() - started
    db.execute("DROP TABLE BaselineSuperSummaries")
    return seconds


def run(backend, count, workdir, mysql, label):
    url = fresh_database(backend, workdir, mysql)
    rng = random.Random(1)
    first, _ = month_bounds(*MONTHS[0])
    _, last = month_bounds(*MONTHS[-1])
    last_day = last - 86400
    try:
        with databases.connect(url) as db:
            started = time.perf_counter()
            load(db, rng, count, 0, first, last_day)
            loading = time.perf_counter() - started
            settle(db)
            deployed = baseline(db)
            settle(db)
            started = time.perf_counter()
            full = summarise(db, full=True)
            full_seconds = time.perf_counter() - started
            settle(db)
            load(db, rng, PER_DAY, count, last_day, last)
            settle(db)
            started = time.perf_counter()
            incremental = summarise(db)
            incremental_seconds = time.perf_counter() - started
            settle(db)
            started = time.perf_counter()
            summarise(db, full=True)
            again = time.perf_counter() - started
        print(f"{label}: {count:,} jobs loaded in {loading:.0f} s; {full.rows:,} super-summary rows")
        if deployed is not None:
            print(f"  deployed SummariseJobs equivalent: {deployed:8.2f} s  (one INSERT ... SELECT ... GROUP BY)")
        print(f"  full summarise:                    {full_seconds:8.2f} s  (again after the new day: {again:.2f} s)"
              + (f"  {deployed / full_seconds:5.2f} ({deployed / again:5.2f}) x the deployed speed"
                 if deployed is not None else ""))
        print(f"  incremental summarise:             {incremental_seconds:8.2f} s  after {PER_DAY:,} more jobs "
              f"({incremental.deltas:,} groups added, {incremental.months} site-months recomputed)")
        print(f"  ratio:                             {100 * incremental_seconds / again:8.2f} % of a full summarise "
              "(target: under 2 %)")
    finally:
        drop(url)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite", "both"), default="both")
    parser.add_argument("--jobs", type=int, help="jobs to load first [5,000,000 MariaDB, 500,000 SQLite]")
    parser.add_argument("--servers", choices=("tuned", "default", "both"), default="both",
                        help="MariaDB: the tuned test server, a default-settings one, or both")
    parser.add_argument("--mysql", metavar="URL", help="mysql://user@host:port (without database) "
                        "instead of the tuned test server")
    args = parser.parse_args()
    backends = ("mysql", "sqlite") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="apelbench-") as workdir:
        if "sqlite" in backends:
            run("sqlite", args.jobs or 500_000, workdir, None, "SQLite")
        count = args.jobs or 5_000_000
        if "mysql" in backends and args.servers in ("tuned", "both"):
            run("mysql", count, workdir, args.mysql or mariadb_url(),
                f"MariaDB {args.mysql}" if args.mysql else "MariaDB, tuned (tests/services/mariadb.sh)")
        if "mysql" in backends and args.servers in ("default", "both"):
            with default_mariadb(workdir) as url:
                run("mysql", count, workdir, url, "MariaDB, default settings")


if __name__ == "__main__":
    os.environ.setdefault("APELTOOLS_DB_PASSWORD", "apel")
    main()
