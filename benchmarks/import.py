#!/usr/bin/env python3
"""Import throughput: job records/s of apeltools db import-apel against INSERT … SELECT on the same server.

A source database in the deployed server layout (tests/apel_layout.py) is
filled on the test MariaDB with N job records (10 sites, 50 users, 4 VOs,
server-side, untimed). Then, in the same run:

* ours: ``Importer(source, target).run()`` into a fresh apeltools database on
  the same server (read in key order, checked as apel-load checks, written by
  the loader's bulk path with a checkpoint per page); verification (summarise
  and compare per site-month) is timed apart;
* baseline: ``INSERT INTO copy SELECT * FROM JobRecords`` between two tables of
  the same layout in the same server: the server copying rows with no
  conversion, no checks and no lookups.

Prints rows/s of both and their ratio (targets of issue 20: at least 40,000
rows/s and 0.3 of the baseline).

    python benchmarks/import.py                  # 5,000,000 records
    python benchmarks/import.py --records 500000
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import drop, fresh_database, mariadb_url  # noqa: E402

from apeltools import db as databases  # noqa: E402
from apeltools.errors import TransientDatabaseError  # noqa: E402
from apeltools.importer import Importer  # noqa: E402
from apeltools.retry import Backoff  # noqa: E402
from tests.apel_layout import SERVER  # noqa: E402

FILL = (
    "INSERT INTO JobRecords (SiteID, SubmitHostID, MachineNameID, QueueID, LocalJobId, LocalUserId, "
    "GlobalUserNameID, FQAN, VOID, VOGroupID, VORoleID, WallDuration, CpuDuration, NodeCount, Processors, "
    "MemoryReal, MemoryVirtual, StartTime, EndTime, EndYear, EndMonth, InfrastructureDescription, "
    "InfrastructureType, ServiceLevelType, ServiceLevel, PublisherDNID) "
    "SELECT 1 + seq % 10, 1 + seq % 10, 1 + seq % 10, 1, CONCAT(seq, '.batch'), CONCAT('user', seq % 50), "
    "1 + seq % 50, CONCAT('/vo', seq % 4, '/Role=NULL'), 1 + seq % 4, 1 + seq % 4, 1, 3600 + seq % 7200, "
    "3000 + seq % 7000, 1, 1 + seq % 8, 1000000, 2000000, "
    "TIMESTAMPADD(SECOND, seq % 2500000, '2024-01-01 00:00:00'), "
    "TIMESTAMPADD(SECOND, seq % 2500000 + 3600, '2024-01-01 00:00:00'), 2024, "
    "MONTH(TIMESTAMPADD(SECOND, seq % 2500000 + 3600, '2024-01-01 00:00:00')), 'APEL-CREAM-PBS', 'grid', "
    "'HEPSPEC', 10.125, 51 FROM seq_1_to_{count}"
)


def fill_source(url, count):
    """The deployed layout with ``count`` jobs whose names are in the lookup tables."""
    with databases.connect(url) as db:
        for table in [s.split()[2] for s in SERVER]:  # again from the start after a server restart
            db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in SERVER:
            db.execute(statement)
        names = {"Sites": [f"SITE-{n}" for n in range(10)], "SubmitHosts": [f"ce{n}.example.org" for n in range(10)],
                 "MachineNames": [f"ce{n}.example.org" for n in range(10)], "Queues": ["long"],
                 "DNs": [f"/C=UK/CN=user {n}" for n in range(50)] + ["/C=UK/CN=publisher"],
                 "VOs": [f"vo{n}" for n in range(4)], "VOGroups": [f"/vo{n}" for n in range(4)],
                 "VORoles": ["Role=NULL"]}
        for table, values in names.items():
            db.execute(f"INSERT INTO {table} (name) VALUES {', '.join(['(?)'] * len(values))}", values)
        with db.transaction():
            db.execute(FILL.format(count=int(count)))


def time_import(source, target, batch, workers):
    with databases.connect(source) as s, databases.connect(target) as t:
        importer = Importer(s, t, batch=batch, verify=False, workers=workers)
        started = time.perf_counter()
        report = importer.run()
        seconds = time.perf_counter() - started
        imported = report.tables["JobRecords"].imported
        verify = Importer(s, t, batch=batch)  # everything is imported: this only verifies
        started = time.perf_counter()
        checked = verify.run()
        return imported, seconds, time.perf_counter() - started, len(checked.differences)


def time_baseline(source):
    """INSERT … SELECT of every job into an empty copy of the table (again from the start when the
    shared test server restarts meanwhile)."""
    def copy():
        with databases.connect(source) as db:
            db.execute("DROP TABLE IF EXISTS JobRecordsCopy")
            db.execute("CREATE TABLE JobRecordsCopy LIKE JobRecords")
            started = time.perf_counter()
            with db.transaction():
                copied = db.execute("INSERT INTO JobRecordsCopy SELECT * FROM JobRecords")
            return copied, time.perf_counter() - started

    return Backoff().call(copy, TransientDatabaseError, "INSERT ... SELECT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=20000, help="import-apel --batch")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="import-apel --workers (default: one per CPU)")
    parser.add_argument("--mysql", metavar="URL", help="mysql://user@host:port (without database)")
    args = parser.parse_args()
    mysql_url = args.mysql or mariadb_url()
    source = f"{mysql_url}/apelsource_{uuid.uuid4().hex[:8]}"
    with databases.connect(source) as db:
        db.create_database()
    target = fresh_database("mysql", None, mysql_url)
    try:
        started = time.perf_counter()
        Backoff().call(lambda: fill_source(source, args.records), TransientDatabaseError, "filling the source")
        print(f"{args.records:,} job records in the deployed layout (filled in {time.perf_counter() - started:.0f} s); "
              f"{os.cpu_count()} CPUs")
        count, seconds, verify_seconds, differences = time_import(source, target, args.batch, args.workers)
        assert count == args.records, f"imported {count} of {args.records}"
        ours = count / seconds
        print(f"import-apel:      {ours:>10,.0f} rows/s  ({seconds:.1f} s, --batch {args.batch}, --workers {args.workers}; "
              f"verification apart: {verify_seconds:.1f} s, {differences} site-month figures differ: "
              "the source has no super-summaries)", flush=True)
        base_count, base_seconds = time_baseline(source)
    finally:
        Backoff().call(lambda: (drop(source), drop(target)), TransientDatabaseError, "dropping the databases")
    base = base_count / base_seconds
    print(f"INSERT … SELECT:  {base:>10,.0f} rows/s  ({base_seconds:.1f} s, same server)")
    print(f"ratio:            {ours / base:>10.2f}  of the baseline")


if __name__ == "__main__":
    main()
