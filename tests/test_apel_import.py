"""apeltools db import-apel: a deployed-layout database (built by tests/apel_layout.py on MariaDB) imported
into ours on both backends: every record in our views with equal values, refused rows listed, resumable."""

import datetime
import os
import shutil
import signal
import subprocess
import time

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.apelimport import Importer
from apeltools.cli.main import main as apeltools_main
from tests.apel_layout import CLIENT, SERVER, DeployedLayout
from tests.conftest import fresh_mysql

pytestmark = pytest.mark.mariadb

SITE = "UKI-NORTH"
DN = "/C=UK/O=eScience/CN=apel.north.example.org"
USER = "/C=UK/O=eScience/CN=user one"


@pytest.fixture
def source(mariadb_service, monkeypatch):
    """An empty MariaDB database (its URL) to build a deployed layout in."""
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", mariadb_service.password)
    url, drop = fresh_mysql(mariadb_service)
    yield url
    drop()


def _job(layout, n, **changes):
    values = dict(
        Site=SITE, SubmitHost="ce.north.example.org:8443/cream-pbs-long", MachineName="ce.north.example.org",
        Queue="long", LocalJobId=f"{n}.batch", LocalUserId="atlas001", GlobalUserName=USER,
        FQAN="/atlas/Role=production", VO="atlas", VOGroup="/atlas", VORole="Role=production",
        WallDuration=3600 + n, CpuDuration=3000 + n, Processors=1, NodeCount=1,
        StartTime=f"2024-03-{1 + n % 27:02d} 10:00:00", EndTime=f"2024-03-{1 + n % 27:02d} 11:00:{n % 60:02d}",
        InfrastructureDescription="APEL-PBS-CREAM", InfrastructureType="grid", MemoryReal=1000, MemoryVirtual=2000,
        ServiceLevelType="HEPSPEC", ServiceLevel="10.125", PublisherDN=DN,
    )
    values.update(changes)
    layout.job(**values)
    return values


def _repository(url, jobs=6):
    """A deployed server database: jobs (one ending before it starts, one with an unknown benchmark
    type), a summary, a normalised summary, a sync record and the deployed summariser's output."""
    with databases.connect(url) as db:
        layout = DeployedLayout(db, SERVER)
        for n in range(jobs):
            _job(layout, n)
        _job(layout, 9000, StartTime="2024-03-05 12:00:00", EndTime="2024-03-05 11:00:00")
        _job(layout, 9001, ServiceLevelType="SPECint2006")
        summary_names = dict(Site="OTHER-SITE", GlobalUserName=USER, VO="cms", VOGroup="/cms", VORole="None",
                             SubmitHost="ce.other.example.org", PublisherDN=DN)
        layout.summary("Summaries", **summary_names, Month=2, Year=2024, InfrastructureType="grid",
                       InfrastructureDescription="APEL-SLURM", ServiceLevelType="HEPSPEC", ServiceLevel="8.5",
                       NodeCount=1, Processors=4, EarliestEndTime="2024-02-01 00:00:00",
                       LatestEndTime="2024-02-28 00:00:00", WallDuration=7200, CpuDuration=7000, NumberOfJobs=3)
        layout.summary("NormalisedSummaries", **summary_names, Month=1, Year=2024, Infrastructure="grid",
                       InfrastructureDescription="APEL-SLURM", ServiceLevelType="HEPscore23", NodeCount=1,
                       Processors=4, EarliestEndTime="2024-01-01 00:00:00", LatestEndTime="2024-01-28 00:00:00",
                       WallDuration=100, CpuDuration=90, NormalisedWallDuration=1500, NormalisedCpuDuration=1350,
                       NumberOfJobs=2)
        layout.insert("SyncRecords", {"Site": SITE, "SubmitHost": "ce.north.example.org:8443/cream-pbs-long",
                                      "PublisherDN": DN}, {"NumberOfJobs": jobs + 2, "Month": 3, "Year": 2024})
        # What the deployed summariser made of it; February of OTHER-SITE counted twice (as it may).
        hybrid = dict(Site=SITE, GlobalUserName=USER, VO="atlas", VOGroup="/atlas", VORole="Role=production",
                      SubmitHost="ce.north.example.org:8443/cream-pbs-long")
        wall = sum(3600 + n for n in range(jobs))
        layout.summary("HybridSuperSummaries", publisher=False, **hybrid, Month=3, Year=2024, Infrastructure="grid",
                       ServiceLevelType="HEPSPEC", ServiceLevel="10.125", NodeCount=1, Processors=1,
                       WallDuration=wall, CpuDuration=sum(3000 + n for n in range(jobs)),
                       NormalisedWallDuration=round(wall * 10.125), NormalisedCpuDuration=0, NumberOfJobs=jobs)
        other = dict(hybrid, Site="OTHER-SITE", VO="cms", VOGroup="/cms", VORole="None",
                     SubmitHost="ce.other.example.org")
        layout.summary("HybridSuperSummaries", publisher=False, **other, Month=2, Year=2024, Infrastructure="grid",
                       ServiceLevelType="HEPSPEC", ServiceLevel="8.5", NodeCount=1, Processors=4,
                       WallDuration=14400, CpuDuration=14000, NormalisedWallDuration=122400,
                       NormalisedCpuDuration=0, NumberOfJobs=6)


def _view(url, view, order):
    with databases.connect(url) as db:
        return db.query_dicts(f"SELECT * FROM {view} ORDER BY {order}")


def _source_jobs(url):
    """The source's jobs as its own view shows them (names, times, benchmark as a float)."""
    with databases.connect(url) as db:
        rows = db.query_dicts(
            "SELECT s.name AS Site, j.LocalJobId, j.StartTime, j.EndTime, j.WallDuration, j.CpuDuration, "
            "j.ServiceLevelType, j.ServiceLevel, q.name AS Queue, d.name AS GlobalUserName, v.name AS VO "
            "FROM JobRecords j JOIN Sites s ON s.id = j.SiteID JOIN Queues q ON q.id = j.QueueID "
            "JOIN DNs d ON d.id = j.GlobalUserNameID JOIN VOs v ON v.id = j.VOID ORDER BY j.LocalJobId")
    return rows


def _comparable(row):
    return {k: (float(v) if k == "ServiceLevel" else str(v) if isinstance(v, datetime.datetime) else v)
            for k, v in row.items() if k in ("Site", "LocalJobId", "StartTime", "EndTime", "WallDuration",
                                              "CpuDuration", "ServiceLevelType", "ServiceLevel", "Queue",
                                              "GlobalUserName", "VO")}


def _run(source, target, **options):
    with databases.connect(source) as s, databases.connect(target) as t:
        return Importer(s, t, **options).run()


def test_a_repository_comes_over_with_every_refused_row_listed(source, db_url):
    _repository(source)
    report = _run(source, db_url)

    assert report.layout == "repository"
    jobs = report.tables["JobRecords"]
    assert (jobs.source_rows, jobs.read, jobs.imported, jobs.held, jobs.target_rows) == (8, 8, 6, 2, 6)
    expected = [_comparable(r) for r in _source_jobs(source) if r["LocalJobId"] not in ("9000.batch", "9001.batch")]
    assert [_comparable(r) for r in _view(db_url, "VJobRecords", "LocalJobId")] == expected
    assert [(r["Site"], r["Year"], r["Month"], r["WallDuration"], r["NumberOfJobs"], r["ServiceLevel"])
            for r in _view(db_url, "VSummaries", "Site")] == [("OTHER-SITE", 2024, 2, 7200, 3, 8.5)]
    normalised = _view(db_url, "VNormalisedSummaries", "Site")
    assert [(r["Month"], r["NormalisedWallDuration"], r["ServiceLevelType"]) for r in normalised] == [
        (1, 1500, "HEPscore23")]
    assert [(r["Site"], r["NumberOfJobs"]) for r in _view(db_url, "VSyncRecords", "Site")] == [(SITE, 8)]
    assert [(r["Site"], r["PublisherDN"]) for r in _view(db_url, "VJobRecordsExt", "LocalJobId")][0] == (SITE, DN)

    refused = {(table, key.split(",")[1], field, action) for table, key, field, reason, action in report.issues}
    assert refused == {("JobRecords", '"9000.batch"', "EndTime", "held"),
                       ("JobRecords", '"9001.batch"', "ServiceLevelType", "held")}
    # The source's February counted the summary twice: listed, not hidden; March agrees.
    assert [d[:4] for d in report.differences] == [
        ("OTHER-SITE", 2024, 1, "NumberOfJobs"), ("OTHER-SITE", 2024, 1, "WallDuration"),
        ("OTHER-SITE", 2024, 1, "CpuDuration"), ("OTHER-SITE", 2024, 1, "NormalisedWallDuration"),
        ("OTHER-SITE", 2024, 2, "NumberOfJobs"), ("OTHER-SITE", 2024, 2, "WallDuration"),
        ("OTHER-SITE", 2024, 2, "CpuDuration"), ("OTHER-SITE", 2024, 2, "NormalisedWallDuration")]
    assert not [d for d in report.differences if d[0] == SITE]


def test_invalid_import_stores_what_our_tables_can_hold_and_marks_it(source, db_url):
    _repository(source)
    report = _run(source, db_url, invalid="import")

    actions = {key.split(",")[1]: action for _, key, _, _, action in report.issues}
    assert actions == {'"9000.batch"': "imported", '"9001.batch"': "held"}  # an unknown benchmark cannot be summed
    jobs = {r["LocalJobId"]: r for r in _view(db_url, "VJobRecords", "LocalJobId")}
    assert str(jobs["9000.batch"]["EndTime"]) < str(jobs["9000.batch"]["StartTime"])
    assert report.tables["JobRecords"].marked == 1
    with databases.connect(db_url) as db:
        assert db.query("SELECT Action FROM ImportIssues WHERE SourceKey LIKE '%9000.batch%'") == [("imported",)]


def test_a_dry_run_reports_and_writes_nothing(source, db_url):
    _repository(source)
    result = CliRunner().invoke(apeltools_main, ["db", "import-apel", "--from", source, "--db", db_url, "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "dry run: repository import" in result.output
    assert "held     JobRecords" in result.output and "EndTime is before StartTime" in result.output
    assert "unknown benchmark type 'SPECint2006'" in result.output
    with databases.connect(db_url) as db:
        for table in ("JobRecords", "Summaries", "ImportProgress", "ImportIssues"):
            assert db.query(f"SELECT COUNT(*) FROM {table}")[0][0] == 0


def test_an_interrupted_import_continues_where_it_stopped(source, db_url):
    _repository(source, jobs=30)
    with databases.connect(source) as s, databases.connect(db_url) as t:
        importer = Importer(s, t, batch=4)
        stores = []
        real_store = t.store

        def failing_store(*args, **kwargs):
            stores.append(1)
            if len(stores) == 3:
                raise KeyboardInterrupt  # Ctrl-C in the middle of a page: that page rolls back
            return real_store(*args, **kwargs)

        t.store = failing_store
        with pytest.raises(KeyboardInterrupt):
            importer.run()
    with databases.connect(db_url) as db:
        # Two pages of four rows committed, with their progress; the third rolled back.
        assert db.query("SELECT RowsRead, Imported + Held FROM ImportProgress") == [(8, 8)]
        assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == db.query("SELECT Imported FROM ImportProgress")[0][0]

    report = _run(source, db_url, batch=4)

    assert report.tables["JobRecords"].imported == 30
    assert report.tables["JobRecords"].target_rows == 30
    assert len(report.issues) == 2
    assert not [d for d in report.differences if d[0] == SITE]
    again = _run(source, db_url, batch=4)  # done: nothing is read again
    assert again.tables["JobRecords"].target_rows == 30


@pytest.fixture
def cli_target(mariadb_service):
    """A migrated MariaDB target, the environment for the CLI, and the ``apeltools db`` command."""
    target, drop = fresh_mysql(mariadb_service)
    env = dict(os.environ, APELTOOLS_DB_PASSWORD=mariadb_service.password, APELTOOLS_CONFIG=os.devnull)
    args = [shutil.which("apeltools"), "db"]
    subprocess.run(args + ["init", "--db", target], env=env, check=True, capture_output=True)
    yield target, env, args
    drop()


def _wait_for_progress(target, rows):
    with databases.connect(target) as db:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            read = db.query("SELECT RowsRead FROM ImportProgress")
            if read and read[0][0] >= rows:
                return
            time.sleep(0.05)


def _check_exactly(target, jobs):
    with databases.connect(target) as db:
        assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == jobs
        assert db.query("SELECT SUM(NumberOfJobs) FROM SuperSummaries s JOIN Sites n ON n.id = s.SiteID "
                        "WHERE n.name = ?", (SITE,))[0][0] == jobs


def test_sigkill_mid_import_then_rerun_gives_exactly_the_source_rows(source, cli_target):
    _repository(source, jobs=400)
    target, env, args = cli_target
    process = subprocess.Popen(args + ["import-apel", "--from", source, "--db", target, "--batch", "3"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_progress(target, 30)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with databases.connect(target) as db:
        partial = db.query("SELECT COUNT(*) FROM JobRecords")[0][0]
    assert 0 < partial < 400

    done = subprocess.run(args + ["import-apel", "--from", source, "--db", target], env=env, capture_output=True,
                          text=True)

    assert done.returncode == 0, done.stderr
    _check_exactly(target, 400)


@pytest.mark.slow
def test_a_database_restart_mid_import_is_waited_out(source, cli_target, mariadb_service):
    _repository(source, jobs=400)
    target, env, args = cli_target
    process = subprocess.Popen(args + ["import-apel", "--from", source, "--db", target, "--batch", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_progress(target, 30)
    try:
        mariadb_service.stop()
        time.sleep(3)
    finally:
        mariadb_service.start()
    out, err = process.communicate(timeout=600)

    assert process.returncode == 0, err
    assert "retrying in" in err
    assert "0 differences" not in out  # the source's other site differs on purpose
    _check_exactly(target, 400)


def test_a_site_database_is_detected(source, db_url):
    with databases.connect(source) as db:
        layout = DeployedLayout(db, CLIENT)
        for n in range(3):
            _job(layout, n)
    report = _run(source, db_url)
    assert report.layout == "site"
    assert report.tables["JobRecords"].target_rows == 3
