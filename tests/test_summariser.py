"""apel-summarise: incremental summaries equal a full rebuild; normalisation; cloud and GPUs."""

import random

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools import sample
from apeltools.cli.summarise import main as apel_summarise
from apeltools.errors import BusyError
from apeltools.records.fields import month_bounds
from apeltools.records.types import ACCELERATOR, CLOUD, JOB, NORMALISED_SUMMARY, SUMMARY
from apeltools.summariser import summarise

SIGNER = "/CN=apel.example.org"
SUPER = ("SELECT Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost, InfrastructureType, "
         "ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime, LatestEndTime, "
         "WallDuration, CpuDuration, NumberOfJobs, InfrastructureDescription FROM VSuperSummaries")
NORMALISED = ("SELECT Site, Month, Year, GlobalUserName, VO, SubmitHost, InfrastructureType, ServiceLevelType, "
              "NodeCount, Processors, NormalisedWallDuration, NormalisedCpuDuration FROM VNormalisedSuperSummaries")


def views(db):
    normalise = lambda rows: sorted(tuple(str(v) for v in row) for row in rows)  # noqa: E731
    return normalise(db.query(SUPER)), normalise(db.query(NORMALISED))


def job(rng, site, year, month, number, **changes):
    start, end = month_bounds(year, month)
    wall = rng.randrange(0, 50_000)
    finish = rng.randrange(start + wall, end)
    level_type, level = rng.choice([("HEPSPEC", 10.5), ("HEPscore23", 15.3), ("si2k", 2500.0), ("HEPSPEC", 8.0)])
    values = dict(
        Site=site, LocalJobId=f"{number}", SubmitHost=rng.choice(["ce1.example.org", "ce2.example.org"]),
        GlobalUserName=f"/CN=user{rng.randrange(4)}", FQAN=rng.choice(["/atlas/Role=production", "/cms", None]),
        VO=rng.choice(["dteam", None]), WallDuration=wall, CpuDuration=rng.randrange(0, wall + 1) * 2,
        Processors=rng.choice([1, 8, None]), NodeCount=rng.choice([1, None]), StartTime=finish - wall,
        EndTime=finish, InfrastructureType=rng.choice(["grid", "grid", "local"]),
        InfrastructureDescription=rng.choice(["APEL-CREAM-PBS", "APEL-ARC-SLURM"]),
        ServiceLevelType=level_type, ServiceLevel=level,
    )
    values.update(changes)
    record = JOB.make(**values)
    JOB.check(record, record.EndTime)
    return record


def summary(rng, site, year, month, **changes):
    start, end = month_bounds(year, month)
    values = dict(Site=site, Month=month, Year=year, GlobalUserName=f"/CN=user{rng.randrange(4)}",
                  VO=rng.choice(["atlas", "cms"]), SubmitHost="ce9.example.org",
                  InfrastructureType=rng.choice(["grid", "local"]), ServiceLevelType="HEPSPEC",
                  ServiceLevel=rng.choice([10.5, 12.0]), NodeCount=1, Processors=rng.choice([1, 8]),
                  EarliestEndTime=start + 10, LatestEndTime=end - 10, WallDuration=rng.randrange(10**6),
                  CpuDuration=rng.randrange(10**6), NumberOfJobs=rng.randrange(1, 500))
    values.update(changes)
    return SUMMARY.make(**values)


def normalised(rng, site, year, month):
    return NORMALISED_SUMMARY.make(
        Site=site, Month=month, Year=year, VO="lhcb", SubmitHost="ce8.example.org", Infrastructure="grid",
        NodeCount=1, Processors=1, WallDuration=1000, CpuDuration=900, NormalisedWallDuration=rng.randrange(10**5),
        NormalisedCpuDuration=rng.randrange(10**5), NumberOfJobs=rng.randrange(1, 50), ServiceLevelType="HEPSPEC",
    )


MONTHS = [(2026, 8), (2026, 9), (2026, 10)]
SITES = ["SITE-A", "SITE-B", "SITE-C"]


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_summaries_equal_a_full_rebuild_after_random_changes(db, seed):
    rng = random.Random(seed)
    stored = {}  # LocalJobId -> job
    next_id = 0
    for step in range(14):
        action = rng.choice(["jobs", "jobs", "jobs", "replace", "delete", "summaries", "normalised"])
        if action == "jobs" or not stored:
            batch = []
            for _ in range(rng.randrange(1, 60)):
                next_id += 1
                batch.append(job(rng, rng.choice(SITES), *rng.choice(MONTHS), next_id))
            db.store(JOB, batch, SIGNER)
            stored.update((j.LocalJobId, j) for j in batch)
        elif action == "replace":
            chosen = rng.sample(sorted(stored), min(5, len(stored)))
            batch = [job(rng, stored[i].Site, 2026, 1, int(i), EndTime=stored[i].EndTime,
                         StartTime=stored[i].StartTime, WallDuration=stored[i].WallDuration) for i in chosen]
            db.store(JOB, batch, SIGNER)
            stored.update((j.LocalJobId, j) for j in batch)
        elif action == "delete":
            victim = stored.pop(rng.choice(sorted(stored)))
            db.execute("DELETE FROM JobRecords WHERE LocalJobId = ?", (victim.LocalJobId,))
        elif action == "summaries":
            site, (year, month) = rng.choice(SITES), rng.choice(MONTHS)
            db.store(SUMMARY, [summary(rng, site, year, month) for _ in range(rng.randrange(1, 4))], SIGNER)
        else:
            site, (year, month) = rng.choice(SITES), rng.choice(MONTHS)
            db.store(NORMALISED_SUMMARY, [normalised(rng, site, year, month)], SIGNER)
        if rng.random() < 0.5:
            summarise(db)
    summarise(db)
    incremental = views(db)
    summarise(db, full=True)
    assert views(db) == incremental
    assert db.query("SELECT COUNT(*) FROM SummaryDeltas") == [(0,)]
    assert db.query("SELECT COUNT(*) FROM SummaryDirty") == [(0,)]
    # And the job part agrees with sums computed here from the records themselves.
    jobs_in_db = db.query("SELECT COUNT(*), SUM(WallDuration) FROM JobRecords")[0]
    summarised = db.query("SELECT SUM(NumberOfJobs), SUM(WallDuration) FROM SuperSummaries")[0]
    from_summaries = db.query("SELECT COALESCE(SUM(NumberOfJobs), 0), COALESCE(SUM(WallDuration), 0) FROM Summaries")[0]
    from_normalised = db.query(
        "SELECT COALESCE(SUM(NumberOfJobs), 0), COALESCE(SUM(WallDuration), 0) FROM NormalisedSummaries")[0]
    assert int(summarised[0]) == jobs_in_db[0] + int(from_summaries[0]) + int(from_normalised[0])
    assert int(summarised[1]) == int(jobs_in_db[1] or 0) + int(from_summaries[1]) + int(from_normalised[1])
    assert jobs_in_db[0] == len(stored)


@pytest.mark.parametrize("level_type, level, expected", [
    ("si2k", 2500.0, 36000),  # 2500 / 250 = 10 HEPSPEC-equivalent
    ("HEPSPEC", 10.5, 37800),
    ("HEPscore23", 15.3, 55080),
])
def test_each_benchmark_type_normalises_by_its_rule(db, level_type, level, expected):
    rng = random.Random(0)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 1, WallDuration=3000, CpuDuration=3600,
                       ServiceLevelType=level_type, ServiceLevel=level),
                   job(rng, "SITE-A", 2026, 9, 2, WallDuration=600, CpuDuration=0,
                       ServiceLevelType=level_type, ServiceLevel=level, GlobalUserName="/CN=user0",
                       FQAN="/cms", SubmitHost="ce1.example.org", InfrastructureType="grid", Processors=1,
                       NodeCount=1)], SIGNER)
    summarise(db)
    rows = db.query("SELECT SUM(NormalisedWallDuration), SUM(NormalisedCpuDuration) FROM VNormalisedSuperSummaries")
    factor = level / 250 if level_type == "si2k" else level
    assert int(rows[0][0]) == round(3600 * factor) and int(rows[0][1]) == expected


def test_local_and_grid_summaries_of_a_site_never_overwrite_each_other(db):
    rng = random.Random(3)
    grid = summary(rng, "SITE-A", 2026, 9, InfrastructureType="grid", NumberOfJobs=10, Processors=1)
    local = summary(rng, "SITE-A", 2026, 9, InfrastructureType="local", NumberOfJobs=7, Processors=1,
                    GlobalUserName=grid.GlobalUserName, VO=grid.VO, ServiceLevel=grid.ServiceLevel)
    db.store(SUMMARY, [grid], SIGNER)
    db.store(SUMMARY, [local], SIGNER)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 1, InfrastructureType="local")], SIGNER)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 2, InfrastructureType="grid")], SIGNER)
    summarise(db)
    got = dict(db.query("SELECT InfrastructureType, SUM(NumberOfJobs) FROM VSuperSummaries GROUP BY InfrastructureType"))
    assert {k: int(v) for k, v in got.items()} == {"grid": 11, "local": 8}


def cloud(vm, status, measured, wall, cpu=None, site="CLOUD-A"):
    return CLOUD.make(VMUUID=vm, SiteName=site, Status=status, RecordCreateTime=measured, StartTime=measured - wall,
                      WallDuration=wall, CpuDuration=cpu if cpu is not None else wall, CpuCount=2, Memory=4096,
                      FQAN="/atlas/Role=production", CloudType="OpenStack", ImageId="img-1",
                      EndTime=measured if status == "completed" else None)


def test_a_vm_started_then_completed_in_one_month_is_counted_once(db):
    start, _ = month_bounds(2026, 9)
    db.store(CLOUD, [cloud("vm-1", "started", start + 3600, 3000)], SIGNER)
    summarise(db)
    db.store(CLOUD, [cloud("vm-1", "completed", start + 7200, 6600)], SIGNER)
    summarise(db)
    rows = db.query("SELECT Status, NumberOfVMs, WallDuration, VO FROM VCloudSummaries")
    assert rows == [("completed", 1, 6600, "atlas")]  # no stale "started" row


def test_a_vm_running_across_months_counts_each_months_own_usage(db):
    september, _ = month_bounds(2026, 9)
    october, _ = month_bounds(2026, 10)
    db.store(CLOUD, [cloud("vm-2", "started", september + 86400, 86000),
                     cloud("vm-2", "completed", october + 3600, 86000 + 30 * 86400)], SIGNER)
    summarise(db)
    rows = db.query("SELECT Month, Status, WallDuration FROM VCloudSummaries ORDER BY Month")
    assert rows == [(9, "started", 86000), (10, "completed", 30 * 86400)]
    summarise(db, full=True)
    assert db.query("SELECT Month, Status, WallDuration FROM VCloudSummaries ORDER BY Month") == rows


def test_accelerator_records_are_summarised_per_site_month_and_model(db):
    records = [ACCELERATOR.make(MeasurementMonth=9, MeasurementYear=2026, AssociatedRecordType="job",
                                AssociatedRecord=f"{n}.ce", SiteName="GPU-SITE", Count=2.0, Cores=16,
                                AvailableDuration=3600, ActiveDuration=1800 * n, Type="GPU", Model="A100")
               for n in (1, 2)]
    db.store(ACCELERATOR, records, SIGNER)
    summarise(db)
    assert db.query("SELECT SiteName, Model, Count, ActiveDuration, AvailableDuration, NumberOfRecords "
                    "FROM VAcceleratorSummaries") == [("GPU-SITE", "A100", 4.0, 5400, 7200, 2)]


def test_benchmark_history_counts_jobs_per_benchmark_value(db):
    rng = random.Random(5)
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, n, ServiceLevelType="HEPSPEC", ServiceLevel=10.5) for n in range(3)]
             + [job(rng, "SITE-A", 2026, 9, 10, ServiceLevelType="HEPSPEC", ServiceLevel=12.0)], SIGNER)
    summarise(db)
    rows = db.query("SELECT Site, Year, Month, ServiceLevel, NumberOfJobs FROM VBenchmarkHistory ORDER BY ServiceLevel")
    assert [(r[0], r[1], r[2], float(r[3]), int(r[4])) for r in rows] == [
        ("SITE-A", 2026, 9, 10.5, 3), ("SITE-A", 2026, 9, 12.0, 1)]


def test_a_second_summariser_is_refused_while_one_runs(db_url):
    with databases.connect(db_url) as first, databases.connect(db_url) as second:
        with first.exclusive("summarise"):
            with pytest.raises(BusyError, match="another apel-summarise is running"):
                summarise(second)
        summarise(second)  # the lock is gone with its holder


def test_apel_summarise_program(db_url):
    result = CliRunner().invoke(apel_summarise, ["--db", db_url, "-v"])
    assert result.exit_code == 0, result.output
    assert "incremental summarise:" in result.output
    assert "Examples:" in CliRunner().invoke(apel_summarise, ["--help"]).output
