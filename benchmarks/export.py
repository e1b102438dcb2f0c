#!/usr/bin/env python3
"""Process-mining export: events/s of ``apel-export`` and its peak memory against the job count.

A fresh SQLite site database gets N batch records with their lifecycles (30,000
jobs end a day; 2 % are local jobs without a blah record) and the blah records
of the others. Then, each a separate ``apel-export`` process writing to a file:
the first tenth of the jobs (by end day) and all of them, as XES (and the other
formats with ``--formats``). Reported: events/s (three per job), and each
process's peak resident memory (from wait4), which must not grow with the job
count. The baseline is reading the same jobs through the library without
writing anything, so the ratio says what writing costs on top of reading. The
target of issue 16: at least 100,000 events/s, memory independent of the count.

    python benchmarks/export.py                      # 1,000,000 jobs, XES
    python benchmarks/export.py --jobs 200000 --formats xes,mxml,csv,xes.gz
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools import db as databases  # noqa: E402
from apeltools.db import site  # noqa: E402
from apeltools.db.schema import migrate  # noqa: E402
from apeltools.lifecycle import JobSelection, read_jobs  # noqa: E402
from apeltools.records.site import BatchRecord, BlahRecord  # noqa: E402

T0 = 1717200000  # 2024-06-01
DAY_JOBS = 30000
CE = "ce01.example.org:8443/cream-pbs-long"
STATES = (("completed", "Exit_status=0", 0),) * 8 + (("failed", "Exit_status=1", 1),
                                                    ("cancelled", "Exit_status=271 deleted", 143))
STORE_CHUNK = 50000


def records(first, count):
    batch, blah = [], []
    for n in range(first, first + count):
        end = T0 + n * 86400 // DAY_JOBS
        wall = 600 + n % 36000
        start = end - wall
        state, raw, code = STATES[n % len(STATES)]
        job_id = f"{n}.torque.example.org"
        batch.append(BatchRecord("PBS", job_id, job_id, f"user{n % 300:03d}", "atlas", "long", "torque.example.org",
                                 wall, wall * 3, 4, 1, start, end, 1024000, 2048000, SubmitTime=start - n % 3600,
                                 EligibleTime=start - n % 3600, State=raw, FinalState=state, ExitCode=code))
        if n % 50:
            blah.append(BlahRecord(start - 3700, f"/C=UK/O=eScience/CN=user{n % 300:03d}",
                                   "/atlas/Role=production/Capability=NULL", CE, f"CREAM{n}", job_id,
                                   f"user{n % 300:03d}"))
    return batch, blah


def fill(url, jobs):
    started = time.perf_counter()
    with databases.connect(url) as db:
        migrate(db)
        for first in range(0, jobs, STORE_CHUNK):
            batch, blah = records(first, min(STORE_CHUNK, jobs - first))
            with db.transaction():
                site.store_site_records(db, batch + blah)
    return time.perf_counter() - started


def baseline(url):
    """(jobs, CPU seconds) of reading the lifecycles alone, through the library."""
    started = time.process_time()
    with databases.connect(url) as db:
        count = sum(1 for _ in read_jobs(db, JobSelection()))
    return count, time.process_time() - started


def export_run(url, fmt, output, to_day=None):
    """(wall seconds, CPU seconds, peak RSS in MB) of one apel-export process."""
    args = [sys.executable, "-m", "apeltools.cli.export", fmt.split(".")[0], "--db", url, "-o", output]
    if to_day:
        args += ["--to", to_day]
    started = time.perf_counter()
    process = subprocess.Popen(args, env=dict(os.environ, APELTOOLS_CONFIG=os.devnull))
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"apel-export failed: status {status}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--formats", default="xes", help="comma-separated: xes, mxml, csv, xes.gz")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apelbench-export-") as directory:
        url = f"sqlite:///{directory}/site.db"
        print(f"filling a site database with {options.jobs:,} jobs: {fill(url, options.jobs):.1f} s")
        count, seconds = baseline(url)
        print(f"reading lifecycles alone: {count:,} jobs in {seconds:.1f} CPU s ({count / seconds:,.0f} jobs/s)")
        tenth_days = max(1, options.jobs // 10 // DAY_JOBS)
        small_to = time.strftime("%Y-%m-%d", time.gmtime(T0 + (tenth_days - 1) * 86400))
        small_jobs = min(options.jobs, tenth_days * DAY_JOBS)
        for fmt in options.formats.split(","):
            output = os.path.join(directory, f"jobs.{fmt}")
            _, _, small_peak = export_run(url, fmt, output, small_to)
            wall, cpu, peak = export_run(url, fmt, output)
            size = os.path.getsize(output) / 2 ** 20
            events = 3 * count
            print(f"{fmt:>6}: {events:,} events in {cpu:.1f} CPU s = {events / cpu:,.0f} events/s "
                  f"({cpu / seconds:.2f}x reading alone; wall clock {wall:.1f} s = {events / wall:,.0f} events/s), "
                  f"{size:,.0f} MB written; peak memory {peak:.0f} MB for {count:,} jobs, "
                  f"{small_peak:.0f} MB for {small_jobs:,}")


if __name__ == "__main__":
    main()
