"""The views other tools read: the deployed schemas' columns, the deployed unloader's queries, and values."""

import datetime as dt
from decimal import Decimal

import pytest

from apeltools import db as databases
from apeltools.db.publish_state import set_watermark
from apeltools.db.schema import applied_versions, migrate, migrations
from apeltools.publisher import Options, publish
from apeltools.records.fields import month_bounds
from apeltools.records.message import parse_message
from apeltools.records.types import CLOUD, JOB, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC
from apeltools.summariser import summarise
from tests.test_schema import columns

SIGNER = "/CN=apel.example.org"

# Every view of the deployed server.sql, server-extra.sql, cloud.sql and storage.sql, with its
# columns in order, as the deployed schemas loaded into MariaDB have them (formats.md §4).
COMPAT = {
    "VJobRecords": [
        "UpdateTime", "Site", "SubmitHost", "MachineName", "Queue", "LocalJobId", "LocalUserId",
        "GlobalUserName", "FQAN", "VO", "VOGroup", "VORole", "WallDuration", "CpuDuration", "Processors",
        "NodeCount", "StartTime", "EndTime", "InfrastructureDescription", "InfrastructureType", "MemoryReal",
        "MemoryVirtual", "ServiceLevelType", "ServiceLevel"],
    "VSummaries": [
        "UpdateTime", "Site", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost",
        "InfrastructureType", "InfrastructureDescription", "ServiceLevelType", "ServiceLevel", "NodeCount",
        "Processors", "EarliestEndTime", "LatestEndTime", "WallDuration", "CpuDuration", "NumberOfJobs"],
    "VNormalisedSummaries": [
        "UpdateTime", "Site", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost",
        "Infrastructure", "InfrastructureDescription", "ServiceLevelType", "NodeCount", "Processors",
        "EarliestEndTime", "LatestEndTime", "WallDuration", "CpuDuration", "NormalisedWallDuration",
        "NormalisedCpuDuration", "NumberOfJobs"],
    "VSyncRecords": ["UpdateTime", "Site", "SubmitHost", "NumberOfJobs", "Month", "Year"],
    "VUserSummaries": [
        "Year", "Month", "Site", "VO", "GlobalUserName", "VOGroup", "VORole", "TotalWallDuration",
        "TotalCpuDuration", "NormalisedWallDuration", "NormalisedCpuDuration", "TotalNumberOfJobs",
        "EarliestEndTime", "LatestEndTime"],
    "VHepSpecHistory": ["Site", "HepSpec06", "NumberOfJobs", "Year", "Month", "EarliestEndDate", "LatestEndDate"],
    "VSpecIntHistory": ["ExecutingSite", "SpecInt2000", "Njobs", "Month", "Year", "RecordStart", "RecordEnd"],
    "VSumCPU": [
        "ExecutingSite", "LCGUserVO", "Njobs", "SumCPU", "NormSumCPU", "SumWCT", "NormSumWCT", "Month", "Year",
        "RecordStart", "RecordEnd"],
    "VUserCPU": [
        "ExecutingSite", "LCGUserVO", "UserDN", "PrimaryGroup", "PrimaryRole", "Njobs", "SumCPU", "NormSumCPU",
        "SumWCT", "NormSumWCT", "Month", "Year", "RecordStart", "RecordEnd"],
    "VLcgRecordsSync_v2": [
        "RecordIdentity", "ExecutingSite", "Njobs", "Ndays", "RecordStart", "RecordEnd", "MeasurementDate",
        "MeasurementTime"],
    "VCloudRecords": [
        "UpdateTime", "RecordCreateTime", "VMUUID", "SiteName", "CloudComputeService", "MachineName",
        "LocalUserId", "LocalGroupId", "GlobalUserName", "FQAN", "VO", "VOGroup", "VORole", "Status", "StartTime",
        "EndTime", "MeasurementTime", "MeasurementMonth", "MeasurementYear", "SuspendDuration", "WallDuration",
        "CpuDuration", "CpuCount", "NetworkType", "NetworkInbound", "NetworkOutbound", "PublicIPCount", "Memory",
        "Disk", "BenchmarkType", "Benchmark", "StorageRecordId", "ImageId", "CloudType"],
    "VCloudSummaries": [
        "UpdateTime", "SiteName", "CloudComputeService", "Month", "Year", "GlobalUserName", "VO", "VOGroup",
        "VORole", "Status", "CloudType", "ImageId", "EarliestStartTime", "LatestStartTime", "WallDuration",
        "CpuDuration", "CpuCount", "NetworkInbound", "NetworkOutbound", "Memory", "Disk", "BenchmarkType",
        "Benchmark", "NumberOfVMs"],
    "VAnonCloudRecords": [
        "UpdateTime", "VMUUID", "SiteName", "CloudComputeService", "MachineName", "LocalUserId", "LocalGroupId",
        "GlobalUserNameID", "FQAN", "VO", "Status", "StartTime", "EndTime", "SuspendDuration", "WallDuration",
        "CpuDuration", "CpuCount", "NetworkType", "NetworkInbound", "NetworkOutbound", "PublicIPCount", "Memory",
        "Disk", "BenchmarkType", "Benchmark", "StorageRecordId", "ImageId", "CloudType"],
    "VStarRecords": [
        "CreateTime", "RecordId", "StorageSystem", "Site", "StorageShare", "StorageMedia", "StorageClass",
        "FileCount", "DirectoryPath", "LocalUser", "LocalGroup", "UserIdentity", "Group", "Role", "SubGroup",
        "StartTime", "EndTime", "ResourceCapacityUsed", "LogicalCapacityUsed", "ResourceCapacityAllocated"],
}
COMPAT["VSuperSummaries"] = COMPAT["VSummaries"]
COMPAT["VNormalisedSuperSummaries"] = COMPAT["VNormalisedSummaries"]

# Ours: a compatibility view's columns and what apeltools adds after them.
OURS = {
    "VJobRecordsExt": COMPAT["VJobRecords"] + ["PublisherDN"],
    "VSummariesExt": COMPAT["VSummaries"] + ["PublisherDN"],
    "VNormalisedSummariesExt": COMPAT["VNormalisedSummaries"] + ["PublisherDN"],
    "VSyncRecordsExt": COMPAT["VSyncRecords"] + ["PublisherDN"],
    "VCloudRecordsExt": COMPAT["VCloudRecords"] + ["PublisherDN"],
    "VCloudSummariesExt": COMPAT["VCloudSummaries"] + ["PublisherDN"],
    "VStarRecordsExt": COMPAT["VStarRecords"] + ["PublisherDN", "UpdateTime"],
    "VNormalisedSuperSummariesExt": [
        "InfrastructureType" if c == "Infrastructure" else c for c in COMPAT["VNormalisedSuperSummaries"]],
}


@pytest.mark.parametrize("view", sorted(COMPAT))
def test_each_compatibility_view_has_the_deployed_columns_in_order(db, view):
    assert columns(db, view) == COMPAT[view]


@pytest.mark.parametrize("view", sorted(OURS))
def test_our_views_add_to_the_compatibility_columns(db, view):
    assert columns(db, view) == OURS[view]


# -- the deployed unloader ------------------------------------------------------------------

# The fields each record class of the deployed unloader takes from a row (its database fields
# and those it accepts and ignores); any other column stops it ("Unknown field").
JOB_FIELDS = set(COMPAT["VJobRecords"]) | {"SubmitHostType"}
SUMMARY_FIELDS = set(COMPAT["VSummaries"])
NORMALISED_FIELDS = set(COMPAT["VNormalisedSummaries"])
SYNC_FIELDS = {"Site", "SubmitHost", "NumberOfJobs", "Month", "Year"}
CLOUD_FIELDS = set(COMPAT["VCloudRecords"])
CLOUD_SUMMARY_FIELDS = set(COMPAT["VCloudSummaries"])
STORAGE_FIELDS = set(COMPAT["VStarRecords"])

# The SQL the deployed unloader sends (SELECT * over a view, its WHERE clause built from the
# interval, the VO lists and the infrastructure), written out as it sends it: literals
# inlined, double-quoted VO lists, 'grid' unless local jobs are unloaded. Its sync messages are
# counted from VSuperSummaries. (It cannot unload VSyncRecords itself, whose UpdateTime its sync
# record does not accept, nor VNormalised* views without local jobs, which have no
# InfrastructureType column: the same on the deployed schema.)
UNLOADER_QUERIES = [
    ("all jobs", "SELECT * FROM VJobRecords WHERE InfrastructureType = 'grid'", JOB_FIELDS),
    ("latest jobs", "SELECT * FROM VJobRecords WHERE VO IN (\"atlas\",\"cms\") AND InfrastructureType = 'grid' "
                    "AND UpdateTime > '2000-01-01 00:00:00'", JOB_FIELDS),
    ("gap jobs", "SELECT * FROM VJobRecords WHERE VO NOT IN (\"dteam\") AND InfrastructureType = 'grid' "
                 "AND EndTime > '2026-10-01 00:00:00' AND EndTime <= '2026-11-01 00:00:00'", JOB_FIELDS),
    ("latest summaries", "SELECT * FROM VSummaries WHERE UpdateTime > '2000-01-01 00:00:00'", SUMMARY_FIELDS),
    ("latest super summaries", "SELECT * FROM VSuperSummaries WHERE InfrastructureType = 'grid' "
                               "AND EarliestEndTime >= '2026-10-01 00:00:00'", SUMMARY_FIELDS),
    ("all super summaries", "SELECT * FROM VSuperSummaries", SUMMARY_FIELDS),
    ("latest normalised summaries", "SELECT * FROM VNormalisedSummaries WHERE UpdateTime > '2000-01-01 00:00:00'",
     NORMALISED_FIELDS),
    ("latest normalised super summaries", "SELECT * FROM VNormalisedSuperSummaries "
                                          "WHERE EarliestEndTime >= '2026-10-01 00:00:00'", NORMALISED_FIELDS),
    ("sync", "SELECT Site, SubmitHost, sum(NumberOfJobs) AS NumberOfJobs, Month, Year FROM VSuperSummaries  "
             "WHERE InfrastructureType = 'grid' GROUP BY Site, SubmitHost, Month, Year ORDER BY NULL", SYNC_FIELDS),
    ("latest cloud", "SELECT * FROM VCloudRecords WHERE UpdateTime > '2000-01-01 00:00:00'", CLOUD_FIELDS),
    ("all cloud summaries", "SELECT * FROM VCloudSummaries", CLOUD_SUMMARY_FIELDS),
    ("all storage", "SELECT * FROM VStarRecords", STORAGE_FIELDS),
]


def at(text):
    """Epoch seconds of a UTC 'YYYY-MM-DD HH:MM:SS'."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())


def grid_job(number, dn, fqan, level_type, level, wall, cpu, end):
    record = JOB.make(
        Site="SITE-A", LocalJobId=str(number), SubmitHost="ce1.example.org", GlobalUserName=dn, FQAN=fqan,
        WallDuration=wall, CpuDuration=cpu, Processors=1, NodeCount=1, StartTime=at(end) - wall, EndTime=at(end),
        InfrastructureType="grid", InfrastructureDescription="APEL-ARC-SLURM", ServiceLevelType=level_type,
        ServiceLevel=level)
    JOB.check(record, record.EndTime)
    return record


# Hand-picked: two normalised durations end in exactly .5 (37810.5 and 12512.5), a SpecInt2000
# benchmark equals a HEPSPEC06 one (2500 / 250 = 10.0), and CPU hours end in .5.
JOBS = [
    grid_job(1, "/CN=alice", "/atlas/Role=production", "HEPSPEC", 10.5, 3601, 1800, "2026-10-05 12:00:00"),
    grid_job(2, "/CN=alice", "/atlas/Role=production", "si2k", 2500.0, 7200, 7200, "2026-10-20 08:00:00"),
    grid_job(3, "/CN=alice", "/atlas/Role=production", "HEPSPEC", 12.5, 1001, 0, "2026-10-31 23:00:00"),
    grid_job(4, "/CN=alice", "/atlas/Role=production", "HEPSPEC", 10.0, 100, 0, "2026-10-10 00:00:00"),
    grid_job(5, "/CN=bob", "/cms", "HEPSPEC", 10.0, 5400, 5400, "2026-11-02 06:00:00"),
]


def load(db):
    """The jobs above, a summary, a normalised summary, sync counts, a VM and a storage record."""
    db.store(JOB, JOBS, SIGNER)
    start, end = month_bounds(2026, 10)
    db.store(SUMMARY, [SUMMARY.make(
        Site="SITE-B", Month=10, Year=2026, GlobalUserName="/CN=carol", VO="lhcb", SubmitHost="ce2.example.org",
        InfrastructureType="grid", ServiceLevelType="HEPSPEC", ServiceLevel=8.0, NodeCount=1, Processors=1,
        EarliestEndTime=start + 60, LatestEndTime=end - 60, WallDuration=36000, CpuDuration=30000,
        NumberOfJobs=9)], SIGNER)
    db.store(NORMALISED_SUMMARY, [NORMALISED_SUMMARY.make(
        Site="SITE-C", Month=10, Year=2026, VO="lhcb", SubmitHost="ce3.example.org", Infrastructure="grid",
        NodeCount=1, Processors=1, EarliestEndTime=start + 60, LatestEndTime=end - 60, WallDuration=1000,
        CpuDuration=900, NormalisedWallDuration=10000, NormalisedCpuDuration=9000, NumberOfJobs=4,
        ServiceLevelType="HEPSPEC")], SIGNER)
    db.store(SYNC, [SYNC.make(Site="SITE-A", SubmitHost="ce1.example.org", NumberOfJobs=4, Month=10, Year=2026),
                    SYNC.make(Site="SITE-A", SubmitHost="ce9.example.org", NumberOfJobs=3, Month=10, Year=2026)],
             SIGNER)
    db.store(CLOUD, [CLOUD.make(
        VMUUID="vm-1", SiteName="CLOUD-A", Status="completed", RecordCreateTime=start + 7200, StartTime=start,
        EndTime=start + 7200, WallDuration=7200, CpuDuration=7000, CpuCount=2, Memory=4096,
        FQAN="/atlas/Role=production", CloudType="OpenStack", ImageId="img-1")], SIGNER)
    db.store(STORAGE, [STORAGE.make(
        RecordId="r1", CreateTime=start + 10, StorageSystem="se.example.org", Site="SITE-A", StartTime=start,
        EndTime=start + 10, ResourceCapacityUsed=123456789, Group="atlas")], SIGNER)
    summarise(db)


@pytest.mark.parametrize("name, sql, fields", UNLOADER_QUERIES, ids=[q[0] for q in UNLOADER_QUERIES])
def test_the_deployed_unloaders_queries_return_rows_it_can_map(db, name, sql, fields):
    load(db)
    found = db.query_dicts(sql)
    assert found, f"{name}: no rows"
    for row in found:
        assert set(row) <= fields, f"{name}: fields the deployed records do not know: {set(row) - fields}"


def plain(value):
    """A view value as it compares across backends: Decimals and whole floats as numbers, dates as text."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return str(value)
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return value


def view_rows(db, sql):
    return sorted(tuple(plain(v) for v in row) for row in db.query(sql))


ALICE = ("/CN=alice", "/atlas", "Role=production")
BOB = ("/CN=bob", "/cms", "None")


def test_user_summaries_sum_hours_per_user_and_month(db):
    load(db)
    # alice, October: normalised wall 37811 + 72000 + 12513 + 1000 (each row rounded half up),
    # normalised CPU 18900 + 72000; seconds / 3600 with two decimals.
    assert view_rows(db, "SELECT * FROM VUserSummaries WHERE Site = 'SITE-A'") == [
        (2026, 10, "SITE-A", "atlas", ALICE[0], ALICE[1], ALICE[2], 11902, 9000, 34.26, 25.25, 4,
         "2026-10-05 12:00:00", "2026-10-31 23:00:00"),
        (2026, 11, "SITE-A", "cms", BOB[0], BOB[1], BOB[2], 5400, 5400, 15, 15, 1,
         "2026-11-02 06:00:00", "2026-11-02 06:00:00"),
    ]


def test_benchmark_histories_count_jobs_per_benchmark_value(db):
    load(db)
    # si2k 2500 is HEPSPEC06 10, counted with the HEPSPEC 10.0 job of the same month.
    assert view_rows(db, "SELECT * FROM VHepSpecHistory WHERE Site = 'SITE-A'") == [
        ("SITE-A", 10, 1, 2026, 11, "2026-11-02", "2026-11-02"),
        ("SITE-A", 10, 2, 2026, 10, "2026-10-10", "2026-10-20"),
        ("SITE-A", 10.5, 1, 2026, 10, "2026-10-05", "2026-10-05"),
        ("SITE-A", 12.5, 1, 2026, 10, "2026-10-31", "2026-10-31"),
    ]
    assert view_rows(db, "SELECT * FROM VSpecIntHistory WHERE ExecutingSite = 'SITE-A'") == [
        ("SITE-A", 2500, 1, 11, 2026, "2026-11-02", "2026-11-02"),
        ("SITE-A", 2500, 2, 10, 2026, "2026-10-10", "2026-10-20"),
        ("SITE-A", 2625, 1, 10, 2026, "2026-10-05", "2026-10-05"),
        ("SITE-A", 3125, 1, 10, 2026, "2026-10-31", "2026-10-31"),
    ]


def test_cpu_views_give_whole_hours_and_normalised_hours_in_si2k_thousands(db):
    load(db)
    # alice: CPU 9000 s = 2.5 h -> 3; wall 11902 s -> 3; normalised CPU 90900 / 14400 = 6.31 -> 6;
    # normalised wall 123324 / 14400 = 8.56 -> 9. bob: 1.5 h -> 2; 54000 / 14400 = 3.75 -> 4.
    assert view_rows(db, "SELECT * FROM VSumCPU WHERE ExecutingSite = 'SITE-A'") == [
        ("SITE-A", "atlas", 4, 3, 6, 3, 9, 10, 2026, "2026-10-05", "2026-10-31"),
        ("SITE-A", "cms", 1, 2, 4, 2, 4, 11, 2026, "2026-11-02", "2026-11-02"),
    ]
    assert view_rows(db, "SELECT * FROM VUserCPU WHERE ExecutingSite = 'SITE-A'") == [
        ("SITE-A", "atlas", *ALICE, 4, 3, 6, 3, 9, 10, 2026, "2026-10-05", "2026-10-31"),
        ("SITE-A", "cms", *BOB, 1, 2, 4, 2, 4, 11, 2026, "2026-11-02", "2026-11-02"),
    ]


def test_normalised_super_summaries_sum_benchmark_values_of_rounded_rows(db):
    load(db)
    # HEPSPEC rows of alice's October: 37810.5 -> 37811, 12512.5 -> 12513, 1000 (not the sum
    # 51323 rounded); the si2k row is a group of its own.
    got = view_rows(db, "SELECT Site, VO, ServiceLevelType, Infrastructure, WallDuration, CpuDuration, "
                        "NormalisedWallDuration, NormalisedCpuDuration, NumberOfJobs, EarliestEndTime, "
                        "LatestEndTime FROM VNormalisedSuperSummaries WHERE Site = 'SITE-A'")
    assert got == [
        ("SITE-A", "atlas", "HEPSPEC", "grid", 4702, 1800, 51324, 18900, 3,
         "2026-10-05 12:00:00", "2026-10-31 23:00:00"),
        ("SITE-A", "atlas", "si2k", "grid", 7200, 7200, 72000, 72000, 1,
         "2026-10-20 08:00:00", "2026-10-20 08:00:00"),
        ("SITE-A", "cms", "HEPSPEC", "grid", 5400, 5400, 54000, 54000, 1,
         "2026-11-02 06:00:00", "2026-11-02 06:00:00"),
    ]


def test_sync_view_counts_per_site_and_month(db):
    load(db)
    (newest,) = db.query("SELECT MAX(UpdateTime) FROM VSyncRecords")[0]
    newest = str(newest)
    assert view_rows(db, "SELECT * FROM VLcgRecordsSync_v2") == [
        ("SITE-A-2026-10", "SITE-A", 7, None, None, None, newest[:10], newest[11:19])]


def test_anonymous_cloud_records_carry_the_dn_id_not_the_dn(db):
    load(db)
    (dn_id,) = db.query("SELECT id FROM DNs WHERE name = 'None'")[0]
    assert db.query("SELECT VMUUID, GlobalUserNameID, VO FROM VAnonCloudRecords") == [("vm-1", dn_id, "atlas")]


def test_a_database_at_migration_003_gets_the_views_when_migrated(db_url, tmp_path):
    """migrate is incremental: a database made before 004 keeps its data and gets the views."""
    url = f"sqlite:///{tmp_path}/old.db" if db_url.startswith("sqlite") else db_url + "_003"
    try:
        with databases.connect(url) as db:
            db.create_database()
            applied_before = applied_versions(db)
            for version, name, path in migrations(db.dialect)[:3]:
                db.executescript(path.read_text(encoding="utf-8"))
                db.execute("INSERT INTO SchemaMigrations (Version, Name, AppliedAt) VALUES (?, ?, ?)",
                           (version, name, "2026-01-01 00:00:00"))
            assert applied_before == set() and "PublisherDN" in columns(db, "VJobRecords")
            # A job as apel-load stored it then (today's code writes what later migrations add).
            ids = {table: db.lookup_ids(table, [name])[name] for table, name in (
                ("Sites", "SITE-A"), ("SubmitHosts", "ce1"), ("MachineNames", "None"), ("Queues", "None"),
                ("DNs", SIGNER), ("VOs", "atlas"), ("VOGroups", "/atlas"), ("VORoles", "None"))}
            db.execute(
                "INSERT INTO JobRecords (SiteID, SubmitHostID, MachineNameID, QueueID, LocalJobId, "
                "GlobalUserNameID, VOID, VOGroupID, VORoleID, WallDuration, CpuDuration, StartTime, EndTime, "
                "ServiceLevelType, ServiceLevel, EndYear, EndMonth, PublisherDNID) "
                "VALUES (?, ?, ?, ?, '1', ?, ?, ?, ?, 60, 30, '2026-10-01 00:00:00', '2026-10-01 00:01:00', "
                "'HEPSPEC', 10.0, 2026, 10, ?)",
                (ids["Sites"], ids["SubmitHosts"], ids["MachineNames"], ids["Queues"], ids["DNs"], ids["VOs"],
                 ids["VOGroups"], ids["VORoles"], ids["DNs"]))

            assert migrate(db)[0] == "004_compat_views.sql"
            for view, expected in list(COMPAT.items()) + list(OURS.items()):
                assert columns(db, view) == expected
            assert db.query("SELECT LocalJobId, PublisherDN FROM VJobRecordsExt") == [("1", SIGNER)]
    finally:
        if url.startswith("mysql"):
            with databases.connect(url) as db:
                db.execute(f"DROP DATABASE `{url.rsplit('/', 1)[1]}`")


def test_latest_publishes_a_normalised_summary_whole_when_one_of_its_rows_changed(db):
    """A receiver replaces a normalised summary by its key: when new jobs change one benchmark
    value's row of it, the next ``latest`` publish carries the whole summary, not that row."""
    load(db)
    db.execute("UPDATE SuperSummaries SET UpdateTime = '2026-01-01 00:00:00'")
    set_watermark(db, "normalised-summaries", "test", at("2026-03-01 00:00:00"))
    # What adding jobs to alice's HEPSPEC 12.5 row of October does to it (and not to her other rows).
    db.execute("UPDATE SuperSummaries SET UpdateTime = '2026-06-01 00:00:00' WHERE ServiceLevel = 12.5")
    bodies = []
    publish(db, ["normalised-summaries"], bodies.append, "test", Options(sync=False))
    published = [r for body in bodies for r in parse_message(body).records]
    assert [(r.Site, r.Month, r.VO, r.NumberOfJobs, r.NormalisedWallDuration, r.WallDuration)
            for r in published] == [("SITE-A", 10, "atlas", 3, 51324, 4702)]


@pytest.mark.parametrize("db_url", [pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_the_deployed_unloaders_timestamp_procedure_marks_what_was_sent(db):
    """The deployed unloader with "interval = latest" calls UpdateTimestamp('sent') and reads the
    row back in its next run; it compares it with the views' UpdateTime in its own session."""
    db.execute("CALL UpdateTimestamp('sent')")
    db.execute("CALL UpdateTimestamp('sent')")
    (row,) = db.query("SELECT Type, UpdateTime, UpdateTime <= NOW() FROM LastUpdated WHERE Type = 'sent'")
    assert row[0] == "sent" and row[2] == 1
