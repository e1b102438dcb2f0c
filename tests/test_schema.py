"""The schema: migrations, compatibility views, lookup tables and strict SQL on both backends."""

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.cli.db import main as db_command
from apeltools.db.rows import plan_for
from apeltools.db.schema import migrate, migrations, status
from apeltools.errors import DatabaseError
from apeltools.records.types import RECORD_TYPES

# Our views of each record type: the compatibility views' columns (tests/test_compat_views.py)
# and what apeltools keeps besides.
VIEWS = {
    "job": "VJobRecordsExt", "summary": "VSummariesExt", "normalised_summary": "VNormalisedSummariesExt",
    "sync": "VSyncRecordsExt", "cloud": "VCloudRecordsExt", "cloud_summary": "VCloudSummariesExt",
    "storage": "VStarRecordsExt", "accelerator": "VAcceleratorRecords",
}


def columns(db, relation):
    cursor = db.conn.cursor()
    cursor.execute(f"SELECT * FROM `{relation}` WHERE 1 = 0")
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    cursor.close()
    return names


def test_both_dialects_have_the_same_numbered_migrations():
    assert [name for _, name, _ in migrations("mysql")] == [name for _, name, _ in migrations("sqlite")]
    assert [version for version, _, _ in migrations("mysql")] == list(range(1, len(migrations("mysql")) + 1))


def test_migrating_twice_changes_nothing(db):
    assert migrate(db) == []
    assert all(applied for _, applied in status(db))


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_each_view_has_the_record_types_field_names(db, name):
    rtype = RECORD_TYPES[name]
    expected = [f.name for f in rtype.fields]
    got = columns(db, VIEWS[name])
    assert set(expected) <= set(got)
    assert "UpdateTime" in got and "PublisherDN" in got


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_each_table_has_the_columns_the_row_plan_writes(db, name):
    plan = plan_for(RECORD_TYPES[name])
    assert set(plan.columns) <= set(columns(db, plan.rtype.table))


def test_super_summary_views_have_the_names_publishing_and_queries_read(db):
    base = ["Site", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost",
            "InfrastructureType", "NodeCount", "Processors", "EarliestEndTime", "LatestEndTime",
            "WallDuration", "CpuDuration", "NumberOfJobs"]
    assert set(base + ["ServiceLevelType", "ServiceLevel"]) <= set(columns(db, "VSuperSummaries"))
    assert set(base + ["NormalisedWallDuration", "NormalisedCpuDuration"]) <= set(
        columns(db, "VNormalisedSuperSummariesExt"))


def test_lookup_names_are_unique(db):
    db.execute("INSERT INTO Sites (name) VALUES ('RAL-LCG2')")
    with pytest.raises(DatabaseError):
        db.execute("INSERT INTO Sites (name) VALUES ('RAL-LCG2')")


def test_lookup_names_are_case_sensitive_on_both_backends(db):
    ids = db.lookup_ids("VOs", ["atlas", "ATLAS"])
    assert ids["atlas"] != ids["ATLAS"]


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mysql"], indirect=True)
def test_mysql_sessions_run_strict_with_the_c_extension(db):
    (mode,) = db.query("SELECT @@SESSION.sql_mode")[0]
    for flag in ("ONLY_FULL_GROUP_BY", "STRICT_TRANS_TABLES", "NO_ZERO_DATE"):
        assert flag in mode
    assert db.uses_c_extension, "mysql-connector's C extension must be in use (pin <26 on Debian 12)"
    assert db.query("SELECT @@SESSION.time_zone") == [("+00:00",)]


def test_db_init_creates_a_database_and_reports_up_to_date_the_second_time(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/dir/apel.db"
    first = CliRunner().invoke(db_command, ["init", "--db", url])
    assert first.exit_code == 0, first.output
    assert "applied 001_initial.sql" in first.output
    second = CliRunner().invoke(db_command, ["init", "--db", url])
    assert second.output.strip().endswith("already up to date")
    listing = CliRunner().invoke(db_command, ["status", "--db", url])
    assert listing.output.startswith("applied\t001_initial.sql")


@pytest.mark.mariadb
def test_db_init_creates_the_mariadb_database_when_missing(mariadb_service, monkeypatch):
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", mariadb_service.password)
    url = f"{mariadb_service.url}/apeltest_init_{id(monkeypatch) % 100000}"
    try:
        result = CliRunner().invoke(db_command, ["init", "--db", url])
        assert result.exit_code == 0, result.output
        with databases.connect(url) as db:
            assert db.query("SELECT COUNT(*) FROM JobRecords") == [(0,)]
    finally:
        with databases.connect(url) as db:
            db.execute(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")


def test_urls_are_checked():
    from apeltools.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown database URL scheme"):
        databases.connect("postgres://x/y")
    with pytest.raises(ConfigError, match="use mysql://user@host:3306/database"):
        databases.connect("mysql://apel@host:3306/")
