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
from apeltools.importer import POLICIES, Importer
from apeltools.cli.main import main as apeltools_main
from apeltools.errors import ApelError
from apeltools.db.schema import migrate
from tests.apel_layout import CLIENT, CLOUD_AND_STORAGE, SERVER, DeployedLayout
from tests.conftest import fresh_mysql

pytestmark = pytest.mark.mariadb  # the source is always MariaDB

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

        def failing(real):
            def store(*args, **kwargs):
                stores.append(1)
                if len(stores) == 3:
                    raise KeyboardInterrupt  # Ctrl-C in the middle of a page: that page rolls back
                return real(*args, **kwargs)
            return store

        # Job pages are stored as lines where the target takes them (MySQL), else as records.
        t.store, t.store_lines = failing(t.store), failing(t.store_lines)
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


CE = "ce.north.example.org:8443/cream-pbs-long"


def _pbs_end(n, day):
    start = int(datetime.datetime(2024, 3, day, 10, tzinfo=datetime.timezone.utc).timestamp()) + n
    stamp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(start + 3600))
    return (f"{stamp};E;{n}.pbs.north;user=atlas001 group=atlas jobname=job queue=long ctime={start - 60} "
            f"qtime={start - 50} etime={start - 40} start={start} exec_host=wn001/0 session=1 end={start + 3600} "
            f"Exit_status=0 resources_used.cput=00:50:00 resources_used.mem=1000kb resources_used.vmem=2000kb "
            f"resources_used.walltime=01:00:00\n").encode()


def _md5(data):
    import hashlib

    return hashlib.md5(data).hexdigest()


def _site(url, logs):
    """A deployed client database: four joined jobs (three sent by its last publish, one after),
    their batch and blah records, one batch record not joined yet, the CE's benchmark, and two
    PBS logs it parsed: one whole, one that grew since."""
    with databases.connect(url) as db:
        layout = DeployedLayout(db, CLIENT)
        for n, (end, updated) in enumerate([("2024-02-10", "2024-03-01"), ("2024-02-11", "2024-03-01"),
                                            ("2024-02-12", "2024-03-01"), ("2024-03-12", "2024-03-15")]):
            _job(layout, n, StartTime=f"{end} 10:00:00", EndTime=f"{end} 11:00:00", SubmitHost=CE,
                 UpdateTime=f"{updated} 00:00:00", PublisherDN="apelclient")
            layout.insert("EventRecords", {"Site": SITE, "MachineName": "ce.north.example.org", "Queue": "long"},
                          {"JobName": f"{n}.batch", "LocalUserID": "atlas001", "LocalUserGroup": "atlas",
                           "WallDuration": 3600, "CpuDuration": 3000, "StartTime": f"{end} 10:00:00",
                           "EndTime": f"{end} 11:00:00", "Infrastructure": "APEL-CREAM-PBS", "Processors": 1,
                           "NodeCount": 1, "Status": 2})
            layout.insert("BlahdRecords", {"Site": SITE, "CE": CE, "GlobalUserName": USER, "VO": "atlas",
                                           "VOGroup": "/atlas", "VORole": "Role=production"},
                          {"TimeStamp": f"{end} 09:59:00", "FQAN": "/atlas/Role=production",
                           "GlobalJobId": f"CREAM{n}", "LrmsId": f"{n}.batch"})
        layout.insert("EventRecords", {"Site": SITE, "MachineName": "ce.north.example.org", "Queue": "long"},
                      {"JobName": "9.batch", "WallDuration": 10, "CpuDuration": 5, "StartTime": "2024-03-13 10:00:00",
                       "EndTime": "2024-03-13 10:00:10", "Infrastructure": "APEL-CREAM-PBS", "Status": 0})
        layout.insert("SpecRecords", {"Site": SITE, "CE": CE},
                      {"StartTime": "2024-01-01 00:00:00", "ServiceLevelType": "HEPSPEC", "ServiceLevel": "10.125"})
        layout.insert("LastUpdated", {}, {"Type": "sent", "UpdateTime": "2024-03-10 00:00:00"})
        whole = _pbs_end(1, 1) + _pbs_end(2, 1)
        grown = _pbs_end(3, 2) + _pbs_end(4, 2)
        (logs / "20240301").write_bytes(whole)
        (logs / "20240302").write_bytes(grown + _pbs_end(5, 2))  # one job more since the deployed parser ran
        for name, data in (("20240301", whole), ("20240302", grown)):
            layout.insert("ProcessedFiles", {}, {"HostName": "ce.north.example.org", "FileName": str(logs / name),
                                                 "Hash": _md5(data), "StopLine": 2, "Parsed": 2})


def test_a_site_comes_over_and_neither_parses_nor_publishes_anything_twice(source, db_url, tmp_path):
    logs, outgoing = tmp_path / "pbs", tmp_path / "outgoing"
    logs.mkdir()
    _site(source, logs)
    runner = CliRunner()

    result = runner.invoke(apeltools_main, ["db", "import-apel", "--from", source, "--db", db_url,
                                            "--log-dir", f"torque={logs}", "--queue", str(outgoing)])

    assert result.exit_code == 0, result.output
    assert "site import" in result.output
    assert "logs: 2 log files registered as read, 0 already known, 0 unread" in result.output
    assert "1 jobs in 1 site-months it had not sent are left to send" in result.output
    with databases.connect(db_url) as db:
        assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == 4
        assert sorted(db.query("SELECT LocalJobId, JoinStatus FROM BatchRecords")) == [
            ("0.batch", 0), ("1.batch", 0), ("2.batch", 0), ("3.batch", 0), ("9.batch", 1)]
        assert sorted(db.query("SELECT BatchSystem, LrmsId FROM BatchRecords"))[0] == ("PBS", "0.batch")
        assert db.query("SELECT COUNT(*), MIN(CeId) FROM BlahRecords") == [(4, CE)]
        assert db.query("SELECT CE, ServiceLevelType, ServiceLevel, StopTime FROM SpecHistory") == [
            (CE, "HEPSPEC", 10.125, None)]
        marks = dict(db.query("SELECT Name, Value FROM JoinState"))
        assert marks["batch_id"] == 5 and marks["blah_id"] == 4

    parsed = runner.invoke(apeltools_main, ["parse", "pbs", str(logs / "20240301"), str(logs / "20240302"),
                                            "--db", db_url])
    assert parsed.exit_code == 0, parsed.output
    with databases.connect(db_url) as db:  # only the job logged after the deployed parser's last run
        assert sorted(r[0] for r in db.query("SELECT LocalJobId FROM BatchRecords WHERE id > 5")) == ["5.pbs.north"]

    published = runner.invoke(apeltools_main, ["publish", "summaries", "--db", db_url, "--queue", str(outgoing)])
    assert published.exit_code == 0, published.output
    text = "\n".join(body.decode() for body in _queue_bodies(outgoing))
    assert "Month: 3" in text and "Month: 2" not in text  # February was sent by the deployed client
    again = runner.invoke(apeltools_main, ["db", "import-apel", "--from", source, "--db", db_url,
                                           "--queue", str(outgoing)])
    assert "published: already imported" in again.output


def _queue_bodies(path):
    from apeltools.messaging import queues
    from tests.conftest import queue_elements

    return queue_elements(queues.outgoing_queue(path))


def test_a_site_database_is_detected(source, db_url):
    with databases.connect(source) as db:
        layout = DeployedLayout(db, CLIENT)
        for n in range(3):
            _job(layout, n)
    report = _run(source, db_url)
    assert report.layout == "site"
    assert report.tables["JobRecords"].target_rows == 3


def test_cloud_and_storage_records_come_over(source, db_url):
    with databases.connect(source) as db:
        layout = DeployedLayout(db, CLOUD_AND_STORAGE)
        cloud = {"Site": SITE, "CloudComputeService": "openstack.north", "GlobalUserName": USER,
                 "VO": "atlas", "VOGroup": "/atlas", "VORole": "Role=NULL"}
        layout.insert("CloudRecords", {**cloud, "PublisherDN": DN}, {
            "RecordCreateTime": "2024-03-05 00:00:00", "VMUUID": "vm-1", "MachineName": "vm1", "FQAN": "/atlas/Role=NULL",
            "Status": "completed", "StartTime": "2024-03-01 00:00:00", "EndTime": "2024-03-04 00:00:00",
            "MeasurementTime": "2024-03-04 00:00:00", "MeasurementMonth": 3, "MeasurementYear": 2024,
            "WallDuration": 259200, "CpuDuration": 200000, "CpuCount": "2.000", "Memory": 4096,
            "BenchmarkType": "HEPSPEC", "Benchmark": "10.500", "ImageId": "img-1", "CloudType": "OpenStack"})
        layout.insert("CloudRecords", {**cloud, "PublisherDN": DN}, {
            "RecordCreateTime": "2024-03-05 00:00:00", "VMUUID": "vm-2", "Status": "started",
            "StartTime": "2024-03-01 00:00:00", "MeasurementTime": "2024-03-05 00:00:00", "MeasurementMonth": 3,
            "MeasurementYear": 2024, "CpuCount": "2.333", "BenchmarkType": "HEPSPEC", "Benchmark": "10.500"})
        layout.insert("CloudSummaries", cloud, {
            "Month": 2, "Year": 2024, "Status": "completed", "CloudType": "OpenStack", "ImageId": "img-1",
            "WallDuration": 1000, "CpuDuration": 900, "CpuCount": "4.375", "BenchmarkType": "HEPSPEC",
            "Benchmark": "10.500", "NumberOfVMs": 3, "PublisherDNID": str(layout.id_of("DNs", DN))})
        layout.insert("StarRecords", {"Site": SITE, "StorageSystem": "dcache.north", "StorageShare": "atlas-disk",
                                      "StorageMedia": "disk", "StorageClass": "None", "UserIdentity": "None",
                                      "Group": "atlas", "SubGroup": "None", "Role": "None"}, {
            "RecordId": "star-1", "CreateTime": "2024-03-02 00:00:00", "StartTime": "2024-03-01 00:00:00",
            "EndTime": "2024-03-02 00:00:00", "ResourceCapacityUsed": 123456, "FileCount": 10})

    report = _run(source, db_url)

    assert report.issues == []
    assert {name: (t.imported, t.held) for name, t in report.tables.items()} == {
        "CloudRecords": (2, 0), "CloudSummaries": (1, 0), "StarRecords": (1, 0)}
    # The deployed DECIMAL(10,3) CpuCount of a VM (and of a summary) comes over exactly, fraction and all.
    assert str(_view(db_url, "VCloudRecords", "VMUUID")[1]["CpuCount"]) == "2.333"
    vm = _view(db_url, "VCloudRecords", "VMUUID")[0]
    assert (vm["SiteName"], vm["CloudComputeService"], vm["VO"], vm["CpuCount"], vm["Benchmark"], vm["WallDuration"]) == (
        SITE, "openstack.north", "atlas", 2, 10.5, 259200)
    summaries = {r["Month"]: r for r in _view(db_url, "VCloudSummaries", "Month")}
    assert (summaries[2]["NumberOfVMs"], str(summaries[2]["CpuCount"]), summaries[2]["SiteName"]) == (3, "4.375", SITE)
    star = _view(db_url, "VStarRecords", "RecordId")[0]
    assert (star["Site"], star["StorageSystem"], star["StorageShare"], star["Group"], star["ResourceCapacityUsed"]) == (
        SITE, "dcache.north", "atlas-disk", "atlas", 123456)


def test_a_repository_that_published_everything_publishes_nothing_again(source, db_url, tmp_path):
    _repository(source)
    with databases.connect(source) as db:
        db.execute("INSERT INTO LastUpdated (Type, UpdateTime) VALUES ('sent', TIMESTAMPADD(DAY, 1, UTC_TIMESTAMP()))")
    outgoing = tmp_path / "outgoing"
    runner = CliRunner()
    result = runner.invoke(apeltools_main, ["db", "import-apel", "--from", source, "--db", db_url,
                                            "--queue", str(outgoing)])
    assert result.exit_code == 0, result.output
    assert "0 jobs in 0 site-months it had not sent" in result.output

    published = runner.invoke(apeltools_main, ["publish", "summaries", "normalised-summaries", "--syntax", "v0.4",
                                                "--db", db_url, "--queue", str(outgoing)])

    assert published.exit_code == 0, published.output
    assert _queue_bodies(outgoing) == []


def test_pages_read_ahead_in_order_and_errors_reach_the_reader():
    from apeltools.importer.rows import ahead

    assert list(ahead(iter(range(5)))) == [0, 1, 2, 3, 4]

    def failing():
        yield 1
        raise ConnectionError("source gone")

    seen = []
    with pytest.raises(ConnectionError, match="source gone"):
        for item in ahead(failing()):
            seen.append(item)
    assert seen == [1]

    pages = ahead(iter(range(1000)))  # a reader that stops early does not wait for the rest
    assert next(pages) == 0
    pages.close()


def test_a_transient_error_is_retried_after_the_reader_thread_has_stopped(source, db_url):
    import threading

    from apeltools.errors import TransientDatabaseError
    from apeltools.retry import Backoff

    _repository(source, jobs=40)
    with databases.connect(source) as s, databases.connect(db_url) as t:
        calls, readers = [], []
        real_store = t.store

        def flaky_store(*args, **kwargs):
            calls.append(1)
            readers.append(sum(1 for thread in threading.enumerate() if thread.name == "import-reader"))
            if len(calls) == 2:
                raise TransientDatabaseError("database unavailable: gone for a moment")
            return real_store(*args, **kwargs)

        t.store = flaky_store
        report = Importer(s, t, batch=4, backoff=Backoff(initial=0.01)).run()

    assert report.tables["JobRecords"].target_rows == 40
    assert max(readers) == 1  # the first attempt's reader ended before the second began


def test_workers_share_the_job_records_and_resume_each_their_part(source, db_url):
    _repository(source, jobs=30)
    with databases.connect(source) as db:  # a second site, so that both parts hold jobs
        layout = DeployedLayout(db, [])
        for n in range(30, 50):
            _job(layout, n, Site="OTHER-SITE")  # id 2 (UKI-NORTH has 1)

    stored = []

    def fail_once(real):
        def store(*args, **kwargs):  # in each worker process (forked): its third page fails
            stored.append(1)
            if len(stored) == 3 and not os.path.exists(failed):
                open(failed, "w").close()
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        return store

    failed = f"/tmp/apeltools-test-worker-{os.getpid()}-{id(stored)}"
    with databases.connect(source) as s, databases.connect(db_url) as t:
        t.store, t.store_lines = fail_once(t.store), fail_once(t.store_lines)
        with pytest.raises(ApelError, match="a worker failed"):
            Importer(s, t, workers=2, batch=4).run()
    os.unlink(failed)
    with databases.connect(db_url) as db:
        read = dict(db.query("SELECT SourceTable, RowsRead FROM ImportProgress WHERE SourceTable LIKE 'JobRecords%'"))
        assert read["JobRecords range 1/2"] + read["JobRecords range 2/2"] < 52 and "JobRecords" not in read

    report = _run(source, db_url, workers=2, batch=4)  # each range continues where it stopped

    jobs = report.tables["JobRecords"]
    assert (jobs.read, jobs.imported, jobs.held, jobs.target_rows) == (52, 50, 2, 50)
    with databases.connect(db_url) as db:
        parts = dict(db.query("SELECT SourceTable, RowsRead FROM ImportProgress WHERE SourceTable LIKE 'JobRecords%'"))
    assert parts == {"JobRecords": 52, "JobRecords range 1/2": 26, "JobRecords range 2/2": 26, "JobRecords ranges/2": 0}
    assert len(report.issues) == 2 and report.tables["Summaries"].imported == 1
    assert not [d for d in report.differences if d[0] == SITE]  # no page's summary counted twice
    assert _run(source, db_url, workers=2).tables["JobRecords"].imported == 50  # done: read again from the progress


def _varied_jobs(url, count, seed):
    """Jobs with every kind of value the checks treat differently, mixed at random: names with
    LOAD DATA's special characters, FQANs of every shape, benchmark types in any spelling or
    unknown, infrastructure types in any case or wrong, NULLs, ends before starts or in the
    future, and ids missing from their lookup tables."""
    import random

    rng = random.Random(seed)
    pick = rng.choice
    names = ["plain", "tab\there", "back\\slash", "new\nline", "cr\rend", "None", "ünï", "x" * 255, "100%s%%"]
    with databases.connect(url) as db:
        layout = DeployedLayout(db, SERVER)
        for n in range(count):
            start = datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=rng.randrange(40_000_000))
            end = start + datetime.timedelta(seconds=pick([0, 1, 3600, -60, 86400 * 400, 86400 * 4000]))
            _job(layout, n, Site=pick([SITE, "OTHER-SITE", "None", "s\tite"]), SubmitHost=pick(names),
                 MachineName=pick(names), Queue=pick(names), LocalJobId=pick([f"{n}.batch", f"{n}\\b\tx", f"{n}\n"]),
                 LocalUserId=pick([None, "atlas001", "u\\1", "y" * 255]), GlobalUserName=pick(names + [USER]),
                 FQAN=pick([None, "/atlas/Role=production", "/atlas/uk/Role=NULL/Capability=NULL", "dteam", "/cms",
                            "/ops/ROLE=lcgadmin;x", ""]),
                 VO=pick(["atlas", "None", "cms"]), VOGroup=pick(["/atlas", "None"]), VORole=pick(["Role=NULL", "None"]),
                 WallDuration=pick([None, 0, 1, 3600, 2 ** 40]), CpuDuration=pick([None, 0, 7, 2 ** 33]),
                 Processors=pick([0, 1, 8]), NodeCount=pick([0, 1, 2]),
                 StartTime=start.strftime("%Y-%m-%d %H:%M:%S"), EndTime=end.strftime("%Y-%m-%d %H:%M:%S"),
                 InfrastructureDescription=pick([None, "APEL-PBS-CREAM", "a\tb", "z" * 100]),
                 InfrastructureType=pick([None, "grid", "GRID", "Local", "cloud", "None"]),
                 MemoryReal=pick([None, 0, 123456]), MemoryVirtual=pick([None, 5, 2 ** 50]),
                 ServiceLevelType=pick(["HEPSPEC", "hepspec", "si2k", "HEPscore23", "SPECint2006", "Bogus"]),
                 ServiceLevel=pick(["10.125", "0.000", "8.5", "1234567.999"]), PublisherDN=pick([DN, "None", USER]))
        # Ids that their lookup tables do not hold (a site, a DN, a publisher).
        for column in ("SiteID", "GlobalUserNameID", "PublisherDNID"):
            db.execute(f"UPDATE JobRecords SET {column} = 999 WHERE LocalJobId IN (?, ?)",
                       (f"{rng.randrange(count)}.batch", f"{rng.randrange(count)}.batch"))


def _stored_jobs(url):
    """Every stored job column, names instead of ids (ids depend on the order names were added),
    and the summary deltas summed per key."""
    from apeltools.db.rows import plan_for
    from apeltools.db.summaries import DELTA_COLUMNS, KEY_COLUMNS
    from apeltools.records.types import JOB

    lookups = {f.column: f.lookup for f in JOB.fields if f.lookup}
    lookups["PublisherDNID"] = lookups["GlobalUserNameID"] = "DNs"

    def named(columns):
        return ", ".join(f"(SELECT name FROM `{lookups[c]}` WHERE id = t.`{c}`)" if c in lookups else f"t.`{c}`"
                         for c in columns)
    with databases.connect(url) as db:
        jobs = sorted(db.query(f"SELECT {named(plan_for(JOB).columns)} FROM JobRecords t"), key=repr)
        sums = ", ".join(f"SUM({c})" for c in DELTA_COLUMNS[len(KEY_COLUMNS) + 3:])
        deltas = db.query(f"SELECT {named(KEY_COLUMNS)}, MAX(InfrastructureDescription), MIN(EarliestEndTime), "
                          f"MAX(LatestEndTime), {sums} FROM SummaryDeltas t GROUP BY {', '.join(KEY_COLUMNS)}")
        issues = db.query("SELECT SourceTable, SourceKey, Field, Reason, Action FROM ImportIssues")
    return jobs, sorted(deltas, key=repr), sorted(issues)


@pytest.mark.parametrize("invalid", POLICIES)
def test_job_lines_store_what_the_record_path_stores(source, mariadb_service, monkeypatch, invalid):
    """Job pages made into LOAD DATA lines from the values checked once per distinct combination
    (importer/jobs.py) store exactly what checking and storing each row as a record does, and
    refuse exactly the same rows for the same reasons, whatever the values."""
    from apeltools.importer import jobs

    _varied_jobs(source, 1500, seed=20)
    targets = [fresh_mysql(mariadb_service) for _ in range(2)]
    try:
        results, calls = [], []
        real_page = jobs.JobLines.page
        monkeypatch.setattr(jobs.JobLines, "page", lambda self, rows: calls.append(len(rows)) or real_page(self, rows))
        for target, _ in targets:
            with databases.connect(target) as db:
                migrate(db)
            report = _run(source, target, batch=97, invalid=invalid, verify=False)
            results.append((_stored_jobs(target), {n: (t.read, t.imported, t.held) for n, t in report.tables.items()}))
            monkeypatch.setattr(jobs, "usable", lambda spec, types: False)  # the second: records only
        assert sum(calls) == 1500  # the first import made every page into lines
        (lines, line_counts), (records, record_counts) = results
        assert line_counts == record_counts
        assert lines[0] == records[0] and len(lines[0]) == record_counts["JobRecords"][1]
        assert lines[1] == records[1]
        assert lines[2] == records[2] and len(lines[2]) > 100  # many refused for many reasons
        assert {i[2] for i in lines[2]} >= {"EndTime", "ServiceLevelType", "InfrastructureType", "WallDuration"}
    finally:
        for _, drop in targets:
            drop()


def test_join_statuses_are_set_by_a_few_statements(db, monkeypatch):
    """A site's imported batch records get their join statuses in one UPDATE per status and chunk
    of jobs, not one per job (a site's local jobs may be most of its batch records)."""
    from apeltools.db import apel_source, site as site_sql
    from apeltools.records.site import BatchRecord

    jobs = [BatchRecord(BatchSystem="PBS", LocalJobId=f"{n}.batch", LrmsId=f"{n}.batch", LocalUserId=None,
                        LocalGroup=None, Queue=None, MachineName=None, Processors=1, NodeCount=1, WallDuration=1,
                        CpuDuration=1, StartTime=1_700_000_000, EndTime=1_700_000_000 + n % 7) for n in range(450)]
    with db.transaction():
        site_sql.store_site_records(db, jobs)
    statuses = {j.LocalJobId: (site_sql.LOCAL, site_sql.RETRY, site_sql.FINE)[n % 3] for n, j in enumerate(jobs)}
    statements = []
    real_execute = db.execute
    monkeypatch.setattr(db, "execute", lambda sql, params=(): statements.append(sql) or real_execute(sql, params))

    with db.transaction():
        apel_source.set_join_statuses(db, [(statuses[j.LocalJobId], "PBS", j.LocalJobId, j.EndTime) for j in jobs
                                           if statuses[j.LocalJobId] != site_sql.FINE])

    assert len(statements) == 2  # 150 jobs of each of two statuses: one chunk each
    assert dict(db.query("SELECT LocalJobId, JoinStatus FROM BatchRecords")) == statuses
