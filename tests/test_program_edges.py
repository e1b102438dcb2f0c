"""What every program does at its edges: interrupts, unreachable databases, and output that cannot be written."""

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from dirq.QueueSimple import QueueSimple

from apeltools.demo import sample_logs
from apeltools.cli.query import main as apel_query
from apeltools.cli.report import main as apel_report
from apeltools.messaging import queues
from apeltools.probes.loader import main as check_loader
from apeltools.probes.pub import main as check_pub
from tests import pki as testpki
from tests.test_send import config_for, fill



def env():
    """The tests' environment (with the database password a fixture may have set), without a configuration file."""
    return dict(os.environ, APELTOOLS_CONFIG=os.devnull)

UNREACHABLE_DB = "mysql://apel@127.0.0.1:1/apel"  # connection refused: a database that is down


def start(module, *args, **popen):
    """A program as a real process (``python -m apeltools.cli.MODULE``), stderr captured."""
    return subprocess.Popen([sys.executable, "-m", f"apeltools.cli.{module}", *args], env=env(), text=True,
                            stderr=subprocess.PIPE, **popen)


def wait_for_line(process, text, timeout=30):
    """The stderr lines read until one holds ``text`` (the program has got that far)."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    process.kill()
    pytest.fail(f"never printed {text!r}:\n{''.join(lines)}")


# -- interrupts: 130 for Ctrl-C, 143 for SIGTERM, the summary once ----------------------------

@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_one_shot_load_exits_128_plus_the_signal(tmp_path, signum, code):
    """`apel-load && apel-summarise` must not carry on after Ctrl-C; the summary is printed once."""
    queues.add(queues.incoming_queue(tmp_path / "in"),
               {"body": "APEL-summary-job-message: v0.2\n", "signer": "/CN=x", "empaid": "m1"})
    load = start("load", "-v", "--db", UNREACHABLE_DB, "--queue", str(tmp_path / "in"),
                 "--reject", str(tmp_path / "reject"))
    before = wait_for_line(load, "retrying in")
    load.send_signal(signum)
    stderr = "".join(before) + load.communicate(timeout=30)[1]
    assert load.returncode == code, stderr
    assert stderr.count("loaded 0 messages") == 1 and stderr.count("Interrupted.") == 1
    assert queues.incoming_queue(tmp_path / "in").count() == 1  # left for the next run


def test_an_interrupted_one_shot_send_exits_130_and_keeps_what_was_not_sent(tmp_path):
    pki = testpki.build(tmp_path / "pki")
    fill(tmp_path / "outgoing", 2)
    config = config_for(tmp_path, pki, "hosts: 127.0.0.1:1", destination="/queue/x")  # a broker that is down
    send = subprocess.Popen(["apel-send", "-v", "--config", config], env=env(), text=True, stderr=subprocess.PIPE)
    before = wait_for_line(send, "retrying in")
    send.send_signal(signal.SIGINT)
    stderr = "".join(before) + send.communicate(timeout=30)[1]
    assert send.returncode == 130, stderr
    assert stderr.splitlines()[-1].startswith("Error: stopped before everything was sent: 2 messages left in")
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 2


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_program_interrupted_anywhere_exits_128_plus_the_signal(signum, code):
    """apel-parse waiting for stdin has no stop of its own: the signal ends it where it is, without a traceback."""
    parse = start("parse", "-v", "slurm", "--stdout", "-", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    time.sleep(2)  # past the imports, into the read of stdin
    parse.send_signal(signum)
    _, stderr = parse.communicate(timeout=30)
    assert parse.returncode == code and stderr.strip() == "Interrupted.", stderr


# -- the database: a wrong host name fails at once, a wait says what it waits for ------------

def test_an_unknown_database_host_fails_at_once():
    load = subprocess.run([sys.executable, "-m", "apeltools.cli.load", "--db", "mysql://apel@nosuchhost.invalid/apel",
                           "--max-wait", "30", "-"], input="", env=env(), text=True, capture_output=True, timeout=60)
    assert load.returncode == 1 and "retrying" not in load.stderr, load.stderr
    assert load.stderr.strip().endswith("Unknown MySQL server host 'nosuchhost.invalid' (-2); is the host name right?")


def test_waiting_for_the_database_says_for_what_and_how_long():
    load = subprocess.run([sys.executable, "-m", "apeltools.cli.load", "--db", UNREACHABLE_DB, "--max-wait", "2",
                           "-"], input="", env=env(), text=True, capture_output=True, timeout=60)
    assert load.returncode == 1
    assert "apel-load: checking the database: database unavailable: 2003" in load.stderr
    # The first wait: 1 s with jitter, between half of it and all of it.
    assert re.search(r"; retrying in (0\.[5-9]|1\.0) s \(giving up in 2 s\)", load.stderr), load.stderr


# -- output that cannot be written: one line, never a traceback -------------------------------

def run_to(output, module, *args, **kwargs):
    """A program run to the end as a real process writing its stdout to ``output``."""
    with open(output, "w") as stdout:
        return subprocess.run([sys.executable, "-m", f"apeltools.cli.{module}", *args], env=env(), text=True,
                              stdout=stdout, stderr=subprocess.PIPE, timeout=120, **kwargs)


def test_records_to_a_full_disk_are_a_one_line_error(tmp_path):
    logs = sample_logs.generate(str(tmp_path), 2026, 10, jobs_per_day=5)
    parse = run_to("/dev/full", "parse", "slurm", "--stdout", *logs.files["slurm"])
    assert (parse.returncode, parse.stderr) == (1, "Error: No space left on device\n")


def test_a_query_to_a_full_disk_is_a_one_line_error(db_url):
    query = run_to("/dev/full", "query", "summaries", "--db", db_url, "--group-by", "site", "--format", "csv")
    assert (query.returncode, query.stderr) == (1, "Error: No space left on device\n")


def test_status_pages_onto_a_file_are_a_one_line_error(db_url, tmp_path):
    (tmp_path / "status").write_text("not a directory\n")
    report = run_to(os.devnull, "report", "status", "--db", db_url, "--out", str(tmp_path / "status"))
    assert report.returncode == 1 and report.stderr.count("\n") == 1, report.stderr
    assert report.stderr.startswith(f"Error: {tmp_path}/status") and "Traceback" not in report.stderr


def test_status_pages_into_a_read_only_directory_are_a_one_line_error(db_url, tmp_path):
    (tmp_path / "ro").mkdir()
    with unwritable(tmp_path / "ro"):
        report = run_to(os.devnull, "report", "status", "--db", db_url, "--out", str(tmp_path / "ro" / "status"))
    reason = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"  # root: immutable
    assert report.returncode == 1 and report.stderr == f"Error: {tmp_path}/ro/status: {reason}\n"


# -- SQLite readers: read-only, never creating, never switching the journal mode ---------------

@contextlib.contextmanager
def unwritable(*paths):
    """``paths`` as for a user who may read but not write them (root: the immutable attribute)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", *paths], capture_output=True).returncode:
            pytest.skip("cannot make files immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *paths], check=True)
    else:
        modes = {p: os.stat(p).st_mode for p in paths}
        for path in paths:
            os.chmod(path, modes[path] & 0o555)
        try:
            yield
        finally:
            for path, mode in modes.items():
                os.chmod(path, mode)


def readers(url, tmp_path):
    """Each program that only reads the repository, as (name, CliRunner result)."""
    runner = CliRunner()
    return [
        ("apel-query", runner.invoke(apel_query, ["summaries", "--db", url, "--group-by", "site"])),
        ("apel-report", runner.invoke(apel_report, ["status", "--db", url, "--out", str(tmp_path / "pages")])),
        ("check_apel_pub", runner.invoke(check_pub, ["--db", url, "--site", "SITE-A"])),
        ("check_apel_loader", runner.invoke(check_loader, ["--db", url])),
    ]


def test_readers_never_create_a_database(tmp_path):
    url = f"sqlite:///{tmp_path}/typo.db"
    for name, result in readers(url, tmp_path):
        assert result.exit_code in (1, 3) and f"no SQLite database at {tmp_path}/typo.db" in result.output, name
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_readers_leave_the_journal_mode_as_they_find_it(db_url, tmp_path):
    path = db_url.removeprefix("sqlite://")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    for name, result in readers(db_url, tmp_path):
        assert "Traceback" not in result.output, name
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_user_who_may_only_read_the_database_can_query_it(db_url, tmp_path, journal):
    """Also a WAL database no process has open, in a directory the user may not write (no -shm beside it)."""
    path = db_url.removeprefix("sqlite://")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal}")
    with unwritable(path, os.path.dirname(path)):
        result = CliRunner().invoke(apel_query, ["summaries", "--db", db_url, "--group-by", "site",
                                                 "--format", "csv"])
    assert result.exit_code == 0 and result.output.startswith("Site,Jobs,"), result.output
