"""Job statistics (apel-query stats, states, waiting) against figures worked out here from the
generated jobs themselves, not from parsing; and a site database made before migration 008.

The sample logs give every job a queued time and an ending (sample_logs.ENDINGS); the test
counts, sorts and divides on its own: a median as the middle value (mean of the two middle
ones), the 90th percentile as the smallest value with at least 90 % of the values at or below it.
"""

import csv
import io
from collections import defaultdict

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.demo import sample_logs
from apeltools.cli.query import main as apel_query
from apeltools.db.schema import applied_versions, migrate, migrations
from tests.test_parsers import parse_into

YEAR, MONTH = 2026, 10
FAILED_HERE = {"failed", "timeout", "node_fail"}  # the failures the sample logs generate


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return sample_logs.generate(str(tmp_path_factory.mktemp("logs")), YEAR, MONTH, jobs_per_day=12)


@pytest.fixture
def site(db_url, logs, tmp_path):
    """The site database with the logs parsed, and a configuration naming the site."""
    for kind in ("slurm", "pbs", "blah"):
        parse_into(db_url, kind, *logs.files[kind])
    config = tmp_path / "site.cfg"
    config.write_text(logs.config_text(db_url))
    return db_url, str(config)


def ask(site, *args):
    url, config = site
    result = CliRunner().invoke(apel_query, [*args, "--db", url, "--config", config, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p90(values):
    ordered = sorted(values)
    return next(v for v in ordered if sum(1 for w in ordered if w <= v) >= 0.9 * len(ordered))


def expected_by_user(jobs):
    groups = defaultdict(list)
    for job in jobs:
        groups[job.grid[0] if job.grid else job.user].append(job)
    return groups


def number(text):
    return float(text) if text else None


def test_stats_per_user_equal_figures_worked_out_from_the_generated_jobs(site, logs):
    rows = {row["user"]: row for row in ask(site, "stats", "--group-by", "user")}
    expected = expected_by_user(logs.jobs)
    assert set(rows) == set(expected)
    for user, jobs in expected.items():
        row = rows[user]
        waits = [job.start - job.submit for job in jobs]
        failed = sum(1 for job in jobs if job.final_state in FAILED_HERE)
        assert int(row["Jobs"]) == len(jobs), user
        for state, column in (("completed", "Completed"), ("failed", "Failed"), ("cancelled", "Cancelled"),
                              ("timeout", "Timeout"), ("node_fail", "NodeFail")):
            assert int(row[column]) == sum(1 for job in jobs if job.final_state == state), (user, state)
        assert int(row["Unknown"]) == 0 and int(row["Preempted"]) == 0
        assert number(row["FailureRate"]) == round(failed / len(jobs), 4)
        assert number(row["WaitMedian"]) == median(waits)
        assert number(row["WaitP90"]) == p90(waits)
        assert number(row["WaitMax"]) == max(waits)
        assert number(row["RunMedian"]) == median([job.end - job.start for job in jobs])
        assert number(row["Efficiency"]) == round(sum(job.cpu for job in jobs) / sum(
            (job.end - job.start) * job.cores for job in jobs), 3)


def test_one_users_view_with_dn(site, logs):
    dn = sample_logs.USERS[1][0]
    [row] = ask(site, "stats", "--dn", dn)
    jobs = expected_by_user(logs.jobs)[dn]
    assert int(row["Jobs"]) == len(jobs)
    assert number(row["WaitMax"]) == max(job.start - job.submit for job in jobs)


def test_states_per_ce_and_waiting_per_day(site, logs):
    states = {row["ce"]: row for row in ask(site, "states", "--group-by", "ce")}
    for ce in (sample_logs.SLURM_CE, sample_logs.PBS_CE):
        jobs = [job for job in logs.jobs if job.grid and job.grid[2] == ce]
        assert int(states[ce]["Jobs"]) == len(jobs)
        assert int(states[ce]["Cancelled"]) == sum(1 for job in jobs if job.final_state == "cancelled")
    assert "WaitMedian" not in states[sample_logs.SLURM_CE]
    days = {row["day"]: row for row in ask(site, "waiting", "--group-by", "day", "--from", "2026-10-05",
                                           "--to", "2026-10-06")}
    assert set(days) == {"2026-10-05", "2026-10-06"}
    jobs = [job for job in logs.jobs if job.end // 86400 == days_since_epoch("2026-10-05")]
    assert number(days["2026-10-05"]["WaitP90"]) == p90([job.start - job.submit for job in jobs])
    assert set(days["2026-10-05"]) == {"day", "Jobs", "WaitKnown", "WaitMedian", "WaitP90", "WaitMax"}


def days_since_epoch(day):
    import calendar
    import time

    return calendar.timegm(time.strptime(day, "%Y-%m-%d")) // 86400


def test_state_and_local_user_filters_and_month_and_vo_groups(site, logs):
    [row] = ask(site, "states", "--state", "cancelled")
    assert int(row["Jobs"]) == int(row["Cancelled"]) == sum(1 for job in logs.jobs if job.final_state == "cancelled")
    local = ask(site, "stats", "--local-user", "localphys", "--group-by", "month")
    assert sum(int(r["Jobs"]) for r in local) == sum(1 for job in logs.jobs if job.user == "localphys"
                                                     and job.grid is None)
    vos = {row["vo"]: int(row["Jobs"]) for row in ask(site, "states", "--group-by", "vo", "--infrastructure", "grid")}
    assert vos == {fqan.split("/")[1]: sum(1 for job in logs.jobs if job.grid and job.grid[1] == fqan)
                   for _, fqan, _ in sample_logs.USERS}
    assert {row["site"] for row in ask(site, "states", "--group-by", "site")} == {sample_logs.SITE}
    users = [row["localuser"] for row in ask(site, "states", "--group-by", "localuser")]
    assert [row["localuser"] for row in ask(site, "states", "--group-by", "localuser", "--limit", "2",
                                            "--offset", "1")] == users[1:3]


def test_lifecycle_filters_are_refused_for_other_questions(site):
    url, config = site
    result = CliRunner().invoke(apel_query, ["jobs", "--db", url, "--state", "failed"])
    assert result.exit_code == 2 and "for stats, states and waiting" in result.output
    bad = CliRunner().invoke(apel_query, ["states", "--db", url, "--state", "exploded"])
    assert bad.exit_code == 2 and "'exploded' is not one of" in bad.output
    group = CliRunner().invoke(apel_query, ["states", "--db", url, "--group-by", "colour"])
    assert group.exit_code == 2 and "cannot group jobs by 'colour'" in group.output


def test_no_jobs_is_one_row_of_zeros(db_url):
    result = CliRunner().invoke(apel_query, ["stats", "--db", db_url, "--format", "csv"])
    [row] = list(csv.DictReader(io.StringIO(result.output)))
    assert (row["Jobs"], row["FailureRate"], row["WaitMedian"]) == ("0", "", "")


def test_a_site_database_made_before_migration_008_migrates_and_keeps_its_records(db_url, tmp_path):
    url = f"sqlite:///{tmp_path}/old.db" if db_url.startswith("sqlite") else db_url + "_007"
    with databases.connect(url) as db:
        db.create_database()
        assert applied_versions(db) == set()
        for version, name, path in migrations(db.dialect)[:7]:
            db.executescript(path.read_text(encoding="utf-8"))
            db.execute("INSERT INTO SchemaMigrations (Version, Name, AppliedAt) VALUES (?, ?, ?)",
                       (version, name, "2026-01-01 00:00:00"))
        db.execute("INSERT INTO BatchRecords (BatchSystem, LocalJobId, LrmsId, WallDuration, CpuDuration, "
                   "StartTime, EndTime) VALUES ('PBS', '1.torque', '1.torque', 60, 30, 1790000000, 1790000060)")
        assert "008_lifecycle.sql" in migrate(db)
        assert db.query("SELECT LocalJobId, SubmitTime, State, FinalState, ExitCode FROM BatchRecords") == [
            ("1.torque", None, None, None, None)]
    result = CliRunner().invoke(apel_query, ["states", "--db", url, "--format", "csv"])
    [row] = list(csv.DictReader(io.StringIO(result.output)))
    assert (row["Jobs"], row["Unknown"], row["FailureRate"]) == ("1", "1", "")
    if not url.startswith("sqlite"):
        with databases.connect(url) as db:
            db.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]}")
