"""apel-report serve: the read-only web view through HTTP against a real gunicorn process: a user sees only
their jobs, an admin all; pages, filters and sorting agree with apel-query on the same data."""

import csv
import io
import json
import random
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import html5lib
import pytest
from click.testing import CliRunner

from apeltools.cli.query import main as apel_query
from apeltools.records.types import JOB
from apeltools.summariser import summarise
from tests.conftest import closed_port
from tests.test_summariser import job

JANE, JOE, ADMIN = "/C=UK/O=Test/CN=jane", "/C=UK/O=Test/CN=joe", "/C=UK/O=Test/CN=admin"
RFC_JANE = "CN=jane,O=Test,C=UK"  # as the front web server passes it


@pytest.fixture
def server(db, db_url, tmp_path):
    rng = random.Random(5)
    records = [job(rng, "SITE-A" if n % 3 else "SITE-B", 2026, 2 + n % 2, n, GlobalUserName=JOE if n % 5 == 0 else JANE,
                   FQAN="/atlas" if n % 2 else "/cms", WallDuration=600 + 37 * n, CpuDuration=300 + n)
               for n in range(1, 41)]
    db.store(JOB, records, "/CN=apel.example.org")
    summarise(db)
    admins = tmp_path / "admins"
    admins.write_text(f"# the accounting team\n{ADMIN}\n")
    config = tmp_path / "serve.cfg"
    config.write_text(f"[serve]\nadmin_dn_file = {admins}\n")
    port = closed_port()
    process = subprocess.Popen(["apel-report", "serve", "--config", str(config), "--db", db_url, "--bind",
                                f"127.0.0.1:{port}", "--workers", "2"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "jobs", timeout=2)
        except urllib.error.HTTPError:
            break  # answering (403 without a DN)
        except OSError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.1)
    yield base
    process.terminate()
    # gunicorn gives a busy worker graceful_timeout (10 s) before killing it: 60 s is room to spare.
    process.wait(timeout=60)


def get(base, path, who=None, **params):
    """GET with ``who`` as the client certificate DN the front web server passes."""
    request = urllib.request.Request(base + path + "?" + urlencode(params, doseq=True),
                                     headers={"X-SSL-Client-S-DN": who} if who else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()


def rows(base, path, who, **params):
    answer = json.loads(get(base, path, who, format="json", **params))
    return [dict(zip(answer["columns"], row)) for row in answer["rows"]], answer["more"]


def asked(db_url, *args):
    result = CliRunner().invoke(apel_query, ["--db", db_url, *args, "--format", "ndjson"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_without_a_client_dn_nothing_is_shown(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(server, "jobs")
    assert refused.value.code == 403


def test_a_user_sees_only_their_jobs_and_summaries(db_url, server):
    mine, more = rows(server, "jobs", RFC_JANE, per_page=1000, dn=JOE)  # asking for another DN changes nothing
    assert not more and {row["GlobalUserName"] for row in mine} == {JANE}
    assert mine == asked(db_url, "jobs", "--dn", JANE)
    summaries, _ = rows(server, "summaries", JANE)
    assert summaries and {row["GlobalUserName"] for row in summaries} == {JANE}
    page = get(server, "jobs", RFC_JANE)
    assert "Jobs of /C=UK/O=Test/CN=jane" in page
    html5lib.HTMLParser(strict=True).parse(page)  # valid HTML, or it raises


def test_an_admin_pages_through_everything_as_apel_query_answers(db_url, server):
    everything = asked(db_url, "jobs", "--vo", "atlas")
    pages, page, more = [], 1, True
    while more:
        shown, more = rows(server, "jobs", ADMIN, vo="atlas", per_page=7, page=page)
        pages += shown
        page += 1
    assert pages == everything and page - 1 == -(-len(everything) // 7) and {r["GlobalUserName"] for r in pages} == {
        JANE, JOE}
    by_wall, _ = rows(server, "jobs", ADMIN, sort="WallDuration", desc="1", per_page=5)
    assert [r["WallDuration"] for r in by_wall] == sorted((r["WallDuration"] for r in asked(db_url, "jobs")),
                                                          reverse=True)[:5]
    table = list(csv.reader(io.StringIO(get(server, "jobs", ADMIN, format="csv", site="SITE-B", per_page=1000))))
    assert table[0][0] == "Site" and {row[0] for row in table[1:]} == {"SITE-B"}
    assert len(table) - 1 == len(asked(db_url, "jobs", "--site", "SITE-B"))


def test_bad_parameters_are_refused(server):
    for params in ({"sort": "Password"}, {"per_page": "0"}, {"page": "x"}, {"from": "yesterday"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(server, "jobs", ADMIN, **params)
        assert refused.value.code == 400, params
