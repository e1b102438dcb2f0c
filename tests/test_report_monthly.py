"""apel-report monthly: a month's figures from a site database (with lifecycles) and from a repository,
written as HTML, text and JSON, and mailed over SMTP (aiosmtpd on loopback, plain and STARTTLS with login)."""

import json
import ssl

import html5lib
import pytest
from click.testing import CliRunner

from apeltools import api
from apeltools import db as databases
from apeltools.cli.report import main as report_main
from apeltools.demo import pki as demo_pki
from apeltools.demo import sample_logs
from apeltools.reports import charts
from apeltools.reports.monthly import last_complete_month
from tests.browser import PHONE, chart_pages, coloured, inked
from tests.conftest import closed_port
from tests.services.plugin import SmtpServer
from tests.test_probes import add_summary

YEAR, MONTH = 2026, 10
NOW = "2026-11-15T12:00:00Z"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return sample_logs.generate(str(tmp_path_factory.mktemp("logs")), YEAR, MONTH, jobs_per_day=3)


@pytest.fixture
def site_db(db_url, logs, tmp_path):
    """A site's database: the month's logs parsed, joined and summarised; one summary row the month before."""
    config = tmp_path / "site.cfg"
    config.write_text(logs.config_text(db_url))
    for parser, paths in sorted(logs.files.items()):
        api.parse(db_url, parser, paths, config=str(config))
    api.join(db_url, no_bdii=True, config=str(config))
    api.summarise(db_url, config=str(config))
    with databases.connect(db_url) as db:
        add_summary(db, logs.site, YEAR, MONTH - 1, 10)
    return db_url


def monthly(db_url, tmp_path, *args):
    result = CliRunner().invoke(report_main, ["monthly", "--db", db_url, "--out", str(tmp_path / "reports"),
                                              "--now", NOW, *args])
    return result


def written(tmp_path, kind="json"):
    return tmp_path / "reports" / f"monthly-{YEAR}-{MONTH:02d}.{kind}"


def test_site_database_report_adds_up_and_has_lifecycles(site_db, tmp_path):
    result = monthly(site_db, tmp_path)  # default month: the last complete one before --now
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(written(tmp_path, k)) for k in ("html", "txt", "json")]
    report = json.loads(written(tmp_path).read_text())
    with databases.connect(site_db) as db:
        jobs = db.count_rows("JobRecords")
    totals = report["totals"]
    assert report["database"] == "site" and report["place"] == "ce" and totals["jobs"] == jobs > 0
    for key in ("per_vo", "per_place", "per_user", "per_day"):
        assert sum(row["jobs"] for row in report[key]) == jobs, key
        assert sum(row["wall_hours"] for row in report[key]) == pytest.approx(totals["wall_hours"], abs=0.05), key
    assert all(row["day"].startswith(f"{YEAR}-{MONTH:02d}-") for row in report["per_day"])
    assert report["previous"]["jobs"] == 10
    assert report["change_percent"]["jobs"] == round((jobs - 10) * 100 / 10, 1)
    every = report["lifecycle"]["all"][0]
    assert every["Jobs"] == jobs and every["Completed"] > 0 and every["WaitMedian"] is not None
    assert 0 < totals["efficiency"] <= 1
    text = written(tmp_path, "txt").read_text()
    assert f"APEL accounting for {YEAR}-{MONTH:02d} (site database)" in text and "Final states" in text
    html = written(tmp_path, "html").read_text()
    assert html.count("<svg") == 8 and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    html5lib.HTMLParser(strict=True).parse(html)  # valid HTML5, or it raises


def test_repository_report_per_site_without_days_or_lifecycles(db, db_url, tmp_path):
    add_summary(db, "SITE-A", YEAR, MONTH, 30, host="ce.a.example.org")
    add_summary(db, "SITE-B", YEAR, MONTH, 10, host="ce.b.example.org")
    result = monthly(db_url, tmp_path, "--month", f"{YEAR}-{MONTH:02d}", "--top", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(written(tmp_path).read_text())
    assert report["database"] == "repository" and report["lifecycle"] is None and report["per_day"] == []
    assert [(row["name"], row["jobs"]) for row in report["per_place"]] == [("SITE-A", 30), ("SITE-B", 10)]
    assert report["totals"]["normalised_hours"] == 20.0 and report["change_percent"]["jobs"] is None
    html = written(tmp_path, "html").read_text()
    html5lib.HTMLParser(strict=True).parse(html)
    assert "No job records for the month" in html and html.count("<svg") == 6


def test_month_must_be_a_month(db_url, tmp_path):
    result = monthly(db_url, tmp_path, "--month", "2026-13")
    assert result.exit_code == 2 and "is not a month YYYY-MM" in result.output


def test_last_complete_month():
    import datetime as dt
    assert last_complete_month(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) == (2025, 12)
    assert last_complete_month(dt.datetime(2026, 3, 31, tzinfo=dt.timezone.utc)) == (2026, 2)


def test_a_vo_has_one_colour_everywhere():
    assert charts.colour_of("atlas") != charts.colour_of("cms") != charts.colour_of("lhcb")
    assert charts.colour_of("biomed") == charts.colour_of("biomed")
    chart = charts.bars("t", [charts.Bar("atlas", 5, charts.colour_of("atlas"))], "hours")
    assert f'fill="{charts.colour_of("atlas")}"' in chart and ">hours</text>" in chart and ">atlas</text>" in chart


# -- mail ------------------------------------------------------------------------------------------------

def mail_config(tmp_path, port, **keys):
    keys = {"host": "127.0.0.1", "port": port, "starttls": "false", "from": "apel@example.org", **keys}
    lines = ["[mail]"] + [f"{key} = {value}" for key, value in keys.items()]
    config = tmp_path / "mail.cfg"
    config.write_text("\n".join(lines) + "\n")
    return str(config)


def test_mail_sends_text_and_html_alternatives(db_url, tmp_path, smtp_server):
    config = mail_config(tmp_path, smtp_server.port)
    result = monthly(db_url, tmp_path, "--config", config, "--month", "2026-10", "--mail-to", "ops@example.org",
                     "--mail-to", "boss@example.org")
    assert result.exit_code == 0, result.output
    [(sender, recipients, message)] = smtp_server.messages
    assert sender == "apel@example.org" and recipients == ["ops@example.org", "boss@example.org"]
    assert message["Subject"] == "APEL accounting for 2026-10" and message.get_content_type() == "multipart/alternative"
    text, html = message.get_payload()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    for part, kind in ((text, "txt"), (html, "html")):  # lines end in CRLF on the wire
        assert part.get_content().replace("\r\n", "\n") == written(tmp_path, kind).read_text()


@pytest.mark.parametrize("trouble", ["down", "refused"])
def test_mail_server_down_or_refusing_is_an_error_and_the_report_is_kept(db_url, tmp_path, smtp_server, trouble):
    port = closed_port() if trouble == "down" else smtp_server.port
    config = mail_config(tmp_path, port)
    result = monthly(db_url, tmp_path, "--config", config, "--month", "2026-10", "--mail-to", "refuse@example.org")
    assert result.exit_code == 1
    expected = (f"Error: cannot reach mail server 127.0.0.1:{port}:" if trouble == "down" else
                f"Error: mail server 127.0.0.1:{port} refused every recipient: refuse@example.org: 550 no such user")
    assert expected in result.output, result.output
    assert written(tmp_path, "html").exists() and written(tmp_path, "txt").exists()


def test_mail_over_starttls_with_login(db_url, tmp_path, pki):
    host = demo_pki.make_host(pki.ca, "localhost")
    cert, key = host.write(tmp_path / "smtp", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.ca.cert_pem)
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    server = SmtpServer(tls_context=context, users={"apel": "s3cret"})
    try:
        config = mail_config(tmp_path, server.port, host="localhost", starttls="true", user="apel",
                             password_file=password, cafile=ca_file)
        result = monthly(db_url, tmp_path, "--config", config, "--month", "2026-10", "--mail-to", "ops@example.org")
        assert result.exit_code == 0, result.output
        assert len(server.messages) == 1
        password.write_text("wrong\n")
        result = monthly(db_url, tmp_path, "--config", config, "--month", "2026-10", "--mail-to", "ops@example.org")
        assert result.exit_code == 1 and f"Error: mail server localhost:{server.port} refused: 535" in result.output
    finally:
        server.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the page, not the backend, is tested here
def test_report_fits_a_phone_and_draws_every_chart(site_db, tmp_path, browser):
    assert monthly(site_db, tmp_path).exit_code == 0
    page = written(tmp_path, "html")
    assert browser.measure(page)["scrollWidth"] <= PHONE
    charts_ = chart_pages(page.read_text(), tmp_path)
    assert len(charts_) == 8
    for chart in charts_:
        shot = browser.screenshot(chart, height=400)
        assert inked(shot) > 0.02 and coloured(shot) > 0.01, chart.read_text()[:300]


def test_silent_sites_are_mailed_only_when_there_are_some(db, db_url, tmp_path, smtp_server):
    import datetime as dt
    config = mail_config(tmp_path, smtp_server.port)
    now = dt.datetime(2026, 11, 15, 12, tzinfo=dt.timezone.utc)
    add_summary(db, "SITE-QUIET", YEAR, MONTH, 5, now - dt.timedelta(days=9))
    add_summary(db, "SITE-BUSY", YEAR, 11, 5, now - dt.timedelta(days=1))
    args = ["silent-sites", "--db", db_url, "--config", config, "--now", NOW, "--mail-to", "ops@example.org"]
    result = CliRunner().invoke(report_main, args + ["--days", "7"])
    assert result.exit_code == 0, result.output
    assert "1 sites without a new job for 7 days or more:\n  SITE-QUIET" in result.output
    [(_, _, message)] = smtp_server.messages
    assert message["Subject"] == "APEL: 1 sites silent for 7 days"
    text, html = message.get_payload()
    assert "SITE-QUIET" in text.get_content() and "<td>SITE-QUIET</td>" in html.get_content()
    result = CliRunner().invoke(report_main, args + ["--days", "10"])
    assert result.exit_code == 0 and "Every site had a new job within 10 days." in result.output
    assert len(smtp_server.messages) == 1  # nothing to tell, nothing mailed


def test_a_probe_warning_is_mailed_as_text(tmp_path, smtp_server):
    config = mail_config(tmp_path, smtp_server.port)
    warning = "WARNING - 12 days left (2026-11-27) | days_left=12;30;7\n"
    args = ["mail", "--config", config, "--subject", "Host certificate", "--mail-to", "ops@example.org"]
    result = CliRunner().invoke(report_main, args, input=warning)
    assert result.exit_code == 0, result.output
    [(_, _, message)] = smtp_server.messages
    assert message.get_content_type() == "text/plain" and message.get_content().replace("\r\n", "\n") == warning
    assert CliRunner().invoke(report_main, args, input="").exit_code == 0 and len(smtp_server.messages) == 1
