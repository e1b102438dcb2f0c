#!/usr/bin/env python3
"""Summariser: a full summarise of N job records against an incremental one after one more day.

Loads N job records (default 5,000,000 for MariaDB, 500,000 for SQLite) spread
over six months of 20 sites (about 30,000 jobs a day), runs a full summarise,
loads one further day of jobs (30,000) the way apel-load stores them, and
times the incremental summarise that follows. The existing summariser always
re-summarises everything, so its cost is the full run's every time; the
target is an incremental run under 2 % of the full run.

    python benchmarks/summarise.py                       # both backends
    python benchmarks/summarise.py --backend sqlite --records 200000
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

from load import drop, fresh_database, mariadb_url  # noqa: E402

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


def settle(db, limit=120):
    """Wait (up to ``limit`` s) until MariaDB's background work from the loading is done.

    Loading N jobs at once, with no summarising in between, leaves a backlog
    of deltas that no production repository (which summarises after loading)
    has: InnoDB purges the rows the full run deleted, and flushes the pages
    the loads dirtied, in the background. Both runs are timed on a settled
    server, as the full run after the new day is.
    """
    if db.dialect != "mysql":
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = db.query("SHOW ENGINE INNODB STATUS")[0][2]
        history = next((int(line.split()[-1]) for line in status.splitlines()
                        if line.startswith("History list length")), 0)
        dirty = int(db.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")[0][1])
        if history < 1000 and dirty < 1000:
            return
        time.sleep(1)


def run(backend, count, workdir, mysql):
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
        name = "MariaDB" if backend == "mysql" else "SQLite"
        print(f"{name:8} {count:,} jobs loaded in {loading:.0f} s; {full.rows:,} super-summary rows")
        print(f"{name:8} full summarise:        {full_seconds:8.2f} s  (again after the new day: {again:.2f} s)")
        print(f"{name:8} incremental summarise: {incremental_seconds:8.2f} s  after {PER_DAY:,} more jobs "
              f"({incremental.deltas:,} groups added, {incremental.months} site-months recomputed)")
        print(f"{name:8} ratio:                 {100 * incremental_seconds / again:8.2f} % of a full summarise")
    finally:
        drop(url)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite", "both"), default="both")
    parser.add_argument("--records", type=int, help="jobs to load first [5,000,000 MariaDB, 500,000 SQLite]")
    parser.add_argument("--mysql", metavar="URL", help="mysql://user@host:port (without database)")
    args = parser.parse_args()
    backends = ("mysql", "sqlite") if args.backend == "both" else (args.backend,)
    mysql = args.mysql or (mariadb_url() if "mysql" in backends else None)
    with tempfile.TemporaryDirectory(prefix="apelbench-") as workdir:
        for backend in backends:
            count = args.records or (5_000_000 if backend == "mysql" else 500_000)
            run(backend, count, workdir, mysql)


if __name__ == "__main__":
    os.environ.setdefault("APELTOOLS_DB_PASSWORD", "apel")
    main()
