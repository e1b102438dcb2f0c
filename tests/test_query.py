"""apel-query: the questions operators and users ask, answered from jobs and summaries."""

import csv
import io
import json
import random

from click.testing import CliRunner

from apeltools import db as databases
from apeltools.cli.query import main as apel_query
from apeltools.records.types import JOB
from apeltools.summariser import summarise
from tests.test_summariser import job

SIGNER = "/CN=apel.example.org"


def fill(db):
    rng = random.Random(11)
    records = [
        job(rng, "SITE-A", 2026, 2, 1, SubmitHost="ce1.example.org", GlobalUserName="/CN=jane", FQAN="/atlas",
            WallDuration=3600, CpuDuration=1800, Processors=1, ServiceLevelType="HEPSPEC", ServiceLevel=10.0),
        job(rng, "SITE-A", 2026, 2, 2, SubmitHost="ce2.example.org", GlobalUserName="/CN=jane", FQAN="/atlas",
            WallDuration=3600, CpuDuration=3600, Processors=2, ServiceLevelType="HEPSPEC", ServiceLevel=10.0),
        job(rng, "SITE-A", 2026, 3, 3, SubmitHost="ce1.example.org", GlobalUserName="/CN=jane", FQAN="/cms",
            WallDuration=7200, CpuDuration=7200, Processors=1, ServiceLevelType="si2k", ServiceLevel=2500.0),
        job(rng, "SITE-B", 2026, 2, 4, SubmitHost="ce9.example.org", GlobalUserName="/CN=joe", FQAN="/atlas",
            WallDuration=60, CpuDuration=30, Processors=1, InfrastructureType="local"),
    ]
    db.store(JOB, records, SIGNER)
    summarise(db)


def run(db_url, *args):
    result = CliRunner().invoke(apel_query, ["--db", db_url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_my_jobs_that_ended_on_this_ce_in_february(db, db_url):
    fill(db)
    out = run(db_url, "jobs", "--dn", "/CN=jane", "--ce", "ce1.example.org", "--from", "2026-02", "--to", "2026-02",
              "--format", "ndjson")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["LocalJobId"] for r in rows] == ["1"]
    assert rows[0]["Efficiency"] == 0.5


def test_cpu_hours_per_vo_per_month_at_a_site(db, db_url):
    fill(db)
    out = run(db_url, "summaries", "--site", "SITE-A", "--group-by", "vo,month", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["VO"], r["Year"], r["Month"], r["Jobs"], r["CpuHours"]) for r in rows] == [
        ("atlas", "2026", "2", "2", "1.5"), ("cms", "2026", "3", "1", "2.0")]
    atlas = rows[0]
    assert atlas["Efficiency"] == "0.5"  # 5400 s of CPU over 3600 + 2 x 3600 core-seconds
    assert atlas["NormalisedWallHours"] == "20.0" and rows[1]["NormalisedWallHours"] == "20.0"


def test_jobs_grouped_by_month_agree_with_summaries(db, db_url):
    fill(db)
    from_jobs = run(db_url, "jobs", "--group-by", "site,month", "--format", "csv")
    from_summaries = run(db_url, "summaries", "--group-by", "site,month", "--format", "csv")
    assert from_jobs == from_summaries


def test_filters_for_infrastructure_and_fqan_and_paging(db, db_url):
    fill(db)
    local = run(db_url, "jobs", "--infrastructure", "local", "--format", "csv")
    assert [r["LocalJobId"] for r in csv.DictReader(io.StringIO(local))] == ["4"]
    cms = run(db_url, "jobs", "--fqan", "/cms", "--format", "csv")
    assert [r["LocalJobId"] for r in csv.DictReader(io.StringIO(cms))] == ["3"]
    page = run(db_url, "jobs", "--limit", "2", "--offset", "1", "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(page)))) == 2


def test_silent_sites(db, db_url):
    fill(db)
    out = run(db_url, "silent-sites", "--days", "7", "--format", "csv")
    assert [r["Site"] for r in csv.DictReader(io.StringIO(out))] == ["SITE-A", "SITE-B"]


def test_the_table_format_aligns_columns(db, db_url):
    fill(db)
    lines = run(db_url, "summaries", "--group-by", "site", "--format", "table").splitlines()
    assert lines[0].startswith("Site  ") and set(lines[1]) <= {"-", " "}
    assert len({line.index("Jobs") if "Jobs" in line else None for line in lines[:1]}) == 1


def test_unknown_grouping_is_a_clear_error(db_url):
    result = CliRunner().invoke(apel_query, ["--db", db_url, "summaries", "--group-by", "colour"])
    assert result.exit_code == 2 and "cannot group by 'colour'" in result.output
    result = CliRunner().invoke(apel_query, ["--db", db_url, "summaries", "--fqan", "/atlas"])
    assert result.exit_code == 1 and "only known for individual jobs" in result.output


def test_summaries_refuse_days_inside_a_month_unless_whole_months(db, db_url):
    fill(db)
    result = CliRunner().invoke(apel_query, ["--db", db_url, "summaries", "--from", "2026-02-01", "--to", "2026-02-15"])
    assert result.exit_code == 2
    assert ("summaries are monthly and cannot be cut by day: --to 2026-02-15 ends inside 2026-02; give months "
            "(YYYY-MM), ask for jobs, or add --whole-months") in " ".join(result.output.split())
    result = CliRunner().invoke(apel_query, ["--db", db_url, "summaries", "--from", "2026-02-10"])
    assert result.exit_code == 2 and "--from 2026-02-10 starts inside 2026-02" in " ".join(result.output.split())
    # Month bounds given as days are whole months already.
    february = run(db_url, "summaries", "--group-by", "site,month", "--from", "2026-02", "--to", "2026-02",
                   "--format", "csv")
    assert run(db_url, "summaries", "--group-by", "site,month", "--from", "2026-02-01", "--to", "2026-02-28",
               "--format", "csv") == february
    assert [(r["Site"], r["Month"], r["Jobs"]) for r in csv.DictReader(io.StringIO(february))] == [
        ("SITE-A", "2", "2"), ("SITE-B", "2", "1")]
    # --whole-months widens the dates to their months, for jobs too, so that both agree.
    widened = ["--group-by", "site,month", "--from", "2026-02-27", "--to", "2026-02-28", "--whole-months",
               "--format", "csv"]
    assert run(db_url, "summaries", *widened) == february
    assert run(db_url, "jobs", *widened) == february
    assert "--whole-months" in run(db_url, "--help")
