"""apel-load under faults and contention: a database restart mid-run, and four loaders on one queue."""

import os
import subprocess
import sys
import time

import pytest

from apeltools import db as databases
from apeltools.demo import sample
from apeltools.messaging import queues
from apeltools.records import text
from apeltools.db.schema import migrate
from tests.conftest import fresh_mysql

SITE = sample.SITES[0]


def fill(queue, messages, records_per_message, seed=7):
    """Queue ``messages`` job messages; every fourth shares new lookup names with its neighbours."""
    rng = sample.rng_for(seed)
    total = 0
    for n in range(messages):
        batch = sample.jobs(SITE, 2026, 10, records_per_message, rng, first_id=n * records_per_message)
        for job in batch:
            # New names appear in several messages at once, so loaders race to add them.
            job.GlobalUserName = f"/C=UK/O=eScience/CN=user {n // 4}"
            job.MachineName = f"wn{n // 4}.example.org"
        queue.add({"body": text.write_message(text.JOB_V03, batch), "signer": f"/CN=host{n % 3}",
                   "empaid": f"msg-{n:05d}"})
        total += len(batch)
    return total


def apel_load(db_url, queue_dir, reject_dir, *extra):
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull)
    return subprocess.Popen(
        [sys.executable, "-m", "apeltools.cli.load", "--db", db_url, "--queue", str(queue_dir),
         "--reject", str(reject_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def leftovers(queue, db_url, logs):
    """What is known about elements left in a queue, to tell a lost race from a failed removal."""
    with databases.connect(db_url) as db:
        loaded = {empaid for (empaid,) in db.query("SELECT EmpaId FROM LoadedMessages")}
    found = []
    for bucket in sorted(os.listdir(queue.path)):
        if len(bucket) != 8:
            continue
        for name in sorted(os.listdir(os.path.join(queue.path, bucket))):
            path = os.path.join(queue.path, bucket, name)
            empaid = open(os.path.join(path, "empaid")).read() if os.path.exists(os.path.join(path, "empaid")) else "?"
            found.append(f"{bucket}/{name}: files {sorted(os.listdir(path))}, empaid {empaid}, "
                         f"{'loaded' if empaid in loaded else 'not loaded'}")
    # Messages on stderr read "apel-load: ..." whatever their level: show them all.
    said = [line for log in logs for line in log.splitlines() if line.strip()]
    return "left in the queue:\n" + "\n".join(found) + "\nthe loaders said:\n" + "\n".join(said[:50])


def check_loaded_once(db_url, messages, records):
    with databases.connect(db_url) as db:
        assert db.query("SELECT COUNT(*), COUNT(DISTINCT LocalJobId) FROM JobRecords") == [(records, records)]
        assert db.query("SELECT COUNT(*), COUNT(DISTINCT EmpaId), SUM(RejectedCount) FROM LoadedMessages") == [
            (messages, messages, 0)
        ]
        for table in ("DNs", "MachineNames", "Sites", "VOs"):
            assert db.query(f"SELECT name FROM {table} GROUP BY name HAVING COUNT(*) > 1") == []
        assert db.query("SELECT COUNT(*) FROM DNs") == [((messages + 3) // 4 + 3,)]


@pytest.mark.mariadb
@pytest.mark.slow
def test_a_database_restart_while_loading_loses_and_rejects_nothing(mariadb_service, tmp_path, monkeypatch):
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", mariadb_service.password)
    db_url, drop = fresh_mysql(mariadb_service)
    try:
        with databases.connect(db_url) as db:
            migrate(db)
        incoming = queues.incoming_queue(tmp_path / "in")
        messages, per_message = 300, 200
        records = fill(incoming, messages, per_message)
        loader = apel_load(db_url, tmp_path / "in", tmp_path / "rej", "--max-wait", "300", "-v")
        try:
            deadline = time.monotonic() + 120
            while incoming.count() > messages * 3 // 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert incoming.count() > 0, "the loader finished before the database could be stopped"
            mariadb_service.stop()
            time.sleep(3)
        finally:
            mariadb_service.start()
        _, stderr = loader.communicate(timeout=600)
        assert loader.returncode == 0, stderr
        assert "retrying in" in stderr  # it really met the outage
        assert incoming.count() == 0
        assert queues.reject_queue(tmp_path / "rej").count() == 0
        check_loaded_once(db_url, messages, records)
    finally:
        drop()


def test_four_loaders_on_one_queue_load_every_message_once(db_url, tmp_path):
    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 2000
    records = fill(incoming, messages, 3)
    loaders = [apel_load(db_url, tmp_path / "in", tmp_path / "rej") for _ in range(4)]
    logs = []
    for process in loaders:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        logs.append(stderr)
    assert incoming.count() == 0, leftovers(incoming, db_url, logs)
    assert queues.reject_queue(tmp_path / "rej").count() == 0
    check_loaded_once(db_url, messages, records)


def _lose_reply_of_commit(conn, error):
    """Make the next COMMIT on ``conn`` commit and then fail as if the server's reply was lost (the
    server or a Galera node killed at that instant): the client cannot tell that it committed."""
    real = conn.commit

    def commit():
        real()
        conn.commit = real
        raise error

    conn.commit = commit


def _lost_reply_error(db):
    if db.dialect == "mysql":
        import mysql.connector

        return mysql.connector.errors.OperationalError(msg="Lost connection to MySQL server during query", errno=2013)
    import sqlite3

    return sqlite3.OperationalError("disk I/O error")


def test_a_batch_whose_commit_reply_was_lost_is_noted_once(db_url, tmp_path):
    """The retry after an error at COMMIT finds the batch committed (its token in LoadedMessages)
    and does not store and note its messages again. Before the token, each such batch left a
    second LoadedMessages row for each of its messages (a Galera node killed while loading)."""
    from apeltools import loader as loading
    from apeltools.retry import Backoff

    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 12
    records = fill(incoming, messages, 4)
    with databases.connect(db_url) as db:
        real_insert, lost = db.insert_rows, []

        def insert_rows(table, *args, **kwargs):
            if table == "LoadedMessages" and not lost:  # the first batch's transaction
                lost.append(True)
                _lose_reply_of_commit(db.conn, _lost_reply_error(db))
            real_insert(table, *args, **kwargs)

        db.insert_rows = insert_rows
        loader = loading.Loader(db, rejects=queues.reject_queue(tmp_path / "rej"),
                                backoff=Backoff(initial=0.01, maximum=0.05, give_up_after=30))
        tally = loading.load_queue(loader, incoming)
        assert lost
        assert tally.messages == messages and incoming.count() == 0
    check_loaded_once(db_url, messages, records)
