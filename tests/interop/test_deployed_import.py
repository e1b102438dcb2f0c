"""apeltools db import-apel from the deployed schema files themselves (dev only).

Skipped unless APELTOOLS_DEPLOYED_APEL names a checkout of github.com/apel/apel (only its
schemas/ are used, loaded with the mysql client as test_deployed.py does). The deployed
server schema is filled through its own stored procedures (ReplaceJobRecord, ReplaceSummary,
ReplaceNormalisedSummary, ReplaceSyncRecord) and summarised by its own SummariseJobs,
NormaliseSummaries and CopyNormalisedSummaries; the import must bring every row over with
the values its views show, and find no difference with its super-summaries.
"""

import os

import pytest

from apeltools import db as databases
from apeltools.importer import Importer
from tests.interop.test_deployed import deployed_and_ours

APEL_SRC = os.environ.get("APELTOOLS_DEPLOYED_APEL", "")
DN = "/C=UK/O=eScience/CN=apel.north.example.org"
USER = "/C=UK/O=eScience/CN=user one"

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not APEL_SRC, reason="set APELTOOLS_DEPLOYED_APEL to run"),
]


def _databases(mariadb_service, monkeypatch, *schemas):
    """(the service, a deployed database built from ``schemas``, our database URL), dropped after."""
    for theirs, url in deployed_and_ours(mariadb_service, monkeypatch, *schemas):
        yield mariadb_service, theirs, url


@pytest.fixture
def deployed(mariadb_service, monkeypatch):
    """A deployed server database (server.sql and server-extra.sql) and ours."""
    yield from _databases(mariadb_service, monkeypatch, "server.sql", "server-extra.sql")


def _fill(mariadb, name):
    conn = mariadb.connect(name)
    try:
        cursor = conn.cursor()
        for n in range(20):
            cursor.callproc("ReplaceJobRecord", (
                "UKI-NORTH", "ce.north.example.org:8443/cream-pbs-long", "ce.north.example.org", "long",
                f"{n}.batch", "atlas001", USER, "/atlas/Role=production", "atlas", "/atlas", "Role=production",
                3600 + n, 3000 + n, 1, 1, f"2024-03-{1 + n:02d} 10:00:00", f"2024-03-{1 + n:02d} 11:00:00",
                "APEL-CREAM-PBS", "grid", 1000, 2000, "HEPSPEC", "10.125", DN))
        cursor.callproc("ReplaceSummary", (
            "UKI-SOUTH", 2, 2024, USER, "cms", "/cms", "None", "ce.south.example.org", "grid", "APEL-SLURM",
            "HEPSPEC", "8.5", 1, 4, "2024-02-01 00:00:00", "2024-02-28 00:00:00", 7200, 7000, 3, DN))
        cursor.callproc("ReplaceNormalisedSummary", (
            "UKI-WEST", 1, 2024, USER, "lhcb", "/lhcb", "None", "ce.west.example.org", "grid", "APEL-SLURM",
            "HEPscore23", 1, 4, "2024-01-01 00:00:00", "2024-01-28 00:00:00", 100, 90, 1500, 1350, 2, DN))
        cursor.callproc("ReplaceSyncRecord", ("UKI-NORTH", "ce.north.example.org:8443/cream-pbs-long", 20, 3, 2024, DN))
        for procedure in ("SummariseJobs", "NormaliseSummaries", "CopyNormalisedSummaries"):
            cursor.callproc(procedure, ())
        conn.commit()
    finally:
        conn.close()


def _rows(mariadb, name, sql):
    conn = mariadb.connect(name)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def test_a_deployed_server_database_comes_over_with_its_view_values(deployed):
    mariadb, theirs, ours = deployed
    _fill(mariadb, theirs)

    with databases.connect(f"{mariadb.url}/{theirs}") as source, databases.connect(ours) as target:
        report = Importer(source, target).run()

    assert report.layout == "repository"
    assert report.issues == []
    assert report.differences == []
    columns = ("Site, SubmitHost, MachineName, Queue, LocalJobId, LocalUserId, GlobalUserName, FQAN, VO, VOGroup, "
               "VORole, WallDuration, CpuDuration, Processors, NodeCount, StartTime, EndTime, "
               "InfrastructureDescription, InfrastructureType, MemoryReal, MemoryVirtual, ServiceLevelType, "
               "CAST(ServiceLevel AS DECIMAL(10,3))")
    query = f"SELECT {columns} FROM VJobRecords ORDER BY LocalJobId"
    ours_name = ours.rsplit("/", 1)[1]
    assert _rows(mariadb, ours_name, query) == _rows(mariadb, theirs, query)
    for view, order in (("VSummaries", "Site"), ("VNormalisedSummaries", "Site"), ("VSyncRecords", "Site")):
        names = [d for d in _rows(mariadb, theirs, f"SHOW COLUMNS FROM {view}") if d[0] != "UpdateTime"]
        selected = ", ".join(f"CAST({n[0]} AS DECIMAL(10,3))" if n[0] == "ServiceLevel" else n[0] for n in names)
        sql = f"SELECT {selected} FROM {view} ORDER BY {order}"
        assert _rows(mariadb, ours_name, sql) == _rows(mariadb, theirs, sql), view


@pytest.fixture
def deployed_client(mariadb_service, monkeypatch):
    """A deployed client database (client.sql) and ours."""
    yield from _databases(mariadb_service, monkeypatch, "client.sql")


def test_a_deployed_client_database_comes_over_joined_and_unjoined(deployed_client):
    mariadb, theirs, ours = deployed_client
    ce = "ce.north.example.org:8443/cream-pbs-long"
    conn = mariadb.connect(theirs)
    try:
        cursor = conn.cursor()
        cursor.execute("SET SESSION sql_mode = ''")
        cursor.callproc("SpecUpdate", ("UKI-NORTH", ce, "HEPSPEC", "2024-01-01 00:00:00", "10.125"))
        for n in range(5):
            end = f"2024-03-{1 + n:02d} 11:00:00"
            cursor.callproc("InsertEventRecord", (
                "UKI-NORTH", f"{n}.pbs", "atlas001", "atlas", 3600, 3000, f"2024-03-{1 + n:02d} 10:00:00", end,
                "APEL-CREAM-PBS", "ce.north.example.org", "long", 1000, 2000, 1, 1))
            if n < 4:  # the last batch job has no blah record yet
                cursor.callproc("InsertBlahdRecord", (
                    f"2024-03-{1 + n:02d} 09:59:00", USER, "/atlas/Role=production", "atlas", "/atlas",
                    "Role=production", ce, f"CREAM{n}", f"{n}.pbs", "UKI-NORTH", f"2024-02-{1 + n:02d} 09:59:00",
                    f"2024-03-{28:02d} 09:59:00", 0))
        cursor.callproc("JoinJobRecords", ())
        cursor.callproc("UpdateTimestamp", ("sent",))
        conn.commit()
    finally:
        conn.close()

    with databases.connect(f"{mariadb.url}/{theirs}") as source, databases.connect(ours) as target:
        report = Importer(source, target).run()

    assert report.layout == "site"
    assert report.issues == []
    assert {name: t.imported for name, t in report.tables.items()} == {
        "JobRecords": 4, "EventRecords": 5, "BlahdRecords": 4, "SpecRecords": 1}
    ours_name = ours.rsplit("/", 1)[1]
    query = ("SELECT Site, SubmitHost, MachineName, Queue, LocalJobId, GlobalUserName, FQAN, VO, WallDuration, "
             "StartTime, EndTime, InfrastructureType, ServiceLevelType, CAST(ServiceLevel AS DECIMAL(10,3)) "
             "FROM VJobRecords ORDER BY LocalJobId")
    assert _rows(mariadb, ours_name, query) == _rows(mariadb, theirs, query)
    assert _rows(mariadb, ours_name, "SELECT LocalJobId, JoinStatus FROM BatchRecords ORDER BY LocalJobId") == [
        ("0.pbs", 0), ("1.pbs", 0), ("2.pbs", 0), ("3.pbs", 0), ("4.pbs", 1)]
    assert _rows(mariadb, ours_name, "SELECT CE, ServiceLevelType, ServiceLevel FROM SpecHistory") == [
        (ce, "HEPSPEC", 10.125)]
