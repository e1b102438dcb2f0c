#!/usr/bin/env python3
"""Loader throughput: job records/s of apel-load against the database's own bulk path.

For each backend, the same job records are loaded into fresh databases:

* by apeltools: text messages of 1,000 records in an incoming queue, loaded
  by ``apel-load --workers N`` run as a program (parse, validate, lookups,
  bulk replace, one transaction per message; N processes share the queue),
  once per message layout (``LAYOUTS``): the deployed client's field order
  with every field present; another field order with VO, VOGroup and VORole
  absent, as other producers write; CRLF line ends with blank lines (all
  v0.3); v0.4 (benchmarks as ``{type: value}`` dicts) in the other order;
* by the baseline: the same rows, already in the table's own layout, through
  the server's bulk path: ``LOAD DATA LOCAL INFILE`` per 1,000 rows for
  MariaDB, one ``executemany`` in a single transaction for SQLite.

Prints records/s for both and their ratio. MariaDB runs twice: on the tuned
server of ``tests/services/mariadb.sh`` (started when needed; or ``--mysql
URL``, password in APELTOOLS_DB_PASSWORD), and on a private server with
default settings (what a fresh install has: every commit flushed to disk, the
default buffer pool), started here in a temporary directory and stopped at the
end (``--servers`` picks).

    python benchmarks/load.py                     # 300,000 records, both backends, both servers
    python benchmarks/load.py --records 30000 --backend mysql --servers default
    python benchmarks/load.py --records 30000 --backend mysql --repeat 3   # three rounds, each with its baseline
    python benchmarks/load.py --records 20000 --backend sqlite
"""

import argparse
import contextlib
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools import db as databases  # noqa: E402
from apeltools.demo import sample  # noqa: E402
from apeltools.db.rows import plan_for  # noqa: E402
from apeltools.db.schema import migrate  # noqa: E402
from apeltools.messaging import queues  # noqa: E402
from apeltools.records import text  # noqa: E402
from apeltools.records.types import JOB  # noqa: E402

PER_MESSAGE = 1000
TARGET = 40_000  # records/s with 2 workers (issue 15)
SIGNER = "/C=UK/O=eScience/CN=apel.example.org"


def make_records(count):
    rng = sample.rng_for(1)
    records = []
    for index, site in enumerate(sample.SITES):
        share = count // len(sample.SITES) + (1 if index < count % len(sample.SITES) else 0)
        records += sample.jobs(site, 2026, 10, share, rng, first_id=len(records))
    return records


def canonical(body):
    return body


def other_order(body):
    """Each record's fields in reverse order, VO, VOGroup and VORole left out."""
    header, _, rest = body.partition("\n")
    records = []
    for record in rest.split("%%\n")[:-1]:
        fields = [line for line in record.splitlines() if not line.startswith(("VO:", "VOGroup:", "VORole:"))]
        records.append("\n".join(reversed(fields)) + "\n")
    return header + "\n" + "%%\n".join(records) + "%%\n"


def crlf_blank_lines(body):
    """CRLF line ends and a blank line after every record."""
    return body.replace("%%\n", "%%\n\n").replace("\n", "\r\n")


LAYOUTS = {  # name: (message format, what is done to each written message)
    "deployed order": (text.JOB_V03, canonical),
    "other order, no VO fields": (text.JOB_V03, other_order),
    "CRLF, blank lines": (text.JOB_V03, crlf_blank_lines),
    "v0.4, other order, no VO": (text.JOB_V04, other_order),
}


def fill_queue(directory, records, layout=LAYOUTS["deployed order"]):
    incoming = queues.incoming_queue(directory)
    fmt, transform = layout
    for start in range(0, len(records), PER_MESSAGE):
        body = transform(text.write_message(fmt, records[start:start + PER_MESSAGE]))
        incoming.add({"body": body, "signer": SIGNER, "empaid": f"bench-{start}"})
    return incoming


def time_loader(db_url, queue_dir, workers):
    """apel-load itself, as a separate program, on the queue; returns (records, seconds)."""
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "apeltools.cli.load", "--db", db_url, "--queue", queue_dir,
         "--reject", queue_dir + "-rejects", "--workers", str(workers)],
        check=True, env=env,
    )
    seconds = time.perf_counter() - started
    with databases.connect(db_url) as db:
        return db.query("SELECT COUNT(*) FROM JobRecords")[0][0], seconds


def baseline_rows(db_url, records):
    """The rows exactly as the table stores them (ids resolved), prepared untimed."""
    with databases.connect(db_url) as db:
        plan = plan_for(JOB)
        ids = {table: db.lookup_ids(table, names) for table, names in plan.names(records).items()}
        publisher = db.lookup_ids("DNs", [SIGNER])[SIGNER]
        return plan, plan.rows(records, ids, publisher)


def baseline_mysql(db_url, records, workdir):
    plan, rows = baseline_rows(db_url, records)
    files = []
    for start in range(0, len(rows), PER_MESSAGE):
        path = os.path.join(workdir, f"rows-{start}.tsv")
        with open(path, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\",
                                quotechar=None, lineterminator="\n")
            writer.writerows(["\\N" if v is None else v for v in row] for row in rows[start:start + PER_MESSAGE])
        files.append(path)
    import mysql.connector

    with databases.connect(db_url) as db:
        params = dict(db._params)
    conn = mysql.connector.connect(**params, allow_local_infile=True, use_pure=False)
    cursor = conn.cursor()
    cursor.execute("SET time_zone = '+00:00'")
    targets = ", ".join(f"@{c}" if c in plan.time_columns else f"`{c}`" for c in plan.columns)
    sets = ", ".join(f"`{c}` = FROM_UNIXTIME(@{c})" for c in plan.time_columns)
    started = time.perf_counter()
    for path in files:
        cursor.execute(f"LOAD DATA LOCAL INFILE '{path}' REPLACE INTO TABLE JobRecords "
                       f"FIELDS TERMINATED BY '\\t' ({targets}) SET {sets}")
        conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows), seconds


def baseline_sqlite(db_url, records):
    import sqlite3

    plan, rows = baseline_rows(db_url, records)
    marks = ", ".join("datetime(?, 'unixepoch')" if c in plan.time_columns else "?" for c in plan.columns)
    conn = sqlite3.connect(db_url[len("sqlite:///"):])
    started = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT OR REPLACE INTO JobRecords ({', '.join(plan.columns)}) VALUES ({marks})", rows)
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows), seconds


def fresh_database(backend, workdir, mysql_url):
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/{uuid.uuid4().hex[:8]}.db"
    else:
        url = f"{mysql_url}/apelbench_{uuid.uuid4().hex[:8]}"
    db = databases.connect(url)
    db.create_database()
    migrate(db)
    db.close()
    return url


def drop(url):
    if url.startswith("mysql"):
        with databases.connect(url) as db:
            db.execute(f"DROP DATABASE `{url.rsplit('/', 1)[1]}`")


def mariadb_url():
    script = ROOT / "tests" / "services" / "mariadb.sh"
    subprocess.run(["bash", str(script), "start"], check=True, stdout=subprocess.DEVNULL)
    os.environ.setdefault("APELTOOLS_DB_PASSWORD", "apel")
    return f"mysql://apel@127.0.0.1:{os.environ.get('APELTOOLS_MARIADB_PORT', '13306')}"


@contextlib.contextmanager
def default_mariadb(workdir):
    """A private mariadbd with the server's default settings (only where its files go and its
    port), for the life of the block; yields its URL (user apel, password apel)."""
    base = os.path.join(workdir, "mariadb-default")
    data, sock = os.path.join(base, "data"), os.path.join(base, "mysqld.sock")
    os.makedirs(base)
    user = ["--user=root"] if os.getuid() == 0 else []
    subprocess.run(["mariadb-install-db", "--no-defaults", *user, f"--datadir={data}", "--skip-test-db",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["mariadbd", "--no-defaults", *user, f"--datadir={data}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--skip-name-resolve", f"--pid-file={base}/mysqld.pid",
         f"--log-error={base}/mysqld.log"], stdin=subprocess.DEVNULL)
    client = ["mariadb", "--no-defaults", "--protocol=socket", "-S", sock, "-uroot"]
    try:
        for _ in range(300):
            if subprocess.run([*client, "-e", "SELECT 1"], capture_output=True).returncode == 0:
                break
            if server.poll() is not None:
                raise RuntimeError(f"mariadbd exited: see {base}/mysqld.log")
            time.sleep(0.2)
        subprocess.run(client, check=True, text=True, input=(
            "CREATE USER 'apel'@'127.0.0.1' IDENTIFIED BY 'apel';"
            "GRANT ALL PRIVILEGES ON *.* TO 'apel'@'127.0.0.1';"))
        os.environ.setdefault("APELTOOLS_DB_PASSWORD", "apel")
        yield f"mysql://apel@127.0.0.1:{port}"
    finally:
        subprocess.run(["mariadb-admin", "--no-defaults", "-S", sock, "-uroot", "shutdown"], capture_output=True)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(base, ignore_errors=True)


def baseline(backend, records, workdir, server_url):
    """(records/s, seconds, what) of the database's own bulk path into a fresh database."""
    base_url = fresh_database(backend, workdir, server_url)
    try:
        if backend == "mysql":
            count, seconds = baseline_mysql(base_url, records, workdir)
            return count / seconds, seconds, "LOAD DATA LOCAL INFILE per 1,000 rows"
        count, seconds = baseline_sqlite(base_url, records)
        return count / seconds, seconds, "one executemany in one transaction"
    finally:
        drop(base_url)


def run_backend(backend, records, workdir, server_url, workers, label, repeat=1):
    """Load ``records`` in every layout and through the baseline, ``repeat`` times (each round
    against its own baseline); print the figures."""
    empty_url = fresh_database(backend, workdir, server_url)
    try:
        empty_queue = os.path.join(workdir, f"queue-{uuid.uuid4().hex[:8]}")
        queues.incoming_queue(empty_queue)
        # Untimed: the server's first load into new tables is slower (files, buffer pool), which
        # would count against whichever layout came first.
        fill_queue(empty_queue, records[:5 * PER_MESSAGE])
        time_loader(empty_url, empty_queue, workers)
        print(f"{label}")
        for round_ in range(repeat):
            if repeat > 1:
                print(f"  round {round_ + 1} of {repeat}, load average {os.getloadavg()[0]:.1f}")
            # What the figures below spend before the first message and after the last.
            _, startup = time_loader(empty_url, empty_queue, workers)
            base, base_seconds, base_name = baseline(backend, records, workdir, server_url)
            print(f"  {'apel-load on an empty queue':28} {startup:10.2f} s (start-up and finish, counted below)")
            print(f"  {'baseline':28} {base:>10,.0f} records/s  ({base_seconds:.2f} s, {base_name})")
            run_layouts(backend, records, workdir, server_url, workers, base, startup)
    finally:
        drop(empty_url)


def run_layouts(backend, records, workdir, server_url, workers, base, startup):
    """apel-load of ``records`` in each layout into a fresh database; prints records/s and the ratios."""
    for name, layout in LAYOUTS.items():
        ours_url = fresh_database(backend, workdir, server_url)
        try:
            queue_dir = os.path.join(workdir, f"queue-{uuid.uuid4().hex[:8]}")
            fill_queue(queue_dir, records, layout)
            count, seconds = time_loader(ours_url, queue_dir, workers)
            assert count == len(records), f"loaded {count} of {len(records)}"
        finally:
            drop(ours_url)
        ours = count / seconds
        # Not when the empty-queue run took as long (a start-up slower than usual on a busy machine).
        net = f"{count / (seconds - startup):,.0f}/s" if seconds > 1.1 * startup else "n/a"
        print(f"  apel-load, {name:26} {ours:>10,.0f} records/s  ({seconds:.2f} s, --workers {workers}, "
              f"including program start-up)  {ours / base:5.2f} of the baseline, {ours / TARGET:5.2f} of "
              f"{TARGET:,}/s; {net} without the empty-queue time", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--backend", choices=("mysql", "sqlite", "both"), default="both")
    parser.add_argument("--servers", choices=("tuned", "default", "both"), default="both",
                        help="MariaDB: the tuned test server, a default-settings one, or both")
    parser.add_argument("--mysql", metavar="URL", help="mysql://user@host:port (without database) "
                        "instead of the tuned test server")
    parser.add_argument("--workers", type=int, default=2, help="apel-load --workers")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="rounds of the baseline and every layout, each against its own baseline")
    args = parser.parse_args()
    backends = ("mysql", "sqlite") if args.backend == "both" else (args.backend,)
    records = make_records(args.records)
    print(f"{len(records):,} job records in messages of {PER_MESSAGE}; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="apelbench-") as workdir:
        if "sqlite" in backends:
            run_backend("sqlite", records, workdir, None, args.workers, "SQLite", args.repeat)
        if "mysql" in backends and args.servers in ("tuned", "both"):
            run_backend("mysql", records, workdir, args.mysql or mariadb_url(), args.workers,
                        "MariaDB, tuned (tests/services/mariadb.sh)" if not args.mysql else f"MariaDB {args.mysql}",
                        args.repeat)
        if "mysql" in backends and args.servers in ("default", "both"):
            with default_mariadb(workdir) as url:
                run_backend("mysql", records, workdir, url, args.workers, "MariaDB, default settings", args.repeat)


if __name__ == "__main__":
    main()
