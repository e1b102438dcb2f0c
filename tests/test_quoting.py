"""Input quoted in messages is bounded: a 50 MB line costs a line of stderr, not 50 MB of it."""

import os
import subprocess
import sys

import pytest

from apeltools.errors import CryptoError
from apeltools.messaging import queues
from apeltools.messaging.crypto import verify
from apeltools.quoting import quote
from tests.conftest import queue_elements

HUGE = 50 * 1024 * 1024  # characters
FEW_KB = 4096


def run(module, *args):
    """A program as a real process (``apeltools.cli.MODULE``'s main), its output captured."""
    return subprocess.run([sys.executable, "-c", f"from apeltools.cli.{module} import main; main()", *args],
                          text=True, capture_output=True, env=dict(os.environ, APELTOOLS_CONFIG=os.devnull),
                          check=False)


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'apel.db'}"
    initialised = run("main", "db", "init", "--db", url)
    assert initialised.returncode == 0, initialised.stderr
    return url


def test_quote_keeps_short_text_as_its_literal_and_cuts_long_text_with_its_length():
    assert quote("it's") == repr("it's")
    assert quote("x" * 80) == repr("x" * 80)
    assert quote("APEL-individual-job-message" * 2, limit=24) == "'APEL-individual-job-mess…' (54 characters)"
    assert quote("a\nb" * 100, limit=3) == "'a\\nb…' (300 characters)"
    assert quote("y" * 1_000_000, bare=True) == "y" * 80 + "… (1,000,000 characters)"


def test_a_50_mb_one_line_file_given_to_apel_load_costs_a_line_of_stderr(tmp_path, sqlite_url):
    path = tmp_path / "huge.txt"
    path.write_text("A" * HUGE)
    rejects = tmp_path / "reject"
    done = run("load", "--db", sqlite_url, "--reject", str(rejects), str(path))
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    assert "… (52,428,800 characters) not recognised." in done.stderr
    [element] = queue_elements(queues.reject_queue(rejects))
    assert len(element["error"]) < 1024
    assert len(element["body"]) == HUGE  # the reject keeps the message as it came: data, not a message


def test_a_huge_bad_record_line_is_quoted_short_in_stderr_and_the_reject_reason(tmp_path, sqlite_url):
    path = tmp_path / "huge-record.txt"
    path.write_text("APEL-individual-job-message: v0.3\n" + "x" * HUGE + "\n%%\n")
    rejects = tmp_path / "reject"
    done = run("load", "--db", sqlite_url, "--reject", str(rejects), str(path))
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    [element] = queue_elements(queues.reject_queue(rejects))
    assert element["error"].count("'" + "x" * 80 + "…' (52,428,800 characters)") == 2  # the line and the reason
    assert len(element["error"]) < 1024
    assert element["body"] == path.read_text()  # only the bad record, here the whole message


def test_a_huge_field_value_in_a_text_record_is_quoted_in_at_most_80_characters(tmp_path, sqlite_url):
    value = "9" * 1000 + "x" * (HUGE // 50)
    body = ("APEL-summary-job-message: v0.2\nSite: S\nMonth: 1\nYear: 2026\nGlobalUserName: u\nVO: v\n"
            "VOGroup: g\nVORole: r\nEarliestEndTime: 1767225600\nLatestEndTime: 1767225600\n"
            f"WallDuration: {value}\nCpuDuration: 1\nNumberOfJobs: 1\n%%\n")
    path = tmp_path / "message.txt"
    path.write_text(body)
    rejects = tmp_path / "reject"
    done = run("load", "--db", sqlite_url, "--reject", str(rejects), str(path))
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    [element] = queue_elements(queues.reject_queue(rejects))
    reason = element["error"].partition("field WallDuration: ")[2]
    assert reason == f"not an integer: '{'9' * 80}…' ({len(value):,} characters)", reason[:200]


@pytest.mark.parametrize("body", [
    "APEL-sync-message: v0.1\n" + "k" * (HUGE // 10) + ": 1\n%%\n",
    '{"Type": "APEL-accelerator-message", "Version": "0.1", "UsageRecords": [{"' + "k" * (HUGE // 10) + '": 1}]}',
], ids=["text", "json"])
def test_a_huge_unknown_field_name_is_quoted_short(tmp_path, sqlite_url, body):
    path = tmp_path / "message.txt"
    path.write_text(body)
    rejects = tmp_path / "reject"
    done = run("load", "--db", sqlite_url, "--reject", str(rejects), str(path))
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    [element] = queue_elements(queues.reject_queue(rejects))
    assert f"Unknown field: {'k' * 80}… ({HUGE // 10:,} characters)" in element["error"]
    assert len(element["error"]) < 1024


def test_a_huge_bad_line_given_to_apel_parse_costs_a_line_of_stderr(tmp_path):
    path = tmp_path / "sacct.txt"
    path.write_text("y" * (HUGE // 10) + "|" * 10 + "\n" + "z" * (HUGE // 10) + "\n")
    done = run("parse", "--stdout", "slurm", str(path))
    assert done.returncode == 1
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    assert f"{path}:1: " in done.stderr


def test_a_huge_bad_value_in_a_configuration_file_is_quoted_short(tmp_path, sqlite_url):
    config = tmp_path / "apeltools.cfg"
    value = "maybe" * (HUGE // 50)
    config.write_text(f"[db]\nurl = {sqlite_url}\n[loader]\nsave_messages = {value}\n"
                      f"[{'s' * 1000}]\n{'k' * 100_000} = 1\n")
    checked = run("main", "config", "check", str(config))
    assert checked.returncode == 1
    assert len(checked.stdout) + len(checked.stderr) < FEW_KB, (checked.stdout + checked.stderr)[:FEW_KB]
    assert f"not '{'maybe' * 16}…' ({len(value):,} characters)" in checked.stdout + checked.stderr
    loaded = run("load", "--config", str(config), "--reject", str(tmp_path / "reject"), os.devnull)
    assert loaded.returncode != 0
    assert len(loaded.stderr) < FEW_KB, loaded.stderr[:FEW_KB]


def test_a_huge_bad_metric_message_is_quoted_short_by_apel_metrics_to_nagios(tmp_path):
    path = tmp_path / "metric.txt"
    fields = {"serviceURI": "u", "hostName": "h", "serviceFlavour": "APEL", "siteName": "S", "metricName": "m",
              "summaryData": "s", "gatheredAt": "g", "timestamp": "2026-01-01T00:00:00Z", "metricStatus": "W" * HUGE}
    path.write_text("".join(f"{key}: {value}\n" for key, value in fields.items()) + "EOT\n")
    done = run("metrics_to_nagios", "--command-file", str(tmp_path / "nagios.cmd"), str(path))
    assert done.returncode == 1
    assert len(done.stderr) < FEW_KB, done.stderr[:FEW_KB]
    assert f"unknown metricStatus '{'W' * 80}…' ({HUGE:,} characters)" in done.stderr


@pytest.mark.parametrize("header", ["Content-Type: text/" + "x" * HUGE,
                                    "Content-Type: application/pkcs7-mime; smime-type=" + "x" * HUGE,
                                    "X-" + "y" * HUGE], ids=["content-type", "smime-type", "header-line"])
def test_a_huge_mime_header_of_a_received_message_is_quoted_short(tmp_path, header):
    with pytest.raises(CryptoError) as raised:
        verify(f"{header}\n\nbody".encode(), str(tmp_path))
    assert len(str(raised.value)) < 300
    assert "…" in str(raised.value)
