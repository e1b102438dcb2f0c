#!/usr/bin/env python3
"""Scaling out: records/s loaded with 1, 2 and 3 apel-load processes on a single MariaDB server,
on one node of a 3-node Galera cluster, and spread over its 3 nodes (issue 18).

Every run loads the same messages (``--messages`` of ``--per-message`` job records, every fourth
message with new user and machine names, so that loaders race to add lookup names) from one
directory queue into a fresh database, with the loaders as separate processes, as deployed. The
figures: wall-clock records/s, and the CPU seconds per 1,000 records of the loaders (user + system
of the child processes) and of the servers (the mariadbd processes' CPU time, from /proc), and
how many message transactions were replayed after a certification conflict or deadlock. The
servers are those of tests/services (started when not running):

    bash tests/services/mariadb.sh start; bash tests/services/galera.sh start
    python benchmarks/scale.py --messages 400 --per-message 200

On one 2-core machine the three Galera nodes and the loaders share the same two cores: the
cluster's figures here measure its overhead (every write applied on three servers, certification),
not what three hosts give; the CPU time per record is what carries over.

``--full-summarise JOBS`` measures instead ``apel-summarise --full`` run again and again while one
apel-load writes: on the single server (both on it), and on Galera node 1 with the loader on node
2, over JOBS job records loaded first: each full run's time, how many runs were replayed after a
conflict, and that an incremental run afterwards counts every job once.
"""

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools import db as databases  # noqa: E402
from apeltools import summariser  # noqa: E402
from apeltools.db.schema import migrate  # noqa: E402
from apeltools.demo import sample  # noqa: E402
from apeltools.errors import ConflictError  # noqa: E402
from apeltools.messaging import queues  # noqa: E402
from apeltools.records import text  # noqa: E402
from tests.test_loader_faults import fill  # noqa: E402

PASSWORD = "apel"
SINGLE = ("single server", [13306])
GALERA = 13311


def server_pids(ports):
    """Pids of the mariadbd processes listening on ``ports`` (by their my.cnf's port line)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmdline or not cmdline[0].endswith(b"mariadbd"):
            continue
        for arg in cmdline:
            if arg.startswith(b"--defaults-file="):
                cnf = Path(arg.split(b"=", 1)[1].decode()).read_text()
                if any(f"port = {port}\n" in cnf for port in ports):
                    found.append(int(pid))
    return found


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def fresh_database(port):
    import mysql.connector

    name = "apelscale_" + uuid.uuid4().hex[:10]
    conn = mysql.connector.connect(host="127.0.0.1", port=port, user="apel", password=PASSWORD)
    conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    conn.close()
    with databases.connect(f"mysql://apel@127.0.0.1:{port}/{name}") as db:
        migrate(db)
    return name


def drop_database(port, name):
    import mysql.connector

    conn = mysql.connector.connect(host="127.0.0.1", port=port, user="apel", password=PASSWORD)
    conn.cursor().execute(f"DROP DATABASE {name}")
    conn.close()


def apel_load(port, name, queue_dir, stderr=subprocess.PIPE):
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull, APELTOOLS_DB_PASSWORD=PASSWORD)
    return subprocess.Popen([sys.executable, "-m", "apeltools.cli.load", "--db",
                             f"mysql://apel@127.0.0.1:{port}/{name}", "--queue", str(queue_dir / "in"),
                             "--reject", str(queue_dir / "rej")],
                            env=env, stderr=stderr, text=True)


def run(ports, loader_ports, messages, per_message, workdir):
    """Load the messages with one loader per entry of ``loader_ports``; (records/s, loader and server
    CPU seconds per 1,000 records, messages replayed after a conflict)."""
    name = fresh_database(loader_ports[0])
    queue_dir = Path(tempfile.mkdtemp(dir=workdir))
    records = fill(queues.incoming_queue(queue_dir / "in"), messages, per_message)
    servers = server_pids(ports)
    server_before = cpu_seconds(servers)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    loaders = [apel_load(port, name, queue_dir) for port in loader_ports]
    replays = 0
    for loader in loaders:
        _, stderr = loader.communicate()
        if loader.returncode != 0:
            raise SystemExit(f"apel-load exited {loader.returncode}:\n{stderr}")
        # Certification conflicts (and deadlocks) retried: each replays one message's transaction.
        replays += stderr.count("retrying in")
    seconds = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    loader_cpu = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    server_cpu = cpu_seconds(servers) - server_before
    with databases.connect(f"mysql://apel@127.0.0.1:{loader_ports[-1]}/{name}") as db:
        stored = db.query("SELECT COUNT(*) FROM JobRecords")[0][0]
    if stored != records:
        raise SystemExit(f"{stored} records stored of {records}")
    drop_database(loader_ports[0], name)
    return records / seconds, loader_cpu * 1000 / records, server_cpu * 1000 / records, replays


class Replays(logging.Handler):
    """Counts the summariser's "replaying the run" warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += "replaying the run" in record.getMessage()


def full_summarise_while_loading(summarise_port, load_port, jobs, messages, per_message, workdir):
    """Full summarises on ``summarise_port``, one after another, while one apel-load writes the
    messages on ``load_port`` (the same database, after ``jobs`` loaded first); (the runs' seconds,
    replays, runs that failed, the loader's records/s)."""
    name = fresh_database(summarise_port)
    queue_dir = Path(tempfile.mkdtemp(dir=workdir))
    fill(queues.incoming_queue(queue_dir / "in"), jobs // 200, 200, seed=3)
    loader = apel_load(summarise_port, name, queue_dir)
    _, stderr = loader.communicate()
    if loader.returncode != 0:
        raise SystemExit(f"apel-load exited {loader.returncode}:\n{stderr}")
    # Records of their own: job ids from 10,000,000 on, so that none replaces one loaded before.
    incoming, rng = queues.incoming_queue(queue_dir / "in"), sample.rng_for(11)
    for n in range(messages):
        batch = sample.jobs(sample.SITES[0], 2026, 10, per_message, rng, first_id=10_000_000 + n * per_message)
        incoming.add({"body": text.write_message(text.JOB_V03, batch), "signer": "/CN=host", "empaid": f"more-{n}"})
    replays = Replays()
    logging.getLogger("apeltools.summariser").addHandler(replays)
    runs, failed = [], 0
    with databases.connect(f"mysql://apel@127.0.0.1:{summarise_port}/{name}") as db, \
            open(queue_dir / "load.log", "w") as log:  # a file: nobody reads a pipe while it runs
        started, ended = time.monotonic(), []
        loader = apel_load(load_port, name, queue_dir, stderr=log)
        threading.Thread(target=_note_end, args=(loader, ended), daemon=True).start()
        while not ended:
            began = time.monotonic()
            try:
                summariser.summarise(db, full=True)
                runs.append(time.monotonic() - began)
            except ConflictError:  # replayed 6 times
                failed += 1
        rate = messages * per_message / (ended[0] - started)
        if loader.returncode != 0:
            raise SystemExit(f"apel-load exited {loader.returncode}:\n{(queue_dir / 'load.log').read_text()}")
        summariser.summarise(db)
        if db.on_galera():
            db.execute("SET SESSION wsrep_sync_wait = 1")  # the loader's last commits applied here too
        stored, summarised = db.query(
            "SELECT COUNT(*), (SELECT SUM(NumberOfJobs) FROM VSuperSummaries) FROM JobRecords")[0]
    logging.getLogger("apeltools.summariser").removeHandler(replays)
    if stored != summarised:
        raise SystemExit(f"{summarised} jobs summarised of {stored}")
    drop_database(summarise_port, name)
    return runs, replays.count, failed, rate


def _note_end(process, ended):
    process.wait()
    ended.append(time.monotonic())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--per-message", type=int, default=200)
    parser.add_argument("--full-summarise", type=int, metavar="JOBS",
                        help="measure full summarises while loading, over JOBS job records loaded first")
    options = parser.parse_args()
    os.environ.setdefault("APELTOOLS_DB_PASSWORD", PASSWORD)
    if options.full_summarise:
        print(f"apel-summarise --full again and again over {options.full_summarise:,} jobs while apel-load "
              f"writes {options.messages} messages of {options.per_message} more")
        with tempfile.TemporaryDirectory() as workdir:
            for label, summarise_port, load_port in (("single server", SINGLE[1][0], SINGLE[1][0]),
                                                     ("Galera, nodes 1 and 2", GALERA, GALERA + 1)):
                runs, replays, failed, rate = full_summarise_while_loading(
                    summarise_port, load_port, options.full_summarise, options.messages, options.per_message,
                    workdir)
                print(f"{label:<22} {len(runs)} full runs ({', '.join(f'{r:.1f}' for r in runs)} s), {replays} "
                      f"replays, {failed} failed; loading {rate:,.0f} records/s", flush=True)
        return
    nodes = [GALERA, GALERA + 1, GALERA + 2]
    setups = [
        (SINGLE[0], SINGLE[1], lambda n: SINGLE[1] * n),
        ("Galera, all on node 1", nodes, lambda n: [GALERA] * n),
        ("Galera, one node each", nodes, lambda n: nodes[:n]),
    ]
    print(f"{options.messages} messages of {options.per_message} job records; CPU ms per 1,000 records "
          "(loaders / servers)")
    print(f"{'setup':<24} {'loaders':>7} {'records/s':>10} {'loader CPU':>11} {'server CPU':>11} {'replays':>8}")
    with tempfile.TemporaryDirectory() as workdir:
        for label, ports, spread in setups:
            for count in (1, 2, 3):
                rate, loader_cpu, server_cpu, replays = run(ports, spread(count), options.messages,
                                                   options.per_message, workdir)
                print(f"{label:<24} {count:>7} {rate:>10,.0f} {loader_cpu * 1000:>9,.0f} ms "
                      f"{server_cpu * 1000:>8,.0f} ms {replays:>8}", flush=True)


if __name__ == "__main__":
    main()
