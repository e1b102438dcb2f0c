"""apel-publish: records out as messages; loading them elsewhere reproduces the same summaries."""

import dataclasses
import os
import random
import tempfile

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools import loader as loading
from apeltools.cli.publish import main as apel_publish
from apeltools.db import publish_state as state
from apeltools.db.schema import migrate
from apeltools.messaging import queues
from apeltools.publisher import Options, publish
from apeltools.records.fields import month_bounds
from apeltools.records.message import parse_message
from apeltools.records.types import ACCELERATOR, CLOUD, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC, JOB
from apeltools.summariser import summarise
from tests.test_summariser import cloud, job, normalised, summary

SIGNER = "/CN=apel.example.org"
SUPER = ("SELECT Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost, InfrastructureType, "
         "InfrastructureDescription, ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime, "
         "LatestEndTime, WallDuration, CpuDuration, NumberOfJobs FROM VSuperSummaries")


def rows(db, sql):
    return sorted(tuple(str(v) for v in row) for row in db.query(sql))


def fill(db, seed=1):
    rng = random.Random(seed)
    jobs = [job(rng, rng.choice(["SITE-A", "SITE-B"]), 2026, rng.choice([8, 9]), n) for n in range(120)]
    db.store(JOB, jobs, SIGNER)
    db.store(SUMMARY, [summary(rng, "SITE-C", 2026, 9) for _ in range(5)], SIGNER)
    db.store(NORMALISED_SUMMARY, [normalised(rng, "SITE-D", 2026, 9)], SIGNER)
    september, _ = month_bounds(2026, 9)
    db.store(CLOUD, [cloud("vm-1", "completed", september + 7200, 7000)], SIGNER)
    db.store(STORAGE, [STORAGE.make(RecordId="r1", CreateTime=september + 10, StorageSystem="se.example.org",
                                    Site="SITE-A", StartTime=september, EndTime=september + 10,
                                    ResourceCapacityUsed=123456789)], SIGNER)
    db.store(ACCELERATOR, [ACCELERATOR.make(MeasurementMonth=9, MeasurementYear=2026, AssociatedRecordType="job",
                                            AssociatedRecord="1.ce", SiteName="SITE-A", Count=1.0,
                                            AvailableDuration=60, Type="GPU", Model="T4")], SIGNER)
    summarise(db)
    return jobs


def second_database(tmp_path, db_url):
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/second.db"
    else:
        url = db_url + "_2"
    with databases.connect(url) as db:
        db.create_database()
        migrate(db)
    return url


def load_all(url, bodies):
    with databases.connect(url) as db:
        loader = loading.Loader(db)
        tally = loader.run([(loading.Message(body=b, signer=SIGNER), lambda done: None) for b in bodies])
        assert tally.rejected_records == 0 and tally.rejected_messages == 0
        summarise(db)
        return db


@pytest.mark.parametrize("sources, syntax", [
    (["jobs"], False),
    (["jobs"], True),
    (["summaries"], False),
    (["summaries"], True),
])
def test_publishing_and_loading_elsewhere_reproduces_vsupersummaries(db, db_url, tmp_path, sources, syntax):
    fill(db)
    if sources == ["jobs"]:
        db.execute("DELETE FROM Summaries")
        db.execute("DELETE FROM NormalisedSummaries")
        summarise(db, full=True)
    bodies = []
    publish(db, sources, bodies.append, "test", Options(interval="all", local_jobs=True, dict_syntax=syntax,
                                                         per_message=37))
    url = second_database(tmp_path, db_url)
    try:
        with databases.connect(url) as second:
            load_all(url, bodies)
            assert rows(second, SUPER) == rows(db, SUPER)
            assert rows(second, "SELECT * FROM VSyncRecords")[:0] == []  # sync rows arrive too:
            assert second.query("SELECT COUNT(*) FROM SyncRecords")[0][0] > 0
    finally:
        if url.startswith("mysql"):
            with databases.connect(url) as second:
                second.execute(f"DROP DATABASE `{url.rsplit('/', 1)[1]}`")


@pytest.mark.parametrize("source, view", [
    ("normalised-summaries", "SELECT Site, Month, Year, VO, SubmitHost, NormalisedWallDuration, NumberOfJobs "
                             "FROM VNormalisedSummaries"),
    ("received-summaries", "SELECT Site, Month, Year, VO, WallDuration, NumberOfJobs FROM VSummaries"),
    ("cloud", "SELECT VMUUID, SiteName, Status, WallDuration FROM VCloudRecords"),
    ("cloud-summaries", "SELECT SiteName, Month, Status, WallDuration, NumberOfVMs FROM VCloudSummaries"),
    ("storage", "SELECT RecordId, Site, ResourceCapacityUsed FROM VStarRecords"),
    ("accelerator", "SELECT SiteName, Model, Count FROM VAcceleratorRecords"),
    ("sync", "SELECT Site, SubmitHost, NumberOfJobs, Month, Year FROM VSyncRecords"),
])
def test_every_source_round_trips_through_its_wire_format(db, db_url, tmp_path, source, view):
    fill(db)
    db.store(*_sync_records(db), SIGNER)
    bodies = []
    # The sample has HEPscore23 and si2k jobs, which only the v0.4 normalised syntax can carry.
    publish(db, [source], bodies.append, "test", Options(interval="all", local_jobs=True, sync=False,
                                                         dict_syntax=source == "normalised-summaries"))
    assert bodies, f"{source} published nothing"
    url = second_database(tmp_path, db_url)
    try:
        with databases.connect(url) as second:
            with databases.connect(url) as loading_db:
                loader = loading.Loader(loading_db)
                loader.run([(loading.Message(body=b, signer=SIGNER), lambda done: None) for b in bodies])
                assert loader.tally.rejected_records == 0
            if source == "normalised-summaries":
                # Months run under several benchmark values become one normalised summary.
                expected = db.query(
                    "SELECT Site, Month, Year, VO, SubmitHost, SUM(NormalisedWallDuration), SUM(NumberOfJobs) "
                    "FROM VNormalisedSuperSummaries GROUP BY Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, "
                    "SubmitHost, Infrastructure, NodeCount, Processors, ServiceLevelType")
                expected = [tuple(int(v) if i >= 5 else v for i, v in enumerate(row)) for row in expected]
                assert sorted(map(str, second.query(view))) == sorted(map(str, expected))
            elif source == "cloud-summaries":
                assert rows(second, view) == rows(db, view)
            else:
                assert rows(second, view) == rows(db, view)
    finally:
        if url.startswith("mysql"):
            with databases.connect(url) as second:
                second.execute(f"DROP DATABASE `{url.rsplit('/', 1)[1]}`")


def _sync_records(db):
    from apeltools.records.types import SYNC

    return SYNC, [SYNC.make(Site="SITE-A", SubmitHost="ce1.example.org", NumberOfJobs=12, Month=9, Year=2026)]


def test_latest_publishes_only_what_changed_since_the_last_publish(db):
    rng = random.Random(4)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, n) for n in range(10)], SIGNER)
    first, second, third = [], [], []
    publish(db, ["jobs"], first.append, "q", Options(local_jobs=True, sync=False))
    assert sum(len(parse_message(b).records) for b in first) == 10
    # Within the watermark margin a row may be published again (receivers replace by key),
    # but nothing is ever missed: move the watermark back past the margin to see new rows only.
    mark = state.get_watermark(db, "jobs", "q")
    state.set_watermark(db, "jobs", "q", db.now() + 1)
    publish(db, ["jobs"], second.append, "q", Options(local_jobs=True, sync=False))
    assert second == []
    state.set_watermark(db, "jobs", "q", mark)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 100)], SIGNER)
    publish(db, ["jobs"], third.append, "q", Options(local_jobs=True, sync=False))
    published = [r.LocalJobId for b in third for r in parse_message(b).records]
    assert "100" in published


def test_gap_publishing_selects_by_time_and_vo_filters_apply(db):
    rng = random.Random(5)
    db.store(JOB, [job(rng, "SITE-A", 2026, 8, 1, FQAN="/atlas"), job(rng, "SITE-A", 2026, 9, 2, FQAN="/atlas"),
                   job(rng, "SITE-A", 2026, 9, 3, FQAN="/cms")], SIGNER)
    september, october = month_bounds(2026, 9)
    bodies = []
    publish(db, ["jobs"], bodies.append, "q", Options(interval="gap", start=september, end=october,
                                                      include_vos=("atlas",), local_jobs=True, sync=False))
    assert [r.LocalJobId for b in bodies for r in parse_message(b).records] == ["2"]


def test_local_jobs_are_left_out_unless_asked_for(db):
    rng = random.Random(6)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 1, InfrastructureType="local"),
                   job(rng, "SITE-A", 2026, 9, 2, InfrastructureType="grid")], SIGNER)
    bodies = []
    publish(db, ["jobs"], bodies.append, "q", Options(interval="all", sync=False))
    assert [r.LocalJobId for b in bodies for r in parse_message(b).records] == ["2"]


def test_withholding_dns_merges_summaries_that_then_share_a_key(db):
    rng = random.Random(7)
    a = summary(rng, "SITE-A", 2026, 9, GlobalUserName="/CN=one", NumberOfJobs=3, InfrastructureType="grid")
    b = summary(rng, "SITE-A", 2026, 9, GlobalUserName="/CN=two", NumberOfJobs=4, InfrastructureType="grid",
                VO=a.VO, Processors=a.Processors, ServiceLevel=a.ServiceLevel)
    db.store(SUMMARY, [a, b], SIGNER)
    summarise(db)
    bodies = []
    publish(db, ["summaries"], bodies.append, "q", Options(interval="all", withhold_dns=True, sync=False))
    [record] = [r for body in bodies for r in parse_message(body).records]
    assert (record.GlobalUserName, record.NumberOfJobs) == (None, 7)


def test_sync_records_follow_published_months(db):
    rng = random.Random(8)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, n, InfrastructureType="grid") for n in range(7)], SIGNER)
    summarise(db)
    bodies = []
    publish(db, ["jobs"], bodies.append, "q", Options(interval="all"))
    sync = [r for b in bodies if b.startswith("APEL-sync-message") for r in parse_message(b).records]
    assert sum(r.NumberOfJobs for r in sync) == 7 and {(r.Year, r.Month) for r in sync} == {(2026, 9)}


def test_apel_publish_writes_to_an_outgoing_queue(db_url, tmp_path):
    with databases.connect(db_url) as db:
        fill(db)
    result = CliRunner().invoke(apel_publish, ["summaries", "--db", db_url, "--queue", str(tmp_path / "out"),
                                               "--interval", "all", "--records-per-message", "5", "-v"])
    assert result.exit_code == 0, result.output
    outgoing = queues.outgoing_queue(tmp_path / "out")
    assert outgoing.count() > 1 and "published" in result.output
    name = next(iter(outgoing))
    outgoing.lock(name)
    assert outgoing.get(name).decode().startswith("APEL-summary-job-message: v0.2\n")


def test_apel_publish_checks_its_options(db_url):
    runner = CliRunner()
    assert runner.invoke(apel_publish, ["jobs", "--db", db_url, "--stdout", "--interval", "gap"]).exit_code == 2
    assert runner.invoke(apel_publish, ["jobs", "--db", db_url]).exit_code == 2
    assert runner.invoke(apel_publish, ["jobs", "--db", db_url, "--stdout", "--records-per-message", "5001"]).exit_code == 2
    out = runner.invoke(apel_publish, ["jobs", "--db", db_url, "--stdout", "--interval", "all"])
    assert out.exit_code == 0 and out.output == ""


# -- watermarks per source and destination ----------------------------------------------------


def drain(queue_dir):
    """The bodies of an outgoing queue's messages, which are taken out of it."""
    outgoing = queues.outgoing_queue(queue_dir)
    bodies = []
    for name in list(outgoing):
        if outgoing.lock(name):
            bodies.append(outgoing.get(name).decode())
            outgoing.remove(name)
    return bodies


def counts(bodies):
    """{header: records} of messages."""
    found = {}
    for body in bodies:
        header = body.split("\n", 1)[0]
        found[header] = found.get(header, 0) + len(parse_message(body).records)
    return found


def age(db, seconds):
    """Make every summary row look updated ``seconds`` ago (past the watermark's margin)."""
    for table in ("Summaries", "NormalisedSummaries", "SuperSummaries"):
        db.execute(f"UPDATE {table} SET UpdateTime = {db.TIME_MARK}", (db.now() - seconds,))


@pytest.fixture
def short_dir():
    """A directory with a short path, to build queue paths of an exact length in."""
    path = tempfile.mkdtemp(prefix="c2", dir="/tmp")
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("length", [42, 55])
def test_latest_keeps_a_watermark_per_source_with_long_queue_paths(db_url, short_dir, length):
    # Before migration 006 the watermark was "publish <source> <queue>" cut to 50 characters:
    # with a 40+ character path the summary sources shared one, and the first publish hid the
    # others' rows for good.
    with databases.connect(db_url) as db:
        rng = random.Random(11)
        db.store(SUMMARY, [summary(rng, "SITE-C", 2026, 9, InfrastructureType="grid", VO=vo)
                           for vo in ("atlas", "cms", "lhcb")], SIGNER)
        summarise(db)
        age(db, 1000)
    queue = os.path.join(short_dir, "q" * (length - len(short_dir) - 1))
    assert len(queue) == length
    runner = CliRunner()

    def run(*sources):
        result = runner.invoke(apel_publish, [*sources, "--db", db_url, "--queue", queue, "--no-sync"])
        assert result.exit_code == 0, result.output
        return counts(drain(queue))

    assert run("summaries") == {"APEL-summary-job-message: v0.2": 3}
    # Several sources in one call, each from its own watermark.
    assert run("received-summaries", "normalised-summaries") == {
        "APEL-summary-job-message: v0.2": 3, "APEL-summary-job-message: v0.3": 3}
    assert run("summaries", "received-summaries", "normalised-summaries") == {}
    # Another spelling of the same queue is the same destination.
    result = runner.invoke(apel_publish, ["summaries", "--db", db_url, "--queue", queue + "/./", "--no-sync"])
    assert result.exit_code == 0 and drain(queue) == []


def test_watermarks_kept_before_migration_006_are_adopted_unless_their_name_was_cut(db):
    rng = random.Random(12)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, n, InfrastructureType="grid") for n in range(4)], SIGNER)
    long_queue = "/var/spool/apel/" + "o" * 40
    db.set_mark("publish jobs /q", db.now() + 10)  # whole name: adopted
    db.set_mark(f"publish jobs {long_queue}"[-50:], db.now() + 10)  # cut: perhaps another source's
    first, second = [], []
    publish(db, ["jobs"], first.append, "/q", Options(sync=False))
    publish(db, ["jobs"], second.append, long_queue, Options(sync=False))
    assert first == [] and sum(len(parse_message(b).records) for b in second) == 4
    assert state.get_watermark(db, "jobs", "/q") is not None
    assert db.query("SELECT Type FROM LastUpdated WHERE Type LIKE 'publish jobs /q%'") == []


# -- syntaxes ---------------------------------------------------------------------------------


def test_legacy_normalised_summaries_are_v03_and_other_benchmarks_are_refused(db_url):
    with databases.connect(db_url) as db:
        rng = random.Random(13)
        db.store(JOB, [job(rng, "SITE-A", 2026, 9, n, InfrastructureType="grid", ServiceLevelType="HEPSPEC",
                           ServiceLevel=10.0) for n in range(6)], SIGNER)
        summarise(db)
    runner = CliRunner()
    args = ["normalised-summaries", "--db", db_url, "--stdout", "--interval", "all", "--no-sync"]
    result = runner.invoke(apel_publish, [*args, "--syntax", "legacy"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("APEL-summary-job-message: v0.3\n")
    message = parse_message(result.stdout)
    assert message.rtype is NORMALISED_SUMMARY and not message.errors
    assert sum(r.NumberOfJobs for r in message.records) == 6
    assert {r.ServiceLevelType for r in message.records} == {"HEPSPEC"}
    assert runner.invoke(apel_publish, args).stdout == result.stdout  # legacy is the default

    with databases.connect(db_url) as db:
        db.store(JOB, [job(rng, "SITE-A", 2026, 9, 99, InfrastructureType="grid", ServiceLevelType="HEPscore23",
                           ServiceLevel=15.0)], SIGNER)
        summarise(db)
    refused = runner.invoke(apel_publish, [*args, "--syntax", "legacy"])
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "HEPscore23" in refused.stderr and "--syntax v0.4" in refused.stderr
    modern = runner.invoke(apel_publish, [*args, "--syntax", "v0.4"])
    assert modern.exit_code == 0 and modern.stdout.startswith("APEL-normalised-summary-message: v0.4\n")
    assert "{HEPscore23: " in modern.stdout


# -- groups that corrected records emptied ------------------------------------------------------

TOTALS = "SELECT SUM(NumberOfJobs), SUM(WallDuration), SUM(CpuDuration) FROM VSuperSummaries"
GROUPS = ("SELECT Site, Month, Year, VO, SubmitHost, NumberOfJobs, WallDuration FROM VSuperSummaries "
          "WHERE NumberOfJobs > 0")


def load_queue_into(url, queue_dir):
    """Load every message of an outgoing queue into the database at ``url``, then summarise."""
    bodies = drain(queue_dir)
    with databases.connect(url) as db:
        loader = loading.Loader(db)
        loader.run([(loading.Message(body=b, signer=SIGNER), lambda done: None) for b in bodies])
        assert loader.tally.rejected_records == 0 and loader.tally.rejected_messages == 0
        summarise(db)
    return bodies


@pytest.mark.parametrize("source", ["summaries", "normalised-summaries"])
def test_a_published_group_that_corrected_records_empty_is_zeroed_at_the_receiver(db_url, tmp_path, source):
    rng = random.Random(14)

    def jobs(first, count, vo, host):
        return [job(rng, "SITE-A", 2026, 9, n, FQAN=None, VO=vo, SubmitHost=host, InfrastructureType="grid",
                    ServiceLevelType="HEPSPEC", ServiceLevel=10.0, Processors=1, NodeCount=1,
                    GlobalUserName="/CN=user") for n in range(first, first + count)]

    wrong = jobs(10, 5, "cms", "ce2.example.org")
    with databases.connect(db_url) as db:
        db.store(JOB, jobs(0, 10, "atlas", "ce1.example.org") + wrong, SIGNER)
        summarise(db)
    receiver = second_database(tmp_path, db_url)
    queue = str(tmp_path / "out")
    publish_args = [source, "--db", db_url, "--queue", queue]
    try:
        assert CliRunner().invoke(apel_publish, publish_args).exit_code == 0
        load_queue_into(receiver, queue)
        # The cms jobs were wrongly attributed: corrected, they are atlas jobs of ce1, and the
        # group (cms, ce2) and the sync count of ce2 have no jobs any more.
        with databases.connect(db_url) as db:
            db.store(JOB, [dataclasses.replace(r, VO="atlas", SubmitHost="ce1.example.org") for r in wrong], SIGNER)
            summarise(db)
            sender_totals = db.query(TOTALS)[0]
            sender_groups = rows(db, GROUPS)
        result = CliRunner().invoke(apel_publish, publish_args)
        assert result.exit_code == 0, result.output
        bodies = load_queue_into(receiver, queue)
        with databases.connect(receiver) as second:
            assert [int(v) for v in second.query(TOTALS)[0]] == [int(v) for v in sender_totals]
            assert rows(second, GROUPS) == sender_groups
            sync = dict(second.query("SELECT SubmitHost, NumberOfJobs FROM VSyncRecords"))
            assert sync == {"ce1.example.org": 15, "ce2.example.org": 0}
        # What went: the group and the sync count with zero jobs, no end times (optional for
        # the deployed loader too), the key as published before.
        zeroed = [r for b in bodies for r in parse_message(b).records if r.NumberOfJobs == 0]
        assert {(getattr(r, "VO", None), r.SubmitHost) for r in zeroed} == {
            ("cms", "ce2.example.org"), (None, "ce2.example.org")}
        assert all(r.EarliestEndTime is None and r.WallDuration == 0 for r in zeroed if r.record_type is not SYNC)
        # Sent once: the destination has the zero group now.
        with databases.connect(db_url) as db:
            age(db, 1000)
        assert CliRunner().invoke(apel_publish, publish_args).exit_code == 0
        assert drain(queue) == []
    finally:
        if receiver.startswith("mysql"):
            with databases.connect(receiver) as second:
                second.execute(f"DROP DATABASE `{receiver.rsplit('/', 1)[1]}`")
