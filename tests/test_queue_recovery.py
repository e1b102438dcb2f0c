"""Crash recovery of the queues: a lock whose owner was killed is taken over at once, and
purging cleans what a crash left without stopping half-way; dirq's own readers still read
our queues."""

import glob
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from dirq.QueueSimple import QueueSimple
from dirq.queue import Queue

from apeltools import db as databases
from apeltools.db.schema import migrate
from apeltools.demo import sample
from apeltools.messaging import queues
from apeltools.records.text import JOB_V03, write_message

PER_MESSAGE = 200


def fill(directory, messages):
    incoming = queues.incoming_queue(directory)
    rng = sample.rng_for(4)
    for number in range(messages):
        jobs = sample.jobs(sample.SITES[0], 2026, 1, PER_MESSAGE, rng, first_id=number * PER_MESSAGE)
        incoming.add({"body": write_message(JOB_V03, jobs), "signer": "/CN=test", "empaid": f"m{number}"})
    return incoming


def load(db_url, queue_dir, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "apeltools.cli.load", "--db", db_url, "--queue", str(queue_dir),
         "--reject", f"{queue_dir}-rejects"],
        env=dict(os.environ, APELTOOLS_CONFIG=os.devnull), stderr=subprocess.PIPE, text=True, **popen)


def locks(queue_dir):
    return glob.glob(f"{queue_dir}/*/*/locked")


def test_a_loader_killed_holding_a_lock_delays_nothing(tmp_path):
    db_url = f"sqlite:///{tmp_path}/apel.db"
    with databases.connect(db_url) as db:
        migrate(db)
    queue_dir = tmp_path / "incoming"
    fill(queue_dir, 60)
    kills = 0
    for _ in range(20):  # three kills, each while the loader holds a lock
        loader = load(db_url, queue_dir)
        deadline = time.monotonic() + 60
        while not locks(queue_dir) and loader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        loader.send_signal(signal.SIGKILL)
        loader.communicate()
        kills += bool(locks(queue_dir))
        if kills == 3:
            break
    assert kills == 3
    assert locks(queue_dir)  # left by the last one killed
    started = time.monotonic()
    rerun = load(db_url, queue_dir)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert time.monotonic() - started < 120  # not the 600 s of the age rule
    assert Queue(str(queue_dir), schema=queues.INCOMING_SCHEMA).count() == 0 and not locks(queue_dir)
    with databases.connect(db_url) as db:
        assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == 60 * PER_MESSAGE


def hold_lock(queue_dir, simple):
    """A process that locks the first element of a queue with ``queues.lock`` and sleeps."""
    opener = "outgoing_queue" if simple else "incoming_queue"
    code = textwrap.dedent(f"""
        import sys, time
        from apeltools.messaging import queues
        queue = queues.{opener}({str(queue_dir)!r})
        name = next(iter(queue))
        assert queues.lock(queue, name)
        print(name, flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return holder, holder.stdout.readline().strip()


@pytest.mark.parametrize("simple", [False, True], ids=["incoming Queue", "outgoing QueueSimple"])
def test_a_lock_is_taken_over_once_its_owner_is_gone_and_not_before(tmp_path, simple):
    queue_dir = tmp_path / "queue"
    queue = queues.outgoing_queue(queue_dir) if simple else queues.incoming_queue(queue_dir)
    queue.add("body" if simple else {"body": "body", "signer": "/CN=x"})
    holder, name = hold_lock(queue_dir, simple)
    try:
        assert not queues.lock(queue, name)  # its owner runs
    finally:
        holder.kill()
        holder.wait()
    assert queues.lock(queue, name)  # its owner is gone: taken over at once
    assert not queues.lock(queue, name)  # ... and now held by this process
    queues.remove(queue, name)
    assert queue.count() == 0
    # Nothing of the notes is left behind (a note next to a simple element would keep its bucket).
    assert not glob.glob(f"{queue_dir}/*/*owner*") and not glob.glob(f"{queue_dir}/*/*claim*")


def killed_while_locking(queue_dir, simple, point):
    """A process killed inside ``queues.lock`` right after it took the lock of the first element:
    before its owner note is in place (``rename``), or before the lock's identity is added to it
    (``append``). Returns the element's name."""
    opener = "outgoing_queue" if simple else "incoming_queue"
    code = textwrap.dedent(f"""
        import os, signal, sys
        from apeltools.messaging import queues
        queue = queues.{opener}({str(queue_dir)!r})
        name = next(iter(queue))
        print(name, flush=True)
        die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
        if {point!r} == "rename":
            os.rename = die
        else:
            write = queues._write_file
            queues._write_file = lambda queue, path, data, flags=os.O_TRUNC: (
                die() if flags == os.O_APPEND else write(queue, path, data, flags))
        queues.lock(queue, name)
    """)
    killed = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert killed.returncode == -signal.SIGKILL
    return killed.stdout.strip()


@pytest.mark.parametrize("point", ["rename", "append"])
@pytest.mark.parametrize("simple", [False, True], ids=["incoming Queue", "outgoing QueueSimple"])
def test_a_process_killed_as_it_takes_a_lock_delays_nothing(tmp_path, simple, point):
    # Seen as a loader killed while it locked elements quickly: the lock was there, its owner note
    # not yet, and the element waited for the 600 s age rule.
    queue_dir = tmp_path / "queue"
    queue = queues.outgoing_queue(queue_dir) if simple else queues.incoming_queue(queue_dir)
    queue.add("body" if simple else {"body": "body", "signer": "/CN=x"})
    name = killed_while_locking(queue_dir, simple, point)
    assert os.path.exists(queues._lock_path(queue, name))
    assert queues.lock(queue, name)  # taken over at once
    queues.remove(queue, name)
    assert queue.count() == 0
    assert not glob.glob(f"{queue_dir}/*/*owner*") and not glob.glob(f"{queue_dir}/*/*claim*")
    assert not glob.glob(f"{queue_dir}/*/*pending*")


@pytest.mark.parametrize("simple", [False, True], ids=["incoming Queue", "outgoing QueueSimple"])
def test_a_purge_releases_the_lock_of_a_process_killed_as_it_took_it(tmp_path, simple):
    queue_dir = tmp_path / "queue"
    queue = queues.outgoing_queue(queue_dir) if simple else queues.incoming_queue(queue_dir)
    queue.add("body" if simple else {"body": "body", "signer": "/CN=x"})
    name = killed_while_locking(queue_dir, simple, "rename")
    queues.purge(queue)
    assert queues.lock(queue, name) and not glob.glob(f"{queue_dir}/*/*pending*")


@pytest.mark.parametrize("note", [None, "other-machine"], ids=["no owner note", "another host"])
def test_a_lock_of_another_reader_or_host_keeps_the_age_rule(tmp_path, note):
    queue = queues.incoming_queue(tmp_path / "queue")
    name = queue.add({"body": "body", "signer": "/CN=x"})
    assert queue.lock(name)  # dirq's own reader: no owner note
    if note:
        (tmp_path / "queue" / name / queues.OWNER_FILE).write_text(f"{note}\nboot\n1\n\n0 0\n")
    assert not queues.lock(queue, name)
    queues.purge(queue)  # young: kept
    assert queue._is_locked(name)
    old = time.time() - queues.PURGE_LOCK_SECONDS - 10
    os.utime(tmp_path / "queue" / name / "locked", (old, old))
    queues.purge(queue)
    assert not queue._is_locked(name)


def test_purging_cleans_a_crashed_writers_leftovers_and_goes_on_past_a_failure(tmp_path, monkeypatch, caplog):
    queue_dir = tmp_path / "incoming"
    queue = queues.incoming_queue(queue_dir)
    old = time.time() - queues.PURGE_LOCK_SECONDS - 10
    leftovers = []
    for number in range(2):  # elements a receiver killed mid-write left in temporary/
        leftover = queue_dir / "temporary" / f"{number:014x}"
        leftover.mkdir(parents=True)
        (leftover / "body").write_text("half a mess")
        (leftover / "locked").mkdir()  # dirq's purge fails on this one (rmdir of a non-empty directory)
        (leftover / "locked" / "x").write_text("")
        os.utime(leftover, (old, old))
        leftovers.append(leftover)
    name = queue.add({"body": "body", "signer": "/CN=x"})
    assert queue.lock(name)
    os.utime(queue_dir / name / "locked", (old, old))
    failing = str(leftovers[0])
    remove_tree = queues._remove_tree

    def fail_once(path):
        if path == failing:
            raise OSError(f"cannot rmdir({path}): [Errno 5] Input/output error")
        remove_tree(path)

    monkeypatch.setattr(queues, "_remove_tree", fail_once)
    with caplog.at_level(logging.WARNING):
        queues.purge(queue)
    assert leftovers[0].exists() and not leftovers[1].exists()
    assert not queue._is_locked(name)  # the stale lock is released all the same
    assert "Input/output error" in caplog.text and ": None" not in caplog.text
    monkeypatch.setattr(queues, "_remove_tree", remove_tree)
    queues.purge(queue)
    assert os.listdir(queue_dir / "temporary") == []


def test_dirq_still_reads_removes_and_purges_our_queues(tmp_path):
    incoming = queues.incoming_queue(tmp_path / "incoming")
    for number in range(3):
        incoming.add({"body": f"b{number}", "signer": "/CN=x"})
    ours = [name for name, _, _ in queues.locked_elements(incoming)]  # locked with owner notes
    theirs = Queue(str(tmp_path / "incoming"), schema=queues.INCOMING_SCHEMA)
    theirs.remove(ours[0])  # dirq's own remove of an element with our note
    queues.unlock(incoming, ours[1])
    assert theirs.lock(ours[1]) and theirs.get(ours[1])["body"] == "b1"
    theirs.unlock(ours[1])
    theirs.purge()
    assert theirs.count() == 2
    outgoing = queues.outgoing_queue(tmp_path / "outgoing")
    name = outgoing.add("message")
    assert queues.lock(outgoing, name)
    plain = QueueSimple(str(tmp_path / "outgoing"))
    assert not plain.lock(name) and plain.count() == 1
    queues.unlock(outgoing, name)
    assert plain.lock(name) and plain.get(name) == b"message"
    plain.remove(name)
    plain.purge()
    assert plain.count() == 0
