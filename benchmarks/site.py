#!/usr/bin/env python3
"""Site client throughput: lines/s of each log parser, and the time of the batch/blah join.

Parsers: a file of generated lines per format is parsed by apel-parse's file
reader (decoding, counting, records built) into an output that drops the
records; the baseline is reading and decoding the same file line by line, so
the ratio says what parsing costs on top of reading.

Join: N batch records and N blah records (2 % of the batch records have no
blah record, so the report has something to say) are stored in a fresh
MariaDB database through the parse path's store, then ``apel-join``'s
library joins them all into job records; then one more day of 30,000 jobs is
added and joined, which is what a daily cron run does. The targets are those
of issue 5: under 5 minutes for 5,000,000 × 5,000,000 and under 10 s for the
further day. MariaDB is the server of ``tests/services/mariadb.sh`` unless
``--mysql URL`` is given (password in APELTOOLS_DB_PASSWORD).

    python benchmarks/site.py                       # 1,000,000 records, parsers and join
    python benchmarks/site.py --records 5000000     # the issue's figure
    python benchmarks/site.py --skip-join --lines 200000
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools import db as databases  # noqa: E402
from apeltools.ce_benchmarks import Benchmark, update  # noqa: E402
from apeltools.db import site  # noqa: E402
from apeltools.db.schema import migrate  # noqa: E402
from apeltools.joiner import JoinSettings, join  # noqa: E402
from apeltools.parsers import registry  # noqa: E402
from apeltools.parsers.files import parse_file  # noqa: E402
from apeltools.records.site import BatchRecord, BlahRecord  # noqa: E402

T0 = 1717200000  # 2024-06-01
DAY_JOBS = 30000
CE = "ce01.example.org:8443/cream-pbs-long"
STORE_CHUNK = 50000


# -- parsers -----------------------------------------------------------------

def _line_makers():
    """One function per parser: job number → one log line (for SLURM: a job and two steps)."""
    def slurm(n):
        common = "2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|14400"
        return (f"{n}|job|alice|atlas|{common}|grid|4|1|wn001|||COMPLETED\n"
                f"{n}.batch|batch|||{common}||4|1|wn001|1536000K|2.5G|COMPLETED\n"
                f"{n}.extern|extern|||{common}||4|1|wn001|1024K|0|COMPLETED\n")

    def pbs(n):
        return (f"04/15/2024 11:16:40;E;{n}.torque.example.org;user=atlas001 group=atlas jobname=STDIN "
                f"queue=long ctime=1713170000 qtime=1713170000 etime=1713170000 start=1713176200 "
                f"exec_host=wn01/0-3+wn02/0-3 session=1234 end=1713179800 Exit_status=0 "
                f"resources_used.cput=01:40:00 resources_used.mem=524288kb resources_used.vmem=1048576kb "
                f"resources_used.walltime=01:00:00\n")

    def sge(n):
        fields = ["grid.q", "wn01.example.org", "atlas", "atlas001", "STDIN", str(n), "sge", "0",
                  "1713170000", "1713176200", "1713179800", "0", "0", "3600", "3000.5", "100.5", "524288"]
        fields += ["0"] * 14 + ["NONE", "sge", "NONE", "8", "0", "5999.6", "12.5", "0.1", "-l h_vmem=2G",
                                "0.0", "NONE", "1073741824", "0", "0"]
        return ":".join(fields) + "\n"

    def lsf(n):
        items = ['"JOB_FINISH"', '"10.1"', "1713179800", str(n), "1001", "33554434", "4", "1713170000", "0",
                 "0", "1713176200", '"alice"', '"normal"', '""', '""', '""', '"lsfmaster"', '"/home/alice"',
                 '""', '""', '""', '"1713170000.1"', "1", '"hostA"', "4", '"hostA"', '"hostA"', '"hostB"',
                 '"hostB"', "64", "60.00", '"job ""x"""', '"sleep 100"', "100.5", "20.25"]
        items += ["0"] * 17 + ['""', '"default"', "0", "4", '""', '""', "0", "2048000", "4096000", '""', "0"]
        return " ".join(items) + "\n"

    def htcondor(n):
        return (f"schedd.example.org#{n}.0#1713170000|atlas001|3600|3000.5|100.5|1713176200|1713179800|"
                f"524288|1048576|8|1.25|\n")

    def blah(n):
        return ('"timestamp=2024-04-15 10:10:00" "userDN=/C=UK/O=eScience/OU=Test/CN=Alice Smith" '
                '"userFQAN=/atlas/Role=production/Capability=NULL" "userFQAN=/atlas/Role=NULL/Capability=NULL" '
                f'"ceID={CE}" "jobID=CREAM{n}" "lrmsID={n}.torque.example.org" "localUser=atlas001" '
                f'"clientID=cream_{n}"\n')

    return {"slurm": slurm, "pbs": pbs, "sge": sge, "lsf": lsf, "htcondor": htcondor, "blah": blah}


class Drop:
    def write(self, records, then=None):
        pass


def bench_parsers(lines, workdir):
    print(f"Parsers: {lines:,} lines each (SLURM: a job and two steps per job), plain file, "
          "baseline = read and decode the lines")
    for name, make in _line_makers().items():
        path = os.path.join(workdir, f"{name}.log")
        with open(path, "w") as out:
            per = make(0).count("\n")
            for n in range(lines // per):
                out.write(make(100000 + n))
        started = time.perf_counter()
        report = parse_file(path, registry.get(name)(), Drop())
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        with open(path, "rb") as handle:
            read = sum(1 for raw in handle if raw.decode("utf-8", "replace"))
        base = time.perf_counter() - started
        total = report.parsed + report.ignored + report.failed
        assert report.failed == 0 and total == read, (name, report.errors)
        print(f"  {name:9} {total / seconds:>10,.0f} lines/s  {report.records / seconds:>10,.0f} records/s  "
              f"(reading alone {read / base:>12,.0f} lines/s; parsing costs {seconds / base:5.1f}x reading)")


# -- join ---------------------------------------------------------------------

def _records(first, count, rng):
    """``count`` batch records from number ``first`` on, ending 30,000 a day, and their blah records."""
    batch, blah = [], []
    for n in range(first, first + count):
        end = T0 + n * 86400 // DAY_JOBS + rng.randrange(0, 60)
        wall = 600 + n % 36000
        job_id = f"{n}.torque.example.org"
        batch.append(BatchRecord("PBS", job_id, job_id, f"user{n % 300:03d}", "atlas", "long",
                                 "torque.example.org", wall, wall * 3, 4, 1, end - wall, end, 1024000, 2048000))
        if n % 50:  # 2 % have no blah record
            blah.append(BlahRecord(end - wall - 120, f"/C=UK/O=eScience/CN=user{n % 300:03d}",
                                   "/atlas/Role=production/Capability=NULL", CE, f"CREAM{n}", job_id,
                                   f"user{n % 300:03d}"))
    return batch, blah


def fill(db, first, count, rng):
    started = time.perf_counter()
    for start in range(first, first + count, STORE_CHUNK):
        batch, blah = _records(start, min(STORE_CHUNK, first + count - start), rng)
        with db.transaction():
            site.store_site_records(db, batch + blah)
    return time.perf_counter() - started


def mariadb_url():
    script = ROOT / "tests" / "services" / "mariadb.sh"
    subprocess.run(["bash", str(script), "start"], check=True, stdout=subprocess.DEVNULL)
    os.environ.setdefault("APELTOOLS_DB_PASSWORD", "apel")
    return f"mysql://apel@127.0.0.1:{os.environ.get('APELTOOLS_MARIADB_PORT', '13306')}"


def bench_join(records, server_url):
    name = "apelbench_site_" + uuid.uuid4().hex[:8]
    with databases.connect(f"{server_url}/{name}") as db:
        db.create_database()
    url = f"{server_url}/{name}"
    rng = random.Random(1)
    try:
        with databases.connect(url) as db:
            migrate(db)
            update(db, [Benchmark(CE, "HEPSPEC", 10.0)], "config", now=T0)
            stored = fill(db, 0, records, rng)
            print(f"Join in MariaDB: {records:,} batch records and {records - records // 50:,} blah records "
                  f"(stored in {stored:.0f} s, {2 * records / stored:,.0f} records/s)")
            settings = JoinSettings(site="BENCH-SITE")
            report = join(db, settings, now=T0 + 400 * 86400)
            print(f"  full join:        {report.seconds:8.1f} s  ({report.joined:,} jobs, "
                  f"{report.joined / report.seconds:,.0f} jobs/s; "
                  f"{dict(report.unjoined)})  target < 300 s for 5,000,000: "
                  f"{report.seconds / 300 * 5_000_000 / records:.2f} of the target scaled to that size")
            fill(db, records, DAY_JOBS, rng)
            day = join(db, settings, now=T0 + 400 * 86400)
            print(f"  one more day:     {day.seconds:8.1f} s  ({day.joined:,} jobs of {DAY_JOBS:,}; "
                  f"{day.seconds / 10:.2f} of the 10 s target)")
            count = db.query("SELECT COUNT(*) FROM JobRecords")[0][0]
            assert count == report.joined + day.joined, (count, report.joined, day.joined)
    finally:
        with databases.connect(url) as db:
            db.execute(f"DROP DATABASE `{name}`")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="batch (and blah) records to join")
    parser.add_argument("--lines", type=int, default=300_000, help="lines per parser")
    parser.add_argument("--mysql", metavar="URL", help="mysql://user@host:port (without database)")
    parser.add_argument("--skip-parsers", action="store_true")
    parser.add_argument("--skip-join", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs")
    if not args.skip_parsers:
        with tempfile.TemporaryDirectory(prefix="apelbench-") as workdir:
            bench_parsers(args.lines, workdir)
    if not args.skip_join:
        bench_join(args.records, args.mysql or mariadb_url())


if __name__ == "__main__":
    main()
