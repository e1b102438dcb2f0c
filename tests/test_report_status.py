"""apel-report status: per-site Pub and Sync pages with OK/WARN/ERROR, JSON, and probes reading it over HTTP."""

import datetime as dt
import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest
from click.testing import CliRunner

from apeltools.cli.report import main as report_main
from apeltools.probes import pub, sync
from tests.browser import PHONE, chart_pages, coloured, inked
from tests.test_probes import NOW, NOW_DT, add_summary, add_sync, run


def report(db_url, tmp_path, *args):
    """Run apel-report status into ``tmp_path/www``; returns that directory."""
    out = tmp_path / "www"
    result = CliRunner().invoke(report_main, ["status", "--db", db_url, "--out", str(out), "--now", NOW, *args])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def sites(db):
    add_summary(db, "SITE-OK", 2026, 11, 100, NOW_DT - dt.timedelta(days=3))
    add_sync(db, "SITE-OK", 2026, 11, 100)
    add_summary(db, "SITE-LATE", 2026, 11, 10, NOW_DT - dt.timedelta(days=10))
    add_summary(db, "SITE-GONE", 2026, 9, 10, NOW_DT - dt.timedelta(days=60))
    add_sync(db, "SITE-GONE", 2026, 9, 12)
    add_sync(db, "SITE-GONE", 2026, 10, 0)
    add_sync(db, "SITE-SYNC-ONLY", 2026, 11, 5)


def words(path):
    text = path.read_text()
    return {word for word in ("OK", "WARN", "ERROR") if word in text}


def test_pages_carry_the_status_words(db_url, sites, tmp_path):
    www = report(db_url, tmp_path)
    assert sorted(p.name for p in www.iterdir()) == sorted(
        [f"{site}{suffix}" for site in ("SITE-OK", "SITE-LATE", "SITE-GONE", "SITE-SYNC-ONLY")
         for suffix in ("_Pub.html", "_Sync.html", ".json")] + ["index.html"])
    assert "OK [ last published 3 days ago: 2026-11-18 ]" in (www / "SITE-OK_Pub.html").read_text()
    assert words(www / "SITE-OK_Pub.html") == {"OK"}
    assert "WARN [ last published 10 days ago: 2026-11-11 ]" in (www / "SITE-LATE_Pub.html").read_text()
    assert words(www / "SITE-LATE_Pub.html") == {"WARN"}
    assert "ERROR [ last published 60 days ago: 2026-09-22 ]" in (www / "SITE-GONE_Pub.html").read_text()
    assert words(www / "SITE-GONE_Pub.html") == {"ERROR"}
    assert "ERROR [ no accounting data for SITE-SYNC-ONLY in the repository ]" in (
        www / "SITE-SYNC-ONLY_Pub.html").read_text()
    assert words(www / "SITE-OK_Sync.html") == {"OK"}


def test_sync_page_shows_one_sided_months_and_zero_counts(db_url, sites, tmp_path):
    www = report(db_url, tmp_path)
    page = (www / "SITE-GONE_Sync.html").read_text()
    assert "ERROR [ Please use the Gap Publisher to synchronise this dataset]" in page
    assert "<td class=\"month\">2026-09</td><td>all</td>\n<td>10</td><td>12</td>" in page
    assert "<td class=\"month\">2026-10</td><td>all</td>\n<td>not reported</td><td>0</td>" in page  # zero, shown
    document = json.loads((www / "SITE-GONE.json").read_text())
    assert [(m["year"], m["month"], m["repository"], m["site"], m["status"]) for m in document["sync"]["months"]] == [
        (2026, 9, 10, 12, "ERROR"), (2026, 10, None, 0, "OK")]
    late = (www / "SITE-LATE_Sync.html").read_text()
    assert "<td class=\"month\">2026-11</td><td>all</td>\n<td>10</td><td>not reported</td>" in late and "ERROR" in late


def test_page_and_probe_agree_on_an_end_time_in_the_future(db, db_url, tmp_path):
    """One decider: a site whose clock runs ahead was OK for the probe and ERROR on its page."""
    add_summary(db, "SITE-AHEAD", 2026, 11, 10, NOW_DT + dt.timedelta(hours=5))
    page = report(db_url, tmp_path) / "SITE-AHEAD_Pub.html"
    assert "OK [ last published 0 days ago: 2026-11-21 ]" in page.read_text() and words(page) == {"OK"}
    assert run(pub.main, "--site", "SITE-AHEAD", "--db", db_url, "--now", NOW)[:2] == (
        0, "OK [ last published 0 days ago: 2026-11-21 ]")


def test_only_the_sites_asked_for(db_url, sites, tmp_path):
    www = report(db_url, tmp_path, "--site", "SITE-OK")
    assert sorted(p.name for p in www.iterdir()) == ["SITE-OK.json", "SITE-OK_Pub.html", "SITE-OK_Sync.html",
                                                      "index.html"]


@pytest.fixture
def web(tmp_path):
    (tmp_path / "www").mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_probes_read_the_json_over_http_with_the_same_results(db_url, sites, tmp_path, web):
    report(db_url, tmp_path)  # into the directory the web fixture serves
    for site in ("SITE-OK", "SITE-LATE", "SITE-GONE", "SITE-SYNC-ONLY"):
        for command in (pub.main, sync.main):
            from_db = run(command, "--site", site, "--db", db_url, "--now", NOW)[:3]
            over_http = run(command, "--site", site, "--url", web, "--now", NOW)[:3]
            assert from_db == over_http, (site, command.name)
    assert run(pub.main, "--site", "SITE-NONE", "--url", web)[:2] == (
        3, f"UNKNOWN [ {web}SITE-NONE.json: HTTP 404 File not found ]")


def test_help_has_examples():
    for args in (["--help"], ["status", "--help"]):
        result = CliRunner().invoke(report_main, args)
        assert result.exit_code == 0 and "Examples:" in result.output


def test_index_lists_every_site_worst_first_with_links(db_url, sites, tmp_path):
    www = report(db_url, tmp_path)
    index = (www / "index.html").read_text()
    order = [index.index(f'href="{site}_Pub.html"') for site in ("SITE-GONE", "SITE-LATE", "SITE-SYNC-ONLY",
                                                                  "SITE-OK")]
    assert order[0] < order[1] and order[3] == max(order)  # the two ERROR sites, then WARN, then OK
    assert 'href="SITE-GONE_Sync.html">ERROR</a>' in index and 'href="SITE-OK_Sync.html">OK</a>' in index
    sync = (www / "SITE-GONE_Sync.html").read_text()
    assert 'href="index.html"' in sync and 'href="SITE-GONE_Pub.html"' in sync
    assert 'href="SITE-GONE_Sync.html"' in (www / "SITE-GONE_Pub.html").read_text()
    assert 'name="viewport"' in sync and "<svg" in sync


def test_sync_page_says_the_gap_command_per_differing_month_once(db_url, sites, tmp_path):
    page = (report(db_url, tmp_path) / "SITE-GONE_Sync.html").read_text()
    assert "apel-publish --interval gap --from 2026-09 --to 2026-09" in page
    assert "--from 2026-10" not in page  # in step (two zeros agree)
    assert page.count("Gap Publisher") == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the pages, not the backend, are tested here
def test_pages_are_valid_fit_a_phone_link_to_each_other_and_draw_their_chart(db_url, sites, tmp_path, browser):
    www = report(db_url, tmp_path)
    pages = sorted(www.glob("*.html"))
    assert len(pages) == 9
    for page in pages:
        html5lib.HTMLParser(strict=True).parse(page.read_text())  # raises on invalid HTML
        measured = browser.measure(page)
        assert measured["scrollWidth"] <= PHONE, page.name  # no sideways scrolling on a phone
        for link in measured["links"]:
            assert link.startswith("file://") and Path(unquote(urlsplit(link).path)).is_file(), (page.name, link)
    [chart] = chart_pages((www / "SITE-GONE_Sync.html").read_text(), tmp_path)
    shot = browser.screenshot(chart, height=300)
    assert inked(shot) > 0.02 and coloured(shot) > 0.005  # axes, labels and the 100 % bar of 2026-09
    assert inked(browser.screenshot(www / "index.html")) > 0.02
