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
rows/s and 0.3 of the baseline), and, when the server runs on this host, the CPU
time per row of each (the import's own processes and the server's), which
other work on a shared machine does not change as it changes the wall clock.

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


class CpuClock:
    """CPU seconds of this process with its children (the import's workers) and of the database
    server, when it runs on this host: on a machine shared with other work the wall clock counts
    their turns too, CPU time does not."""

    def __init__(self, url):
        with databases.connect(url) as db:
            pid_file = db.query("SELECT @@pid_file")[0][0]
        try:
            with open(pid_file) as f:
                self.server_stat = f"/proc/{int(f.read().strip())}/stat"
            self.server()
        except (OSError, ValueError):
            self.server_stat = None

    def server(self):
        """CPU seconds of the server so far (None: not on this host, or restarted since)."""
        if self.server_stat is None:
            return None
        try:
            with open(self.server_stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the shared test server was restarted: no figure
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def ours(self):
        """CPU seconds of this process and of its children that ended."""
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        self.started = (self.ours(), self.server())
        return self

    def __exit__(self, *exc):
        ours, server = self.ours(), self.server()
        self.python = ours - self.started[0]
        self.database = None if server is None or self.started[1] is None else server - self.started[1]


def time_import(source, target, batch, workers, clock):
    with databases.connect(source) as s, databases.connect(target) as t:
        importer = Importer(s, t, batch=batch, verify=False, workers=workers)
        started = time.perf_counter()
        with clock:
            report = importer.run()
        seconds = time.perf_counter() - started
        imported = report.tables["JobRecords"].imported
        verify = Importer(s, t, batch=batch)  # everything is imported: this only verifies
        started = time.perf_counter()
        checked = verify.run()
        return imported, seconds, time.perf_counter() - started, len(checked.differences)


def time_baseline(source, clock):
    """INSERT … SELECT of every job into an empty copy of the table (again from the start when the
    shared test server restarts meanwhile)."""
    def copy():
        with databases.connect(source) as db:
            db.execute("DROP TABLE IF EXISTS JobRecordsCopy")
            db.execute("CREATE TABLE JobRecordsCopy LIKE JobRecords")
            started = time.perf_counter()
            with clock, db.transaction():
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
        imported, baseline = CpuClock(source), CpuClock(source)
        count, seconds, verify_seconds, differences = time_import(source, target, args.batch, args.workers, imported)
        assert count == args.records, f"imported {count} of {args.records}"
        ours = count / seconds
        print(f"import-apel:      {ours:>10,.0f} rows/s  ({seconds:.1f} s, --batch {args.batch}, --workers {args.workers}; "
              f"verification apart: {verify_seconds:.1f} s, {differences} site-month figures differ: "
              "the source has no super-summaries)", flush=True)
        base_count, base_seconds = time_baseline(source, baseline)
    finally:
        Backoff().call(lambda: (drop(source), drop(target)), TransientDatabaseError, "dropping the databases")
    base = base_count / base_seconds
    print(f"INSERT … SELECT:  {base:>10,.0f} rows/s  ({base_seconds:.1f} s, same server)")
    print(f"ratio:            {ours / base:>10.2f}  of the baseline")
    if imported.database is not None and baseline.database is not None:
        per_row = (imported.python + imported.database) / count
        base_per_row = baseline.database / base_count
        print(f"CPU per row:      import-apel {per_row * 1e6:.1f} us (Python {imported.python / count * 1e6:.1f}, "
              f"server {imported.database / count * 1e6:.1f}); INSERT … SELECT {base_per_row * 1e6:.1f} us (server); "
              f"ratio by CPU time {base_per_row / per_row:.2f}")


if __name__ == "__main__":
    main()
