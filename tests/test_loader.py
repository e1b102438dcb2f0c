"""apel-load: messages from the incoming queue or files into the database, on SQLite and MariaDB."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools import loader as loading
from apeltools.demo import sample
from apeltools.errors import DataRejected
from apeltools.cli.load import main as apel_load
from apeltools.messaging import queues
from apeltools.records import accelerator, car, star, text
from apeltools.records.fields import month_bounds
from apeltools.records.message import parse_message
from apeltools.records.types import ACCELERATOR, CLOUD, CLOUD_SUMMARY, NORMALISED_SUMMARY, STORAGE
from apeltools.summariser import summarise
from tests.conftest import queue_elements

SIGNER = "/C=UK/O=eScience/OU=Demo/L=DEMO/CN=apel.north.example.org"
YEAR, MONTH = 2026, 10
SITE = sample.SITES[0]


def jobs(count=5, seed=1, first_id=1):
    return sample.jobs(SITE, YEAR, MONTH, count, sample.rng_for(seed), first_id)


def job_message(records=None, fmt=text.JOB_V03):
    return text.write_message(fmt, records if records is not None else jobs())


def load(db, *bodies, rejects=None, signer=SIGNER):
    loader = loading.Loader(db, rejects=rejects)
    items = [(loading.Message(body=b, signer=signer, empaid=f"m{i}"), lambda done: None)
             for i, b in enumerate(bodies)]
    return loader.run(items)


def rows(db, sql):
    return db.query(sql)


# -- every header loads, and the compatibility views return rows by name ----------------


def test_job_messages_of_every_version_load_into_vjobrecords(db):
    v03 = jobs(3, seed=1, first_id=1)
    v04 = jobs(3, seed=2, first_id=100)
    v02 = jobs(2, seed=3, first_id=200)
    legacy_v02 = job_message(v02).replace("v0.3", "v0.2", 1)
    tally = load(db, job_message(v03), job_message(v04, text.JOB_V04), legacy_v02)
    assert (tally.messages, tally.records, tally.rejected_records) == (3, 8, 0)
    got = rows(db, "SELECT LocalJobId, Site, VO, VOGroup, VORole, ServiceLevelType, ServiceLevel, "
                   "PublisherDN, WallDuration FROM VJobRecordsExt ORDER BY LocalJobId")
    # A v0.4 job's benchmark type is stored in lower case, as the deployed loader stores it.
    expected = sorted(
        (j.LocalJobId, j.Site, j.VO, j.VOGroup, j.VORole, j.ServiceLevelType.lower() if j in v04 else
         j.ServiceLevelType, j.ServiceLevel, SIGNER, j.WallDuration)
        for j in v03 + v04 + v02
    )
    assert sorted(got) == expected


def test_jobs_of_both_benchmark_syntaxes_summarise_into_one_group(db):
    """v0.3 jobs keep "HEPSPEC", v0.4 ones are stored "hepspec" (as the deployed loader stores them):
    the summariser still makes one group of them, spelt canonically (two rows differing only in case
    would collapse into one at a deployed repository, whose keys ignore case, and lose the other);
    incremental and --full agree."""
    records = jobs(12, seed=5)
    for j in records:
        j.ServiceLevelType, j.ServiceLevel = "HEPSPEC", 10.0
    load(db, job_message(records[:6]), job_message(records[6:], text.JOB_V04))
    assert sorted(r[0] for r in rows(db, "SELECT DISTINCT ServiceLevelType FROM VJobRecords")) == ["HEPSPEC", "hepspec"]
    summarise(db)
    query = "SELECT ServiceLevelType, SUM(NumberOfJobs), SUM(WallDuration) FROM VSuperSummaries GROUP BY ServiceLevelType"
    incremental = rows(db, query)
    assert incremental == [("HEPSPEC", 12, sum(j.WallDuration for j in records))]
    summarise(db, full=True)
    assert rows(db, query) == incremental


def test_job_times_are_stored_in_utc(db):
    job = jobs(1)[0]
    load(db, job_message([job]))
    start, end = rows(db, "SELECT StartTime, EndTime FROM VJobRecords")[0]
    as_text = lambda value: str(value)[:19]  # noqa: E731  (datetime on MySQL, text on SQLite)
    utc = lambda epoch: datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    assert (as_text(start), as_text(end)) == (utc(job.StartTime), utc(job.EndTime))


@pytest.mark.parametrize("fmt", [text.SUMMARY_V02, text.SUMMARY_V04])
def test_summaries_load_into_vsummaries(db, fmt):
    summaries = sample.summaries(SITE, YEAR, MONTH, jobs(40))
    load(db, text.write_message(fmt, summaries))
    got = rows(db, "SELECT SUM(NumberOfJobs), SUM(WallDuration), COUNT(*) FROM VSummaries")[0]
    assert tuple(int(v) for v in got) == (40, sum(s.WallDuration for s in summaries), len(summaries))


@pytest.mark.parametrize("fmt", [text.NORMALISED_V03, text.NORMALISED_V04])
def test_normalised_summaries_load_into_vnormalisedsummaries(db, fmt):
    record = NORMALISED_SUMMARY.make(
        Site="DEMO-A", Month=MONTH, Year=YEAR, VO="atlas", SubmitHost="ce.example.org",
        Infrastructure="grid", NodeCount=1, Processors=8, WallDuration=1000, CpuDuration=900,
        NormalisedWallDuration=15300, NormalisedCpuDuration=13770, NumberOfJobs=3,
        ServiceLevelType="HEPSPEC",
    )
    load(db, text.write_message(fmt, [record]))
    assert rows(db, "SELECT Site, VO, Infrastructure, NormalisedWallDuration, NumberOfJobs, ServiceLevelType "
                    "FROM VNormalisedSummaries") == [("DEMO-A", "atlas", "grid", 15300, 3, "HEPSPEC")]


def test_a_site_moving_from_v03_to_v04_normalised_summaries_replaces_its_rows(db):
    """Deliberate difference (README): a v0.3 normalised summary is stored with ServiceLevelType
    HEPSPEC, what v0.3 means, where the deployed loader stores "None". The benchmark type is part of
    the natural key, so the same group re-sent as v0.4 ({HEPSPEC: ...}) replaces the row; stored
    as "None" it would stay beside the v0.4 row and the month would count twice."""
    def group(jobs_count):
        return NORMALISED_SUMMARY.make(
            Site="DEMO-A", Month=MONTH, Year=YEAR, VO="atlas", SubmitHost="ce.example.org",
            Infrastructure="grid", NodeCount=1, Processors=8, WallDuration=1000 * jobs_count,
            CpuDuration=900 * jobs_count, NormalisedWallDuration=10000 * jobs_count,
            NormalisedCpuDuration=9000 * jobs_count, NumberOfJobs=jobs_count, ServiceLevelType="HEPSPEC")

    load(db, text.write_message(text.NORMALISED_V03, [group(3)]))
    query = "SELECT ServiceLevelType, NumberOfJobs, NormalisedWallDuration FROM VNormalisedSummaries"
    assert rows(db, query) == [("HEPSPEC", 3, 30000)]
    load(db, text.write_message(text.NORMALISED_V04, [group(5)]))  # the month's full totals, now in v0.4
    assert rows(db, query) == [("HEPSPEC", 5, 50000)]


def test_sync_records_load_into_vsyncrecords(db):
    records = sample.syncs(SITE, YEAR, MONTH, jobs(30))
    load(db, text.write_message(text.SYNC_V01, records))
    got = rows(db, "SELECT Site, SubmitHost, NumberOfJobs, Month, Year FROM VSyncRecords ORDER BY SubmitHost")
    assert got == [(r.Site, r.SubmitHost, r.NumberOfJobs, r.Month, r.Year) for r in records]


def cloud(status, measured, wall, vm="vm-1"):
    return CLOUD.make(VMUUID=vm, SiteName="DEMO-CLOUD", Status=status, RecordCreateTime=measured,
                      StartTime=measured - wall, WallDuration=wall, CpuCount=2,
                      FQAN="/atlas/Role=production", EndTime=measured if status == "completed" else None)


def test_cloud_records_keep_the_latest_measurement_of_a_vm_in_a_month(db):
    start, _ = month_bounds(YEAR, MONTH)
    newer = cloud("completed", start + 7200, 7000)
    older = cloud("started", start + 3600, 3500)
    load(db, text.write_message(text.CLOUD_V04, [newer]))
    load(db, text.write_message(text.CLOUD_V04, [older]))  # arrives late: must not win
    assert rows(db, "SELECT VMUUID, Status, WallDuration, SiteName FROM VCloudRecords") == [
        ("vm-1", "completed", 7000, "DEMO-CLOUD")
    ]


def test_cloud_summaries_load_into_vcloudsummaries(db):
    record = CLOUD_SUMMARY.make(SiteName="DEMO-CLOUD", Month=MONTH, Year=YEAR, VO="atlas", Status="completed",
                                WallDuration=3600, CpuCount=4, NumberOfVMs=2)
    load(db, text.write_message(text.CLOUD_SUMMARY_V04, [record]))
    assert rows(db, "SELECT SiteName, VO, NumberOfVMs, WallDuration FROM VCloudSummaries") == [
        ("DEMO-CLOUD", "atlas", 2, 3600)
    ]


def test_car_star_and_accelerator_messages_load(db):
    start, end = month_bounds(YEAR, MONTH)
    storage = STORAGE.make(RecordId="rec-1", CreateTime=end - 10, StorageSystem="se.example.org", Site="DEMO-A",
                           StartTime=start, EndTime=end - 10, ResourceCapacityUsed=10**12, Group="atlas")
    gpu = ACCELERATOR.make(MeasurementMonth=MONTH, MeasurementYear=YEAR, AssociatedRecordType="job",
                           AssociatedRecord="123.ce01", SiteName="DEMO-A", Count=2.0, AvailableDuration=3600,
                           Type="GPU", Model="A100")
    job_records = jobs(2, seed=9, first_id=900)
    tally = load(db, car.write(job_records), star.write([storage]), accelerator.write([gpu]))
    assert (tally.messages, tally.records, tally.rejected_records) == (3, 4, 0)
    assert rows(db, "SELECT RecordId, `Group`, ResourceCapacityUsed FROM VStarRecords") == [("rec-1", "atlas", 10**12)]
    assert rows(db, "SELECT SiteName, Model, ActiveDuration FROM VAcceleratorRecords") == [("DEMO-A", "A100", 3600)]
    assert sorted(r[0] for r in rows(db, "SELECT LocalJobId FROM VJobRecords")) == sorted(
        j.LocalJobId for j in job_records)


# -- replace by natural key --------------------------------------------------------------


def test_loading_the_same_message_twice_changes_nothing(db):
    body = job_message(jobs(20))
    load(db, body)
    before = rows(db, "SELECT * FROM JobRecords ORDER BY LocalJobId")
    load(db, body)
    after = rows(db, "SELECT * FROM JobRecords ORDER BY LocalJobId")
    strip_time = lambda table: [r[:-1] for r in table]  # noqa: E731  (UpdateTime may move on)
    assert strip_time(after) == strip_time(before)
    assert rows(db, "SELECT COUNT(*) FROM Sites")[0][0] == 1


def test_a_record_with_the_same_natural_key_replaces_the_stored_one(db):
    job = jobs(1)[0]
    load(db, job_message([job]))
    job.WallDuration, job.Queue = job.WallDuration + 100, "other"
    load(db, job_message([job]), signer="/CN=second publisher")
    assert rows(db, "SELECT WallDuration, Queue, PublisherDN FROM VJobRecordsExt") == [
        (job.WallDuration, "other", "/CN=second publisher")
    ]


def test_a_full_month_summary_replaces_the_previous_one(db):
    summaries = sample.summaries(SITE, YEAR, MONTH, jobs(10))
    load(db, text.write_message(text.SUMMARY_V02, summaries))
    for s in summaries:
        s.NumberOfJobs += 1
    load(db, text.write_message(text.SUMMARY_V02, summaries))
    assert rows(db, "SELECT SUM(NumberOfJobs), COUNT(*) FROM VSummaries")[0] == (10 + len(summaries), len(summaries))


def test_absent_names_are_stored_as_the_name_None(db):
    job = jobs(1)[0]
    job.SubmitHost = job.Queue = job.GlobalUserName = None
    load(db, job_message([job]))
    assert rows(db, "SELECT SubmitHost, Queue, GlobalUserName FROM VJobRecords") == [("None", "None", "None")]


def test_absent_texts_and_cloud_figures_are_stored_as_the_deployed_loader_stores_them(db):
    """The deployed loader stores an absent text as the text "None" (not NULL), and an absent
    cloud CpuCount and Benchmark as 0: jobs, cloud records, StAR records."""
    job = jobs(1)[0]
    job.LocalUserId = job.FQAN = job.InfrastructureType = None
    load(db, job_message([job]))
    assert rows(db, "SELECT LocalUserId, FQAN, InfrastructureType FROM VJobRecords") == [("None", "None", "None")]
    start, _ = month_bounds(YEAR, MONTH)
    load(db, text.write_message(text.CLOUD_V04, [CLOUD.make(VMUUID="vm-9", SiteName="DEMO-CLOUD",
                                                            RecordCreateTime=start + 60)]))
    assert rows(db, "SELECT MachineName, LocalUserId, LocalGroupId, FQAN, Status, NetworkType, BenchmarkType, "
                    "StorageRecordId, ImageId, CloudType, CpuCount, Benchmark FROM VCloudRecords") == [
        ("None",) * 10 + (0, 0)]

    load(db, star.write([STORAGE.make(RecordId="rec-1", CreateTime=start + 10, StorageSystem="se.example.org",
                                      StartTime=start, EndTime=start + 10, ResourceCapacityUsed=10)]))
    assert rows(db, "SELECT StorageShare, StorageMedia, StorageClass, DirectoryPath, LocalUser, LocalGroup, "
                    "UserIdentity, `Group`, Role, SubGroup FROM VStarRecords") == [("None",) * 10]


# -- bad input: rejected with reasons, the good records of the same message still load -------


BAD_CASES = {
    "missing mandatory field": ("LocalJobId: 3.ce01\n", "", "LocalJobId", "mandatory"),
    "bad integer": ("WallDuration: {wall}\n", "WallDuration: 1h\n", "WallDuration", "not an integer"),
    "end before start": ("EndTime: {end}\n", "EndTime: {start_minus}\n", "EndTime", "before StartTime"),
    "future time": ("EndTime: {end}\n", "EndTime: 4000000000\n", "EndTime", "future"),
    "unknown benchmark": ("ServiceLevelType: HEPscore23\n", "ServiceLevelType: bogomips\n", "ServiceLevelType",
                          "unknown benchmark"),
    "unknown field": ("Queue: ", "Colour: blue\nQueue: ", "Colour", "Unknown field"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_a_bad_record_is_rejected_with_its_reason_and_the_others_load(db, rejects, case):
    records = jobs(5)
    bad = records[2]
    old, new, field, reason = BAD_CASES[case]
    values = {"wall": bad.WallDuration, "end": bad.EndTime, "start_minus": bad.StartTime - 1}
    body = job_message(records)
    blocks = body.split("%%\n")
    blocks[2] = blocks[2].replace(old.format(**values), new.format(**values), 1)
    assert blocks[2] != body.split("%%\n")[2], "the test must really break the record"
    tally = load(db, "%%\n".join(blocks), rejects=rejects)
    assert (tally.records, tally.rejected_records) == (4, 1)
    assert sorted(r[0] for r in rows(db, "SELECT LocalJobId FROM VJobRecords")) == sorted(
        r.LocalJobId for i, r in enumerate(records) if i != 2)
    [element] = queue_elements(rejects)
    assert element["signer"] == SIGNER and element["empaid"] == "m0"
    assert "record 2" in element["error"] and field in element["error"] and reason in element["error"]
    assert element["error"].startswith("message m0: ")
    # The reject holds the bad record only, as a message that can be mended and loaded again.
    assert element["body"] == "APEL-individual-job-message: v0.3\n" + blocks[2].strip("\n") + "\n%%\n"


def _good_and_bad(fmt):
    """A message of ``fmt`` with two good records and one bad one between them, and the bad one's id."""
    if fmt == "text":
        body = job_message(jobs(3))
        return body.replace(f"LocalJobId: {jobs(3)[1].LocalJobId}\n", "LocalJobId: bad-1\nColour: blue\n"), "bad-1"
    if fmt == "CAR":
        body = car.write(jobs(3))
        start = body.index("<urf:UsageRecord>", body.index("<urf:UsageRecord>") + 1)
        end = body.index("</urf:UsageRecord>", start)
        record = body[start:end]
        broken = record.replace(f">{jobs(3)[1].LocalJobId}<", ">bad-1<").replace("<urf:WallDuration>PT", "<urf:WallDuration>PTx")
        return body[:start] + broken + body[end:], "bad-1"
    start, end = month_bounds(YEAR, MONTH)
    if fmt == "StAR":
        records = [STORAGE.make(RecordId=f"rec-{n}", CreateTime=end - 10, StorageSystem="se.example.org",
                                StartTime=start, EndTime=end - 10, ResourceCapacityUsed=10**12) for n in range(3)]
        return star.write(records).replace(">1000000000000<", ">1 TB<", 2).replace(">1 TB<", ">1000000000000<", 1), "rec-1"
    records = [ACCELERATOR.make(MeasurementMonth=MONTH, MeasurementYear=YEAR, AssociatedRecordType="job",
                                AssociatedRecord=f"job-{n}", SiteName="DEMO-A", Count=2.0, AvailableDuration=3600,
                                Type="GPU", Model="A100") for n in range(3)]
    return accelerator.write(records).replace('"job-1",\n', '"bad-1",\n  "Colour": "green",\n'), "bad-1"


@pytest.mark.parametrize("fmt", ["text", "CAR", "StAR", "JSON"])
def test_the_reject_of_any_format_holds_only_the_bad_records(db, rejects, fmt):
    """The good records load; the reject element's body is a message of the same format (text
    header, XML root, JSON envelope) holding only the bad record, which loads once mended."""
    body, bad = _good_and_bad(fmt)
    tally = load(db, body, rejects=rejects)
    assert (tally.records, tally.rejected_records) == (2, 1)
    [element] = queue_elements(rejects)
    kept = element["body"]
    assert bad in kept and kept[:1] == body[:1] and len(kept) < len(body) / 2
    again = parse_message(kept)
    assert (again.format, len(again.records), len(again.errors)) == (parse_message(body).format, 0, 1)


@pytest.mark.parametrize("fmt", ["text", "CAR", "StAR", "JSON"])
def test_a_record_refused_for_its_site_is_rejected_as_it_came(db, rejects, fmt):
    """apel-load --check-site enforce: a refused record goes to the reject message like a bad one
    (it was written empty for XML and JSON)."""
    body, bad = _good_and_bad(fmt)
    good_body = (body.replace(bad, "mended").replace("Colour: blue\n", "").replace('  "Colour": "green",\n', "")
                 .replace("<urf:WallDuration>PTx", "<urf:WallDuration>PT").replace(">1 TB<", ">1000000000000<"))
    assert not parse_message(good_body).errors
    loader = loading.Loader(db, rejects=rejects, site_check=lambda signer, records: [(records[0], "not yours")])
    tally = loader.run([(loading.Message(body=good_body, signer=SIGNER, empaid="m0"), lambda done: None)])
    assert (tally.records, tally.rejected_records) == (2, 1)
    [element] = queue_elements(rejects)
    assert "not yours" in element["error"]
    again = parse_message(element["body"])
    assert again.records == parse_message(good_body).records[:1] and again.errors == []


def test_month_13_in_a_summary_is_rejected(db, rejects):
    summaries = sample.summaries(SITE, YEAR, MONTH, jobs(10))
    body = text.write_message(text.SUMMARY_V02, summaries).replace(f"Month: {MONTH}\n", "Month: 13\n", 1)
    tally = load(db, body, rejects=rejects)
    assert (tally.records, tally.rejected_records) == (len(summaries) - 1, 1)
    assert "field Month: month must be 1..12, not 13" in queue_elements(rejects)[0]["error"]


def test_an_unknown_header_rejects_the_whole_message_and_keeps_it(db, rejects):
    body = "APEL-made-up-message: v0.1\nSite: X\n%%\n"
    tally = load(db, body, rejects=rejects)
    assert (tally.messages, tally.rejected_messages) == (0, 1)
    [element] = queue_elements(rejects)
    assert element["body"] == body
    assert "Message type APEL-made-up-message: v0.1 not recognised." in element["error"]
    assert rows(db, "SELECT Format, RecordCount, RejectedCount FROM LoadedMessages") == [("unrecognised", 0, 1)]


def test_an_empty_message_is_valid_and_loads_nothing(db):
    tally = load(db, "APEL-individual-job-message: v0.3\n%%\n")
    assert (tally.messages, tally.records, tally.rejected_messages) == (1, 0, 0)


def test_a_value_too_long_for_its_column_is_rejected_per_record(db, rejects):
    records = jobs(3)
    records[1].LocalUserId = "x" * 300
    tally = load(db, job_message(records), rejects=rejects)
    assert (tally.records, tally.rejected_records) == (2, 1)
    assert "field LocalUserId: longer than 255 characters" in queue_elements(rejects)[0]["error"]


def test_values_with_tabs_backslashes_and_non_ascii_text_are_stored_exactly(db):
    job = jobs(1)[0]
    job.LocalUserId = "usér\\with\ttab"
    job.GlobalUserName = "/C=DE/O=GermanGrid/CN=Jörg Müller \\N"
    load(db, job_message([job]))
    assert rows(db, "SELECT LocalUserId, GlobalUserName FROM VJobRecords") == [(job.LocalUserId, job.GlobalUserName)]


def test_a_crlf_message_with_crs_inside_values_stores_them_exactly(db):
    # A CRLF message skips LOAD DATA's escaping (its lines end at LF); a CR that ends no line is
    # part of its value and must be stored as it is, on every backend.
    records = jobs(3)
    records[0].LocalUserId = "a\rb"
    records[1].Queue = "q\r"
    body = job_message(records).replace("\n", "\r\n")
    decoded = parse_message(body).records
    assert [r.LocalUserId for r in decoded][:1] == ["a\rb"] and decoded[1].Queue == "q\r"
    assert parse_message(body).plain
    load(db, body)
    stored = dict(rows(db, "SELECT LocalJobId, LocalUserId FROM JobRecords"))
    assert stored == {r.LocalJobId: r.LocalUserId for r in decoded}
    queues = dict(rows(db, "SELECT LocalJobId, Queue FROM VJobRecords"))
    assert queues == {r.LocalJobId: r.Queue for r in decoded}


def test_no_garbage_collection_runs_while_a_batch_is_in_hand_and_the_collector_is_left_as_found(db):
    # A batch's records are all alive: a collection would walk them and free nothing (a sixth of
    # apel-load's CPU). Collection resumes after the run, also after a failure, and a caller
    # that had it off finds it off.
    import gc

    bodies = [job_message(jobs(1000, seed=n, first_id=1000 * n)) for n in range(3)]
    collections = []
    callback = lambda phase, info: phase == "start" and collections.append(info["generation"])  # noqa: E731
    gc.collect()
    gc.callbacks.append(callback)
    try:
        tally = load(db, *bodies)
    finally:
        gc.callbacks.remove(callback)
    assert (tally.records, collections, gc.isenabled()) == (3000, [], True)
    gc.disable()
    try:
        load(db, job_message(jobs(2)))
        assert not gc.isenabled()
    finally:
        gc.enable()
    broken = loading.Loader(db)
    broken.parse = lambda message: 1 / 0
    with pytest.raises(ZeroDivisionError):
        broken.run([(loading.Message(body=job_message(), signer=SIGNER, empaid="x"), lambda done: None)])
    assert gc.isenabled()


# -- several messages in one transaction ------------------------------------------------


def test_messages_of_a_type_are_stored_in_one_transaction_and_finished_after_its_commit(db, monkeypatch):
    # One commit for several messages (a flush to disk each on a default-settings server); an
    # element may only leave the queue once the transaction holding its records has committed.
    happened = []
    original = db.store_messages
    monkeypatch.setattr(db, "store_messages",
                        lambda rtype, messages, token=None: happened.append(("store", len(messages)))
                        or original(rtype, messages, token))
    job = jobs(1, first_id=7)[0]
    first = job_message([job] + jobs(3, seed=1, first_id=100))
    job.WallDuration += 100  # the same job again in a later message: that one must win
    second = job_message([job] + jobs(2, seed=2, first_id=200))
    items = [(loading.Message(body=body, signer=SIGNER, empaid=f"m{n}"), lambda done, n=n: happened.append((n, done)))
             for n, body in enumerate([first, "not a message", second, job_message(jobs(1, seed=3, first_id=300))])]
    tally = loading.Loader(db).run(items)
    # The message rejected whole commits what came before it first, so records keep queue order.
    assert happened == [("store", 1), (0, True), (1, True), ("store", 2), (2, True), (3, True)]
    assert (tally.messages, tally.records, tally.rejected_messages) == (3, 4 + 3 + 1, 1)
    assert rows(db, f"SELECT WallDuration FROM JobRecords WHERE LocalJobId = '{job.LocalJobId}'") == [
        (job.WallDuration,)]
    assert rows(db, "SELECT EmpaId, RecordCount, RejectedCount FROM LoadedMessages ORDER BY Id") == [
        ("m0", 4, 0), ("m1", 0, 1), ("m2", 3, 0), ("m3", 1, 0)]


def test_a_message_whose_values_the_database_refuses_is_rejected_alone(db, rejects, monkeypatch):
    # The database refuses a value of one message of a batch: only storing them one by one tells
    # which, and the others load.
    original = db.store_messages

    def refusing(rtype, messages, token=None):
        if any(r.LocalJobId == "refused" for records, *_ in messages for r in records):
            raise DataRejected("database refused the values: test")
        original(rtype, messages, token)

    monkeypatch.setattr(db, "store_messages", refusing)
    bad = jobs(2, seed=5, first_id=50)
    bad[1].LocalJobId = "refused"
    done = []
    items = [(loading.Message(body=body, signer=SIGNER, empaid=f"m{n}"), lambda ok, n=n: done.append((n, ok)))
             for n, body in enumerate([job_message(jobs(2, first_id=1)), job_message(bad),
                                       job_message(jobs(3, seed=6, first_id=60))])]
    tally = loading.Loader(db, rejects=rejects).run(items)
    assert done == [(0, True), (1, True), (2, True)]
    assert (tally.messages, tally.records, tally.rejected_messages) == (2, 5, 1)
    assert rows(db, "SELECT COUNT(*) FROM JobRecords") == [(5,)]
    assert rows(db, "SELECT EmpaId FROM LoadedMessages ORDER BY Id") == [("m0",), ("m2",)]
    [rejected] = queue_elements(rejects)
    assert rejected["empaid"] == "m1" and "refused the values" in rejected["error"]


def test_messages_in_hand_stay_queued_when_their_transaction_fails(db, monkeypatch):
    def failing(rtype, messages, token=None):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(db, "store_messages", failing)
    done = []
    items = [(loading.Message(body=job_message(jobs(1, seed=n, first_id=n)), signer=SIGNER),
              lambda ok, n=n: done.append((n, ok))) for n in range(3)]
    with pytest.raises(RuntimeError):
        loading.Loader(db).run(items)
    assert done == [(0, False), (1, False), (2, False)]


# -- the queue --------------------------------------------------------------------------


def put(incoming, body, signer=SIGNER, empaid=None):
    element = {"body": body, "signer": signer}
    if empaid:
        element["empaid"] = empaid
    return incoming.add(element)


def test_loading_the_incoming_queue_empties_it(db, incoming, rejects, tmp_path):
    for n in range(3):
        put(incoming, job_message(jobs(4, seed=n, first_id=100 * n)), empaid=f"e{n}")
    accepted = queues.incoming_queue(tmp_path / "accepted")
    loader = loading.Loader(db, rejects=rejects, accepted=accepted)
    tally = loading.load_queue(loader, incoming)
    assert (tally.messages, tally.records) == (3, 12)
    assert incoming.count() == 0 and rejects.count() == 0
    assert sorted(e["empaid"] for e in queue_elements(accepted)) == ["e0", "e1", "e2"]
    assert sorted(r[0] for r in rows(db, "SELECT EmpaId FROM LoadedMessages")) == ["e0", "e1", "e2"]
    assert rows(db, "SELECT Type FROM LastUpdated") == [("loader",)]


def test_loaded_elements_are_removed_beside_the_loading_and_all_of_them_before_it_returns(db, incoming,
                                                                                        monkeypatch):
    # A removal waits on the file system (5 ms an element on the development machine); the loader
    # goes on meanwhile, and every element it loaded is gone when load_queue returns.
    for n in range(4):
        put(incoming, job_message(jobs(3, seed=n, first_id=10 * n)), empaid=f"e{n}")
    removed, original = [], queues.remove

    def slow_remove(queue, name):
        time.sleep(0.05)
        removed.append(threading.current_thread() is not threading.main_thread())
        original(queue, name)

    monkeypatch.setattr(queues, "remove", slow_remove)
    tally = loading.load_queue(loading.Loader(db), incoming)
    assert tally.messages == 4 and removed == [True] * 4 and incoming.count() == 0
    assert rows(db, "SELECT COUNT(*) FROM JobRecords") == [(12,)]


def test_a_message_that_is_not_utf8_is_rejected_not_stuck(db, incoming, rejects):
    name = put(incoming, "placeholder")
    with open(os.path.join(incoming.path, name, "body"), "wb") as handle:
        handle.write(b"APEL-sync-message: v0.1\nSite: caf\xe9\n%%\n")
    tally = loading.load_queue(loading.Loader(db, rejects=rejects), incoming)
    assert tally.rejected_messages == 1 and incoming.count() == 0
    assert "not UTF-8" in queue_elements(rejects)[0]["error"]


def test_a_stop_request_leaves_unloaded_messages_in_the_queue(db, incoming, rejects):
    for n in range(6):
        put(incoming, job_message(jobs(2, seed=n, first_id=10 * n)))
    loader = loading.Loader(db, rejects=rejects)
    loader.stop.set()
    loading.load_queue(loader, incoming)
    assert incoming.count() == 6
    assert all(incoming.lock(name) for name in incoming)  # nothing left locked


# -- the program ------------------------------------------------------------------------


def test_apel_load_files_and_stdin(db_url, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(job_message(jobs(3, seed=1, first_id=1)))
    second.write_text(job_message(jobs(3, seed=2, first_id=50)))
    stdin = job_message(jobs(2, seed=3, first_id=90))
    result = CliRunner().invoke(apel_load, ["--db", db_url, "--signer", "/CN=me", str(first), str(second), "-"],
                                input=stdin)
    assert result.exit_code == 0, result.output
    with databases.connect(db_url) as db:
        assert rows(db, "SELECT COUNT(*), MIN(PublisherDN) FROM VJobRecordsExt") == [(8, "/CN=me")]


def test_apel_load_save_accepted_from_files_and_stdin_writes_an_empaid(db_url, tmp_path):
    """formats.md §5: every element carries an empaid (the deployed loader reads element["empaid"]
    and stops its pass without one); a message from a file has no empa-id: it is named after
    the file, the n-th message of a stream as FILE#n, stdin as "stdin"."""
    single, stream = tmp_path / "a.txt", tmp_path / "stream.txt"
    single.write_text(job_message(jobs(2, seed=1, first_id=1)))
    stream.write_text(job_message(jobs(2, seed=2, first_id=50)) + job_message(jobs(2, seed=4, first_id=70)))
    result = CliRunner().invoke(apel_load, ["--db", db_url, "--signer", "/CN=me", "--save-accepted",
                                            str(tmp_path / "accepted"), str(single), str(stream), "-"],
                                input=job_message(jobs(2, seed=3, first_id=90)))
    assert result.exit_code == 0, result.output
    saved = queue_elements(queues.incoming_queue(tmp_path / "accepted"))
    assert sorted(e["empaid"] for e in saved) == sorted([str(single), f"{stream}#1", f"{stream}#2", "stdin"])
    assert {e["signer"] for e in saved} == {"/CN=me"}


def test_apel_load_files_with_rejects_and_no_reject_queue_exits_1(db_url, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(job_message(jobs(2)).replace("WallDuration: ", "WallDuration: x", 1))
    result = CliRunner().invoke(apel_load, ["--db", db_url, str(path)])
    assert result.exit_code == 1
    assert "record 0" in result.output and "WallDuration" in result.output
    assert "Error: 1 records and 0 messages were rejected" in result.output


def test_apel_load_on_a_database_without_schema_says_how_to_create_it(tmp_path):
    result = CliRunner().invoke(apel_load, ["--db", f"sqlite:///{tmp_path}/empty.db", "-"], input="")
    assert result.exit_code == 1
    assert "has no apeltools schema: create it with 'apeltools db init" in result.output


def test_apel_load_refuses_a_password_in_the_url():
    result = CliRunner().invoke(apel_load, ["--db", "mysql://apel:secret@localhost/apel", "-"], input="")
    assert result.exit_code == 1 and "do not put the database password in the URL" in result.output


def test_apel_load_help_shows_an_example():
    result = CliRunner().invoke(apel_load, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "apel-load --db" in result.output


def test_apel_load_daemon_loads_what_arrives_and_stops_cleanly_on_sigterm(db_url, tmp_path):
    incoming = queues.incoming_queue(tmp_path / "in")
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull)
    process = subprocess.Popen(
        [sys.executable, "-m", "apeltools.cli.load", "--db", db_url, "--queue", str(tmp_path / "in"),
         "--reject", str(tmp_path / "rej"), "--daemon", "--interval", "0.2", "-v"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        put(incoming, job_message(jobs(5)), empaid="late")
        deadline = time.monotonic() + 30
        while incoming.count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert incoming.count() == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "loaded late from" in stderr and "loader daemon stopping" in stderr
    with databases.connect(db_url) as db:
        assert rows(db, "SELECT COUNT(*) FROM JobRecords") == [(5,)]
