"""apeltools beside the deployed APEL server, run from its public sources (dev only).

Skipped unless both are given:

    APELTOOLS_DEPLOYED_APEL    a checkout of github.com/apel/apel (the server and client)
    APELTOOLS_DEPLOYED_PYTHON  a Python that imports it: mysqlclient, dirq, iso8601, future

for example::

    git clone https://github.com/apel/apel /tmp/apel
    python3 -m venv /tmp/apel-venv
    /tmp/apel-venv/bin/pip install mysqlclient dirq iso8601 future python-daemon
    APELTOOLS_DEPLOYED_APEL=/tmp/apel APELTOOLS_DEPLOYED_PYTHON=/tmp/apel-venv/bin/python \\
        tests/run tests/interop

Both sides run on the test MariaDB: the deployed schemas (server.sql with server-extra.sql) in
one database, ours in another. The same messages go through the deployed loader and apel-load,
the deployed summariser and apel-summarise, and the deployed unloader reads our views. What is
compared is what an operator switching one component would see: view columns by name and the
values in them. The deliberate differences documented in the README are named here, each
with the rows it concerns, so that any other difference fails.
"""

import datetime
import json
import os
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from apeltools import db as databases
from apeltools.demo import sample
from apeltools.db.schema import migrate
from apeltools.messaging import queues
from apeltools.records import benchmark, text
from apeltools.records.fields import month_bounds
from apeltools.records.types import CLOUD, NORMALISED_SUMMARY

APEL_SRC = os.environ.get("APELTOOLS_DEPLOYED_APEL", "")
APEL_PYTHON = os.environ.get("APELTOOLS_DEPLOYED_PYTHON", "")
DRIVER = Path(__file__).with_name("driver.py")
SIGNER = "/C=UK/O=eScience/OU=Demo/L=DEMO/CN=apel.north.example.org"

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not (APEL_SRC and APEL_PYTHON),
                       reason="set APELTOOLS_DEPLOYED_APEL and APELTOOLS_DEPLOYED_PYTHON to run"),
]

# Columns of each compatibility view that the deployed tools fill from the clock.
CLOCK_COLUMNS = {"UpdateTime"}


def _last_month():
    first = datetime.date.today().replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


EAST = sample.Site("DEMO-EAST-T2", "east.example.org", ("ce9",), "SGE", ("HEPSPEC", 9.5))
NORMALISING = sample.Site("DEMO-NORM-T3", "norm.example.org", ("ce7",), "LSF", ("si2k", 2375.0))
V03_NORMALISED_SITE = EAST.name


def _normalised(summaries):
    """The normalised summaries a site sends for its summaries (integer normalised durations)."""
    records = []
    for s in summaries:
        factor = benchmark.factor(s.ServiceLevelType, s.ServiceLevel)
        records.append(NORMALISED_SUMMARY.make(
            Site=s.Site, Month=s.Month, Year=s.Year, GlobalUserName=s.GlobalUserName, VO=s.VO,
            VOGroup=s.VOGroup, VORole=s.VORole, SubmitHost=s.SubmitHost,
            Infrastructure=s.InfrastructureType, InfrastructureDescription=s.InfrastructureDescription,
            NodeCount=s.NodeCount, Processors=s.Processors, EarliestEndTime=s.EarliestEndTime,
            LatestEndTime=s.LatestEndTime, WallDuration=s.WallDuration, CpuDuration=s.CpuDuration,
            NormalisedWallDuration=round(s.WallDuration * factor),
            NormalisedCpuDuration=round(s.CpuDuration * factor),
            NumberOfJobs=s.NumberOfJobs, ServiceLevelType=s.ServiceLevelType,
        ))
    return records


def _messages():
    """A message of every text type of jobs and summaries the deployed loader accepts."""
    year, month = _last_month()
    rng = sample.rng_for(7)
    north, south, west = sample.SITES
    north_jobs = sample.jobs(north, year, month, 40, rng)
    south_jobs = sample.jobs(south, year, month, 30, rng)
    west_jobs = sample.jobs(west, year, month, 20, rng)
    east_jobs = sample.jobs(EAST, year, month, 20, rng)
    norm_jobs = sample.jobs(NORMALISING, year, month, 20, rng)
    before = (year, month - 1) if month > 1 else (year - 1, 12)
    west_earlier_jobs = sample.jobs(west, *before, 10, rng)
    return [
        text.write_message(text.JOB_V03, north_jobs[:20]),
        text.write_message(text.JOB_V04, north_jobs[20:]),
        text.write_message(text.JOB_V03, south_jobs).replace("v0.3", "v0.2", 1),
        text.write_message(text.SUMMARY_V02, sample.summaries(west, year, month, west_jobs)),
        text.write_message(text.SUMMARY_V04, sample.summaries(west, *before, west_earlier_jobs)),
        text.write_message(text.NORMALISED_V03, _normalised(sample.summaries(EAST, year, month, east_jobs))),
        text.write_message(text.NORMALISED_V04,
                           _normalised(sample.summaries(NORMALISING, year, month, norm_jobs))),
        text.write_message(text.SYNC_V01, sample.syncs(north, year, month, north_jobs)),
        text.write_message(text.SYNC_V01, sample.syncs(west, year, month, west_jobs)),
    ]


class Deployed:
    """The deployed server library, one step per process (its own Python)."""

    def __init__(self, mariadb, name, workdir, relaxed=True):
        self.mariadb = mariadb
        self.name = name
        self.workdir = workdir
        self.relaxed = relaxed

    def _args(self, **extra):
        return dict(host=self.mariadb.host, port=self.mariadb.port, user=self.mariadb.user,
                    password=self.mariadb.password, db=self.name, relaxed=self.relaxed, **extra)

    def step(self, step, **extra):
        done = subprocess.run(
            [APEL_PYTHON, str(DRIVER), APEL_SRC, step, json.dumps(self._args(**extra))],
            capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, f"deployed {step} failed:\n{done.stderr}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    def load(self, bodies):
        qpath = self.workdir / f"deployed-load-{uuid.uuid4().hex[:6]}"
        incoming = queues.incoming_queue(qpath / "incoming")
        for index, body in enumerate(bodies):
            queues.add(incoming, {"body": body, "signer": SIGNER, "empaid": f"m{index}"})
        self.step("load", qpath=str(qpath), pidfile=str(qpath / "loader.pid"))
        rejected = queues.reject_queue(qpath / "reject")
        return [rejected.get(name) for name in rejected if rejected.lock(name)]


def _server_statement(mariadb, sql):
    conn = mariadb.connect()
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _create_database(mariadb, name):
    _server_statement(mariadb, f"CREATE DATABASE {name}")


def _drop_database(mariadb, name):
    _server_statement(mariadb, f"DROP DATABASE IF EXISTS {name}")


def _source_schema(mariadb, name, *files):
    for schema in files:
        sql = (Path(APEL_SRC) / "schemas" / schema).read_text(encoding="utf-8")
        done = subprocess.run(
            ["mysql", "-h", mariadb.host, "-P", str(mariadb.port), "-u", mariadb.user,
             f"-p{mariadb.password}", name],
            input="SET SESSION sql_mode = '';\n" + sql, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"{schema}: {done.stderr}"


def deployed_and_ours(mariadb, monkeypatch, *schemas):
    """(Name of a deployed database built from ``schemas``, our migrated database's URL) on the
    test MariaDB, both dropped after; a generator for fixtures (tests/interop/*.py use it)."""
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", mariadb.password)
    tag = uuid.uuid4().hex[:8]
    theirs, ours = f"deployed_{tag}", f"apeltools_{tag}"
    _create_database(mariadb, theirs)
    _create_database(mariadb, ours)
    try:
        _source_schema(mariadb, theirs, *schemas)
        url = f"{mariadb.url}/{ours}"
        with databases.connect(url) as db:
            migrate(db)
        yield theirs, url
    finally:
        _drop_database(mariadb, theirs)
        _drop_database(mariadb, ours)


def _both(mariadb, tmp_path, monkeypatch, *schemas):
    """(Deployed server of ``schemas``, our database URL) on the test MariaDB; dropped after."""
    for theirs, url in deployed_and_ours(mariadb, monkeypatch, *schemas):
        yield Deployed(mariadb, theirs, tmp_path), url


@pytest.fixture
def both(mariadb_service, tmp_path, monkeypatch):
    """(Deployed server database, our database URL) on the test MariaDB."""
    yield from _both(mariadb_service, tmp_path, monkeypatch, "server.sql", "server-extra.sql")


@pytest.fixture
def both_cloud(mariadb_service, tmp_path, monkeypatch):
    """(Deployed cloud database, our database URL) on the test MariaDB."""
    yield from _both(mariadb_service, tmp_path, monkeypatch, "cloud.sql")


def _view(mariadb, database, view, relaxed=False):
    """(column names, rows as dicts without the clock columns) of one view."""
    conn = mariadb.connect(database)
    try:
        cursor = conn.cursor()
        if relaxed:
            cursor.execute("SET SESSION sql_mode = ''")
        cursor.execute(f"SELECT * FROM {view}")
        names = [d[0] for d in cursor.description]
        rows = [{n: _plain(v) for n, v in zip(names, row) if n not in CLOCK_COLUMNS}
                for row in cursor.fetchall()]
        return names, rows
    finally:
        conn.close()


def _v03_normalised_benchmark(row):
    """README, "Differences from the deployed tools": a v0.3 normalised summary is stored with
    ServiceLevelType HEPSPEC (what v0.3 means), where the deployed loader stores None; a site
    moving from v0.3 to v0.4 then replaces its rows instead of counting them twice."""
    if row.get("Site") == V03_NORMALISED_SITE and row.get("ServiceLevelType") == "None":
        return {**row, "ServiceLevelType": "HEPSPEC"}
    return row


def _canonical_summary_benchmark(row):
    """README, "Stored values": summaries spell the benchmark type canonically (HEPscore23, HEPSPEC,
    si2k), where the deployed tools keep the spelling a summary or job came with (lower case
    from v0.4 messages): the type is part of a summary's key, exact here and case-insensitive
    there, so one spelling keeps a group from counting twice. Job records (no NumberOfJobs)
    are compared as they are."""
    if "NumberOfJobs" in row and row.get("ServiceLevelType") not in (None, "None"):
        return {**row, "ServiceLevelType": benchmark.canonical_type(row["ServiceLevelType"])}
    return row


# Applied to the deployed side's rows before comparing: each documented difference, nothing else.
DELIBERATE = (_v03_normalised_benchmark, _canonical_summary_benchmark)


def _same_view(mariadb, theirs, ours, view):
    """The view holds the same values under the same columns in both databases, but for the
    deliberate differences."""
    their_names, their_rows = _view(mariadb, theirs, view, relaxed=True)
    for difference in DELIBERATE:
        their_rows = [difference(row) for row in their_rows]
    our_names, our_rows = _view(mariadb, ours, view)
    common = [n for n in their_names if n in our_names and n not in CLOCK_COLUMNS]

    def table(rows):
        return sorted((tuple(row[n] for n in common) for row in rows), key=repr)

    ours_only = sorted(set(table(our_rows)) - set(table(their_rows)), key=repr)[:3]
    theirs_only = sorted(set(table(their_rows)) - set(table(our_rows)), key=repr)[:3]
    assert table(our_rows) == table(their_rows), (
        f"{view}: values differ in {common}\nours only: {ours_only}\ndeployed only: {theirs_only}")
    assert our_names == their_names, f"{view}: columns differ"


def _plain(value):
    """Values as both drivers' types compare: Decimals of whole numbers as int, floats rounded."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _ours(url, *args):
    from click.testing import CliRunner

    from apeltools.cli.main import main as cli

    result = CliRunner().invoke(cli, [*args, "--db", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _load_ours(url, bodies, tmp_path):
    files = []
    for index, body in enumerate(bodies):
        path = tmp_path / f"message{index}.txt"
        path.write_text(body, encoding="utf-8")
        files.append(str(path))
    _ours(url, "load", "--signer", SIGNER, *files)


LOADED_VIEWS = ("VJobRecords", "VSummaries", "VNormalisedSummaries", "VSyncRecords")
SUMMARISED_VIEWS = ("VSuperSummaries", "VNormalisedSuperSummaries", "VUserSummaries",
                    "VHepSpecHistory", "VSpecIntHistory", "VSumCPU", "VUserCPU")


def test_the_same_messages_give_the_same_view_rows(both, mariadb_service, tmp_path):
    deployed, url = both
    bodies = _messages()
    assert deployed.load(bodies) == []
    _load_ours(url, bodies, tmp_path)
    ours = url.rsplit("/", 1)[1]
    for view in LOADED_VIEWS:
        _same_view(mariadb_service, deployed.name, ours, view)


def test_both_summarisers_give_the_same_super_summaries(both, mariadb_service, tmp_path):
    deployed, url = both
    bodies = _messages()
    deployed.load(bodies)
    deployed.step("summarise")
    _load_ours(url, bodies, tmp_path)
    _ours(url, "summarise")
    ours = url.rsplit("/", 1)[1]
    for view in SUMMARISED_VIEWS:
        _same_view(mariadb_service, deployed.name, ours, view)


def _switching_messages():
    """Summaries that collide with groups of other sources: a site that sent its jobs sends
    summaries of the same month (the summaries replace the jobs' groups), and a site sends
    summaries with ServiceLevel 0 beside its normalised summaries of the same keys (the
    normalised ones replace them)."""
    year, month = _last_month()
    rng = sample.rng_for(7)
    north = sample.SITES[0]
    north_jobs = sample.jobs(north, year, month, 40, rng)
    sample.jobs(sample.SITES[1], year, month, 30, rng)
    sample.jobs(sample.SITES[2], year, month, 20, rng)
    sample.jobs(EAST, year, month, 20, rng)
    norm_jobs = sample.jobs(NORMALISING, year, month, 20, rng)  # as in _messages: the same jobs
    switched = sample.summaries(north, year, month, north_jobs)
    for s in switched:  # the site's own database held more jobs than it sent
        s.NumberOfJobs += 1
        s.WallDuration += 100
    level_0 = sample.summaries(NORMALISING, year, month, norm_jobs)
    for s in level_0:
        s.ServiceLevel, s.NumberOfJobs = 0.0, s.NumberOfJobs + 5
    return [text.write_message(text.SUMMARY_V04, switched), text.write_message(text.SUMMARY_V04, level_0)]


def test_both_summarisers_keep_one_source_per_group(both, mariadb_service, tmp_path):
    """A group of job records and a received summary (or of a summary and a normalised summary)
    with the same key holds the summary (the normalised summary) in both, never the sum;
    incremental (the jobs summarised before the summaries came) and --full alike."""
    deployed, url = both
    bodies = _messages() + _switching_messages()
    assert deployed.load(bodies) == []
    deployed.step("summarise")
    _load_ours(url, bodies[:len(bodies) - 2], tmp_path)
    _ours(url, "summarise")  # the jobs summarised first: the summaries replace their groups
    _load_ours(url, bodies[len(bodies) - 2:], tmp_path)
    _ours(url, "summarise")
    ours = url.rsplit("/", 1)[1]
    for view in SUMMARISED_VIEWS:
        _same_view(mariadb_service, deployed.name, ours, view)
    _ours(url, "summarise", "--full")
    for view in SUMMARISED_VIEWS:
        _same_view(mariadb_service, deployed.name, ours, view)


def _cloud_messages():
    """VMs of one user and image with several CpuCounts, across two months (the second month's
    usage is the difference to the first's record); and a cloud summary a site sent."""
    year, month = _last_month()
    before = (year, month - 1) if month > 1 else (year - 1, 12)
    start, _ = month_bounds(*before)
    now, _ = month_bounds(year, month)
    records = []
    for n, cpus in enumerate([2, 2, 4, 0.5, 2]):
        common = dict(VMUUID=f"vm-{n}", SiteName="DEMO-CLOUD", CloudComputeService="nova.example.org",
                      FQAN="/atlas/Role=production", GlobalUserName="/CN=cloud user", CloudType="OpenStack",
                      ImageId="img-1", CpuCount=cpus, Memory=2048 * (n + 1), Disk=10 * (n + 1),
                      BenchmarkType="HEPSPEC", Benchmark=10.0, StartTime=start + 3600 * (n + 1))
        records.append(CLOUD.make(Status="started", RecordCreateTime=start + 86400, WallDuration=86400 - 3600 * n,
                                  CpuDuration=80000 - 3000 * n, NetworkInbound=100 * n, NetworkOutbound=10 * n,
                                  **common))
        records.append(CLOUD.make(Status="completed", RecordCreateTime=now + 86400 * (n + 1),
                                  EndTime=now + 86400 * (n + 1), WallDuration=10**6 + n, CpuDuration=9 * 10**5 + n,
                                  NetworkInbound=1000 * n, NetworkOutbound=100 * n, **common))
    return [text.write_message(text.CLOUD_V04, records)]


def test_both_cloud_summarisers_give_the_same_cloud_summaries(both_cloud, mariadb_service, tmp_path):
    """Grouped by CpuCount (each VM's, not summed) and not by CloudType, as SummariseVMs does."""
    deployed, url = both_cloud
    bodies = _cloud_messages()
    assert deployed.load(bodies) == []
    deployed.step("summarise_cloud")
    _load_ours(url, bodies, tmp_path)
    _ours(url, "summarise")
    ours = url.rsplit("/", 1)[1]
    _same_view(mariadb_service, deployed.name, ours, "VCloudSummaries")
    _ours(url, "summarise", "--full")
    _same_view(mariadb_service, deployed.name, ours, "VCloudSummaries")


# Not VSyncRecords: the deployed unloader cannot read it from the deployed schema either (its
# sync record refuses the view's UpdateTime: "Unknown field"); it counts sync records from
# VSuperSummaries, whose query tests/test_compat_views.py runs.
@pytest.mark.parametrize("view", ["VJobRecords", "VSummaries", "VSuperSummaries", "VNormalisedSuperSummaries"])
@pytest.mark.parametrize("dict_records", [False, True], ids=["legacy", "v0.4"])
def test_the_deployed_unloader_reads_our_views(both, mariadb_service, tmp_path, view, dict_records):
    deployed, url = both
    _load_ours(url, _messages(), tmp_path)
    _ours(url, "summarise")
    ours = Deployed(mariadb_service, url.rsplit("/", 1)[1], tmp_path, relaxed=False)
    qpath = tmp_path / "unloaded"
    unloaded = ours.step("unload", qpath=str(qpath), view=view, dict_records=dict_records, local=True)
    _, rows = _view(mariadb_service, ours.name, view)
    assert unloaded["records"] == len(rows) > 0
    outgoing = queues.outgoing_queue(qpath / "outgoing")
    bodies = [outgoing.get(name) for name in outgoing if outgoing.lock(name)]
    assert len(bodies) == unloaded["messages"]
    # what the deployed unloader wrote from our views loads back into the deployed server
    assert deployed.load([b.decode() if isinstance(b, bytes) else b for b in bodies]) == []



def test_the_deployed_unloader_publishes_only_what_is_new_from_our_database(both, mariadb_service, tmp_path):
    """interval = latest: it reads LastUpdated's 'sent' row and calls UpdateTimestamp('sent')."""
    deployed, url = both
    _load_ours(url, _messages(), tmp_path)
    ours = Deployed(mariadb_service, url.rsplit("/", 1)[1], tmp_path, relaxed=False)
    first = ours.step("unload", qpath=str(tmp_path / "first"), view="VJobRecords", local=True, latest=True)
    again = ours.step("unload", qpath=str(tmp_path / "again"), view="VJobRecords", local=True, latest=True)
    _, rows = _view(mariadb_service, ours.name, "VJobRecords")
    assert (first["records"], again["records"]) == (len(rows), 0)
