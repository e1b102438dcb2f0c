"""Central mode: --all over GOCDB's APEL sites, metricOutput messages, and apel-metrics-to-nagios."""

import datetime as dt
import os
import shutil
import subprocess
import threading

import pytest
from click.testing import CliRunner

from apeltools.cli.metrics_to_nagios import main as to_nagios
from apeltools.messaging import queues
from apeltools.probes import metrics, pub, sync
from tests.conftest import queue_elements
from tests.services.gocdb import DEFAULT_FIXTURES, GocdbServer
from tests.test_probes import NOW, NOW_DT, add_summary, add_sync, run

APEL_SITES = """<?xml version="1.0" encoding="UTF-8"?>
<results>
{}
</results>
"""
ENDPOINT = """<SERVICE_ENDPOINT><HOSTNAME>{host}</HOSTNAME><SITENAME>{site}</SITENAME>
<SERVICE_TYPE>APEL</SERVICE_TYPE><IN_PRODUCTION>{prod}</IN_PRODUCTION><NODE_MONITORED>{mon}</NODE_MONITORED>
</SERVICE_ENDPOINT>"""


@pytest.fixture
def apel_gocdb(tmp_path):
    fixtures = tmp_path / "gocdb"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    endpoints = [ENDPOINT.format(host=f"apel.{s.lower()}.example.org", site=s, prod=p, mon=m) for s, p, m in (
        ("SITE-A", "Y", "Y"), ("SITE-B", "Y", "Y"), ("SITE-TEST", "N", "Y"), ("SITE-QUIET", "Y", "N"))]
    (fixtures / "APEL.xml").write_text(APEL_SITES.format("\n".join(endpoints)))
    with GocdbServer(fixtures) as server:
        yield server


@pytest.fixture
def data(db):
    add_summary(db, "SITE-A", 2026, 11, 100, NOW_DT - dt.timedelta(days=1))
    add_sync(db, "SITE-A", 2026, 11, 100)
    add_summary(db, "SITE-B", 2026, 11, 100, NOW_DT - dt.timedelta(days=40))
    add_sync(db, "SITE-B", 2026, 11, 150)


def test_all_sites_in_production_and_monitored(apel_gocdb, data, db_url):
    code, first, perfdata, output = run(pub.main, "--all", "--gocdb-url", apel_gocdb.url, "--db", db_url,
                                        "--now", NOW, "-v")
    assert (code, first, perfdata) == (2, "CRITICAL [ 2 sites: 1 OK, 1 CRITICAL ]", "")
    assert output.splitlines()[1:] == [
        "SITE-A: OK [ last published 1 day ago: 2026-11-20 ]",
        "SITE-B: CRITICAL [ last published 40 days ago: 2026-10-12 ]",
    ]


def test_emit_metric_messages_then_nagios_commands(apel_gocdb, data, db_url, tmp_path):
    code, first, _, _ = run(sync.main, "--all", "--gocdb-url", apel_gocdb.url, "--db", db_url, "--now", NOW,
                            "--emit", "metric", "--queue", str(tmp_path / "out"))
    assert code == 2 and first == "CRITICAL [ 2 sites: 1 OK, 1 CRITICAL ] 2 metric messages queued"
    outgoing = queues.outgoing_queue(tmp_path / "out")
    bodies = []
    for name in sorted(outgoing):
        outgoing.lock(name)
        bodies.append(outgoing.get(name).decode() if isinstance(outgoing.get(name), bytes) else outgoing.get(name))
    assert len(bodies) == 2
    message = metrics.parse(bodies[1])[0]
    assert bodies[1].endswith("EOT\n")
    assert {k: message[k] for k in ("serviceURI", "hostName", "serviceFlavour", "siteName", "metricStatus",
                                     "metricName", "timestamp")} == {
        "serviceURI": "apel.site-b.example.org", "hostName": "apel.site-b.example.org",
        "serviceFlavour": "APEL", "siteName": "SITE-B", "metricStatus": "CRITICAL",
        "metricName": "org.apel.APEL-Sync", "timestamp": "2026-11-21T12:00:00Z"}
    assert message["summaryData"].startswith("CRITICAL [ Please use the Gap Publisher")
    assert message["detailsData"].splitlines()[0] == "2026-11: repository 100, site 150 jobs (33.3 %)"
    assert message["gatheredAt"]

    # The messages arrive at the monitoring side (apel-send → apel-receive) as incoming elements.
    incoming = queues.incoming_queue(tmp_path / "incoming")
    for body in bodies:
        incoming.add({"body": body, "signer": "/CN=monitor.example.org"})
    incoming.add({"body": "not a metric\n", "signer": "/CN=monitor.example.org"})
    result = CliRunner().invoke(to_nagios, ["--queue", str(tmp_path / "incoming"), "--reject",
                                            str(tmp_path / "reject")])
    assert result.exit_code == 0, result.output
    lines = sorted(line for line in result.output.splitlines() if "PROCESS_SERVICE_CHECK_RESULT" in line)
    epoch = int(NOW_DT.timestamp())
    assert lines[0] == (f"[{epoch}] PROCESS_SERVICE_CHECK_RESULT;apel.site-a.example.org;org.apel.APEL-Sync;0;"
                        "OK [ 1 month in step: 100 jobs in the repository, 100 reported by the site ] | "
                        "months_differing=0;;;0 worst_difference=0.0%;;@1:;0;100\\n"
                        "2026-11: repository 100, site 100 jobs (0.0 %)\\n"
                        "  ce.example.org: repository 100, site 100 jobs (0.0 %)")
    assert lines[1].startswith(f"[{epoch}] PROCESS_SERVICE_CHECK_RESULT;apel.site-b.example.org;"
                               "org.apel.APEL-Sync;2;CRITICAL [ Please use the Gap Publisher")
    assert queue_elements(incoming) == []
    assert [e["error"] for e in queue_elements(queues.reject_queue(tmp_path / "reject"))] == [
        "metric message: line 1 is not 'key: value': 'not a metric'"]


def test_commands_go_to_the_nagios_fifo(tmp_path):
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    message = tmp_path / "m.txt"
    message.write_text(metrics.render(metrics.MetricResult(
        host="apel.example.org", site="SITE-A", metric="org.apel.APEL-Pub", status="WARNING",
        summary="WARNING [ last published 8 days ago: 2026-11-13 ]", timestamp=NOW_DT, gathered_at="mon")))
    # Nobody reading: fails at once instead of hanging.
    result = CliRunner().invoke(to_nagios, [str(message), "--command-file", str(fifo)])
    assert result.exit_code == 1 and "nobody reads the command file" in result.output
    received = []
    reader_ready = threading.Event()

    def nagios():
        with open(fifo, encoding="utf-8") as pipe:
            reader_ready.set()
            received.append(pipe.read())

    thread = threading.Thread(target=nagios)
    thread.start()
    fd = os.open(fifo, os.O_WRONLY)  # wait until the reader has the FIFO open, then keep it open meanwhile
    try:
        reader_ready.wait(5)
        result = CliRunner().invoke(to_nagios, [str(message), "--command-file", str(fifo)])
        assert result.exit_code == 0, result.output
    finally:
        os.close(fd)
    thread.join(5)
    assert received == [f"[{int(NOW_DT.timestamp())}] PROCESS_SERVICE_CHECK_RESULT;apel.example.org;"
                        "org.apel.APEL-Pub;1;WARNING [ last published 8 days ago: 2026-11-13 ]\n"]


@pytest.mark.parametrize("body, problem", [
    ("hostName: a\nEOT\n", "lacks serviceURI"),
    ("serviceURI: a\nhostName: a\n", "does not end with a line EOT"),
])
def test_bad_metric_messages(body, problem):
    with pytest.raises(metrics.MetricError, match=problem):
        metrics.parse(body)


def test_all_with_gocdb_down_is_unknown(gocdb, db_url):
    gocdb.mode = "http500"
    code, first, _, _ = run(pub.main, "--all", "--gocdb-url", gocdb.url, "--db", db_url)
    assert code == 3 and first.startswith("UNKNOWN [ GOCDB unavailable:") and "HTTP 500" in first


def test_help_has_examples():
    result = CliRunner().invoke(to_nagios, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output


def test_a_bad_file_is_rejected_and_the_others_still_written(tmp_path):
    def message(host):
        return metrics.render(metrics.MetricResult(
            host=host, site="SITE-A", metric="org.apel.APEL-Pub", status="OK",
            summary="OK [ last published 1 day ago: 2026-11-20 ]", timestamp=NOW_DT, gathered_at="mon"))

    (tmp_path / "good1.txt").write_text(message("apel.one.example.org"))
    (tmp_path / "bad1.txt").write_text("not a metric\n")
    (tmp_path / "good2.txt").write_text(message("apel.two.example.org"))
    (tmp_path / "bad2.txt").write_bytes(b"\xff\xfe")
    files = [str(tmp_path / name) for name in ("good1.txt", "bad1.txt", "missing.txt", "good2.txt", "bad2.txt")]
    done = subprocess.run(["apel-metrics-to-nagios", *files], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert [line.split(";")[1] for line in done.stdout.splitlines()] == [
        "apel.one.example.org", "apel.two.example.org"]
    assert done.stderr.splitlines() == [
        f"apel-metrics-to-nagios: {files[1]} rejected: line 1 is not 'key: value': 'not a metric'",
        f"apel-metrics-to-nagios: {files[2]} rejected: cannot read it: No such file or directory",
        f"apel-metrics-to-nagios: {files[4]} rejected: cannot read it: not UTF-8 text",
        f"Error: 3 of 5 files rejected: {files[1]}, {files[2]}, {files[4]}",
    ]


def test_dash_reads_a_message_from_stdin():
    message = metrics.render(metrics.MetricResult(
        host="apel.example.org", site="SITE-A", metric="org.apel.APEL-Pub", status="OK",
        summary="OK [ last published 1 day ago: 2026-11-20 ]", timestamp=NOW_DT, gathered_at="mon"))
    done = subprocess.run(["apel-metrics-to-nagios", "-"], input=message, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [line.split(";")[1:3] for line in done.stdout.splitlines()] == [["apel.example.org", "org.apel.APEL-Pub"]]
