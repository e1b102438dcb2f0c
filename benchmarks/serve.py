#!/usr/bin/env python3
"""apel-report serve: time to answer a page of 100 jobs out of N on MariaDB (issue 17: under 200 ms for 5,000,000).

An apeltools database on the test MariaDB is filled with N job records (10
sites, 50 users, 4 VOs; server-side, untimed), ``apel-report serve`` runs as
its own gunicorn process, and each question is asked over HTTP 20 times after
one warm-up: an admin's first page, an admin's page 50, a user's first page
(their DN as filter), an admin's first page of one VO and one site, sorted by
EndTime descending. Prints the median and the slowest of each in ms.

    python benchmarks/serve.py                    # 5,000,000 jobs
    python benchmarks/serve.py --records 100000
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import drop, fresh_database, mariadb_url  # noqa: E402

from apeltools import db as databases  # noqa: E402
from tests.conftest import closed_port  # noqa: E402

ADMIN = "/C=UK/CN=admin"
FILL = (
    "INSERT INTO JobRecords (SiteID, SubmitHostID, MachineNameID, QueueID, LocalJobId, LocalUserId, "
    "GlobalUserNameID, FQAN, VOID, VOGroupID, VORoleID, WallDuration, CpuDuration, NodeCount, Processors, "
    "MemoryReal, MemoryVirtual, StartTime, EndTime, EndYear, EndMonth, InfrastructureDescription, "
    "InfrastructureType, ServiceLevelType, ServiceLevel, PublisherDNID) "
    "SELECT {site}, {site}, {site}, {queue}, CONCAT(seq, '.batch'), CONCAT('user', seq % 50), "
    "{dn}, CONCAT('/vo', seq % 4, '/Role=NULL'), {vo}, {group}, {role}, 3600 + seq % 7200, "
    "3000 + seq % 7000, 1, 1 + seq % 8, 1000000, 2000000, "
    "TIMESTAMPADD(SECOND, seq * 6, '2024-01-01 00:00:00'), "
    "TIMESTAMPADD(SECOND, seq * 6 + 3600, '2024-01-01 00:00:00'), "
    "YEAR(TIMESTAMPADD(SECOND, seq * 6 + 3600, '2024-01-01 00:00:00')), "
    "MONTH(TIMESTAMPADD(SECOND, seq * 6 + 3600, '2024-01-01 00:00:00')), 'APEL-CREAM-PBS', 'grid', "
    "'HEPSPEC', 10.125, {publisher} FROM seq_1_to_{count}"
)


def fill(url, count):
    with databases.connect(url) as db:
        ids = {}
        for table, names in (("Sites", [f"SITE-{n}" for n in range(10)]),
                             ("SubmitHosts", [f"ce{n}.example.org" for n in range(10)]),
                             ("MachineNames", [f"ce{n}.example.org" for n in range(10)]), ("Queues", ["long"]),
                             ("DNs", [f"/C=UK/CN=user {n:02d}" for n in range(50)] + ["/C=UK/CN=publisher"]),
                             ("VOs", [f"vo{n}" for n in range(4)]), ("VOGroups", [f"/vo{n}" for n in range(4)]),
                             ("VORoles", ["Role=NULL"])):
            found = db.lookup_ids(table, names)
            ids[table] = [found[name] for name in names]

        # Names are numbered so that their sorted order (the order lookup_ids inserts them in) is the given one.
        def cycle(table, size):
            first = ids[table][0]
            assert ids[table][:size] == list(range(first, first + size)), table
            return f"{first} + seq % {size}"

        with db.transaction():
            db.execute(FILL.format(site=cycle("Sites", 10), queue=ids["Queues"][0], dn=cycle("DNs", 50),
                                   vo=cycle("VOs", 4), group=cycle("VOGroups", 4), role=ids["VORoles"][0],
                                   publisher=ids["DNs"][50], count=int(count)))


def ask(base, who, **params):
    request = urllib.request.Request(f"{base}jobs?{urlencode(params)}", headers={"X-SSL-Client-S-DN": who})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--times", type=int, default=20)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="apel-serve-bench-")
    url = fresh_database("mysql", work, mariadb_url())
    try:
        started = time.perf_counter()
        fill(url, args.records)
        print(f"filled {args.records:,} jobs in {time.perf_counter() - started:.0f} s", flush=True)
        admins = Path(work, "admins")
        admins.write_text(ADMIN + "\n")
        config = Path(work, "serve.cfg")
        config.write_text(f"[serve]\nadmin_dn_file = {admins}\n")
        port = closed_port()
        server = subprocess.Popen(["apel-report", "serve", "--config", str(config), "--db", url, "--bind",
                                   f"127.0.0.1:{port}", "--workers", "2"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=dict(os.environ))
        base = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "jobs", timeout=5)
                except urllib.error.HTTPError:
                    break
                except OSError:
                    time.sleep(0.1)
            questions = {
                "admin, first page": (ADMIN, {}),
                "admin, page 50": (ADMIN, {"page": 50}),
                "user, first page": ("/C=UK/CN=user 07", {}),
                "admin, vo1 at SITE-3 by EndTime desc": (ADMIN, {"vo": "vo1", "site": "SITE-3", "sort": "EndTime",
                                                                  "desc": "1"}),
            }
            for name, (who, params) in questions.items():
                ask(base, who, per_page=100, **params)  # warm-up
                times = sorted(ask(base, who, per_page=100, **params) for _ in range(args.times))
                print(f"{name:<40} median {statistics.median(times):8.1f} ms   slowest {times[-1]:8.1f} ms",
                      flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        drop(url)


if __name__ == "__main__":
    main()
