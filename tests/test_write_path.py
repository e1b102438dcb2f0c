"""The loader's write path: what one stored message costs in round trips, and what it leaves."""

import copy
import os

import pytest

from apeltools.db.summaries import DELTA_COLUMNS, job_deltas
from apeltools.demo import sample
from apeltools.records.types import JOB

SIGNER = "/C=UK/O=eScience/CN=apel.example.org"


def _jobs(count):
    return sample.jobs(sample.SITES[0], 2026, 10, count, sample.rng_for(3), first_id=0)


@pytest.mark.parametrize("db_url", [pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_storing_a_message_sends_no_ping_before_each_statement(db, monkeypatch):
    # mysql-connector's cursor() pings the server first: a round trip for every statement.
    db.store(JOB, _jobs(10), SIGNER)  # the connection and the lookup ids, outside the count
    raw = db.conn.raw
    pings = []
    original = raw.is_connected
    monkeypatch.setattr(raw, "is_connected", lambda: pings.append(1) or original())
    db.store(JOB, _jobs(1000), SIGNER, note=("m1", "v0.3", 0))
    assert pings == []
    assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == 1000


def test_summary_deltas_of_a_message_are_written_with_it(db):
    # Between 50 and 500 groups: the rows go through LOAD DATA on MariaDB, not a multi-row INSERT.
    records = _jobs(1000)
    db.store(JOB, records, SIGNER, note=("m1", "v0.3", 0))
    expected = job_deltas(records, db._ids)
    assert 50 <= len(expected) < 500, len(expected)
    sums = db.query("SELECT COUNT(*), SUM(NumberOfJobs), SUM(WallDuration), SUM(CpuDuration) FROM SummaryDeltas")[0]
    number, wall, cpu = (DELTA_COLUMNS.index(c) for c in ("NumberOfJobs", "WallDuration", "CpuDuration"))
    assert tuple(int(v) for v in sums) == (len(expected), sum(r[number] for r in expected),
                                           sum(r[wall] for r in expected), sum(r[cpu] for r in expected))


def test_new_lookup_names_are_inserted_in_one_order(db, monkeypatch):
    # Two loaders inserting the same new names in different orders deadlock on MariaDB's unique key
    # (seen with two workers starting on an empty database); in sorted order one waits for the other.
    inserted = []
    original = db._insert_names
    monkeypatch.setattr(db, "_insert_names", lambda table, names: inserted.append(names) or original(table, names))
    db.lookup_ids("DNs", ["/CN=c", "/CN=a", "/CN=b", "/CN=a"])
    assert inserted == [["/CN=a", "/CN=b", "/CN=c"]]
    assert set(db.lookup_ids("DNs", ["/CN=b", "/CN=d"])) >= {"/CN=b", "/CN=d"}
    assert inserted[-1] == ["/CN=d"]


@pytest.mark.parametrize("db_url", [pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_closing_the_connection_removes_its_load_data_directory(db):
    # apel-load's workers end with os._exit, which runs no __del__: each run left a directory behind.
    db.store(JOB, _jobs(100), SIGNER)
    directory = db._infile_dir
    assert directory and os.path.isdir(directory)
    db.close()
    assert not os.path.exists(directory)
    db.store(JOB, _jobs(100), SIGNER)  # a new connection, a new directory
    assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == 100


def test_messages_stored_together_leave_what_storing_them_one_by_one_leaves(db):
    # Random messages whose records overlap (the same job again, changed, in a later message),
    # from several publishers, plain and not: the same rows, the same LoadedMessages and the same
    # SummaryDeltas sums per group as one transaction per message.
    import random

    rng = random.Random(7)
    pool = [job for site in sample.SITES[:3] for job in
            sample.jobs(site, 2026, rng.choice((9, 10)), 40, sample.rng_for(rng.randrange(100)), first_id=0)]
    messages = []
    for n in range(8):
        records = [copy.copy(job) for job in rng.sample(pool, rng.randrange(0, 30))]
        for job in records:
            job.WallDuration += rng.randrange(1000)
            if rng.random() < 0.2:
                job.LocalUserId = "tab\\there"
        plain = not any("\\" in (job.LocalUserId or "") for job in records)
        messages.append((records, f"/CN=publisher {n % 3}", (f"m{n}", "v0.3", n % 2), plain))

    def outcome():
        jobs = db.query("SELECT * FROM JobRecords ORDER BY SiteID, LocalJobId, EndTime")
        keys = ", ".join(DELTA_COLUMNS[:13])
        deltas = db.query(f"SELECT {keys}, SUM(WallDuration), SUM(CpuDuration), SUM(NumberOfJobs), "
                          f"MIN(EarliestEndTime), MAX(LatestEndTime) FROM SummaryDeltas GROUP BY {keys} ORDER BY {keys}")
        notes = db.query("SELECT EmpaId, SignerDN, Format, RecordCount, RejectedCount FROM LoadedMessages ORDER BY Id")
        for table in ("JobRecords", "SummaryDeltas", "LoadedMessages"):
            db.execute(f"DELETE FROM {table}")
        return [r[:-1] for r in jobs], deltas, notes  # UpdateTime is the last column

    db.store_messages(JOB, messages[:5])
    db.store_messages(JOB, messages[5:])
    together = outcome()
    for records, publisher, note, plain in messages:
        db.store(JOB, records, publisher, note, plain)
    assert outcome() == together
    assert together[0] and together[1]
