"""apel-summarise: incremental summaries equal a full rebuild; normalisation; cloud and GPUs."""

import math
import random
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.demo import sample
from apeltools.cli.summarise import main as apel_summarise
from apeltools.db.schema import applied_versions, migrate, migrations
from apeltools.errors import BusyError
from apeltools.records.fields import month_bounds
from apeltools.records.types import ACCELERATOR, CLOUD, JOB, NORMALISED_SUMMARY, SUMMARY
from apeltools.summariser import summarise
from tests.conftest import BACKENDS, empty_database

SIGNER = "/CN=apel.example.org"


def views(db):
    """Every column of the super-summary views but UpdateTime (the time a row was written)."""
    found = []
    for view in ("VSuperSummaries", "VNormalisedSuperSummaries"):
        rows = db.query_dicts(f"SELECT * FROM {view}")
        found.append(sorted(tuple(str(v) for k, v in sorted(row.items()) if k != "UpdateTime") for row in rows))
    return found


def assert_incremental_equals_full(db):
    """Summarise incrementally, then in full: every view column must stay the same."""
    summarise(db)
    incremental = views(db)
    summarise(db, full=True)
    assert views(db) == incremental


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
KEY_NAMES = ("Site", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost", "InfrastructureType",
             "ServiceLevelType", "ServiceLevel", "NodeCount", "Processors")


def super_key(**values):
    """A super-summary key of names, as VSuperSummaries shows it (absent names are 'None')."""
    key = []
    for name in KEY_NAMES:
        value = values.get(name)
        if name in ("ServiceLevel",):
            value = float(value or 0)
        elif name in ("Month", "Year", "NodeCount", "Processors"):
            value = int(value or 0)
        elif value is None:
            value = "None"
        key.append(value)
    return tuple(key)


def job_key(j):
    end = time.gmtime(j.EndTime)
    return super_key(**{name: getattr(j, name) for name in KEY_NAMES if hasattr(j, name)},
                     Month=end.tm_mon, Year=end.tm_year)


def summary_key(s):
    return super_key(**{name: getattr(s, name) for name in KEY_NAMES if hasattr(s, name)})


def normalised_key(n):
    return super_key(**{name: getattr(n, name) for name in KEY_NAMES if hasattr(n, name)},
                     InfrastructureType=n.Infrastructure, ServiceLevel=0)


def jobs_per_key(db):
    """{super-summary key: NumberOfJobs} of VSuperSummaries."""
    return {super_key(**row): int(row["NumberOfJobs"]) for row in db.query_dicts("SELECT * FROM VSuperSummaries")}


def expected_jobs_per_key(jobs, summaries, normalised_summaries):
    """What the deployed summariser keeps per key: the normalised summaries of the key, else its
    summaries, else its jobs (never two sources added)."""
    expected = {}
    for j in jobs:
        expected[job_key(j)] = expected.get(job_key(j), 0) + 1
    for source, key_of in ((summaries, summary_key), (normalised_summaries, normalised_key)):
        replaced = {}
        for record in source:
            replaced[key_of(record)] = replaced.get(key_of(record), 0) + record.NumberOfJobs
        expected.update(replaced)
    return expected


def colliding(rng, db):
    """(record type, record): a summary or a normalised summary with the key of a super-summary row (its jobs' or another
    summary's); None before there is one. A normalised summary's key has ServiceLevel 0: it
    collides with summaries of level 0, also made here."""
    rows = db.query_dicts("SELECT * FROM VSuperSummaries ORDER BY Site, Month, Year, GlobalUserName, VO, VOGroup, "
                          "VORole, SubmitHost, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, "
                          "Processors")
    if not rows:
        return None, None
    row = rng.choice(rows)
    common = dict(Site=row["Site"], Month=int(row["Month"]), Year=int(row["Year"]),
                  GlobalUserName=row["GlobalUserName"], VO=row["VO"], VOGroup=row["VOGroup"], VORole=row["VORole"],
                  SubmitHost=row["SubmitHost"], NodeCount=int(row["NodeCount"]), Processors=int(row["Processors"]),
                  ServiceLevelType=row["ServiceLevelType"], WallDuration=rng.randrange(10**5),
                  CpuDuration=rng.randrange(10**5), NumberOfJobs=rng.randrange(1, 500))
    kind = rng.choice(["summary", "level 0", "normalised"])
    if kind == "normalised":
        return NORMALISED_SUMMARY, NORMALISED_SUMMARY.make(
            Infrastructure=row["InfrastructureType"], NormalisedWallDuration=rng.randrange(10**5),
            NormalisedCpuDuration=rng.randrange(10**5), **common)
    level = 0.0 if kind == "level 0" else float(row["ServiceLevel"])
    return SUMMARY, SUMMARY.make(InfrastructureType=row["InfrastructureType"], ServiceLevel=level, **common)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_summaries_equal_a_full_rebuild_after_random_changes(db, seed):
    rng = random.Random(seed)
    stored = {}  # LocalJobId -> job
    next_id = 0
    summaries, normalised_summaries = {}, {}  # by their natural key
    for step in range(20):
        action = rng.choice(["jobs", "jobs", "jobs", "replace", "delete", "summaries", "normalised", "collide"])
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
            batch = [summary(rng, site, year, month) for _ in range(rng.randrange(1, 4))]
            db.store(SUMMARY, batch, SIGNER)
            summaries.update((summary_key(s), s) for s in batch)
        elif action == "normalised":
            site, (year, month) = rng.choice(SITES), rng.choice(MONTHS)
            record = normalised(rng, site, year, month)
            db.store(NORMALISED_SUMMARY, [record], SIGNER)
            normalised_summaries[normalised_key(record)] = record
        else:  # a summary with the key of jobs (or of another summary) that are already summarised
            rtype, record = colliding(rng, db)
            if rtype is SUMMARY:
                db.store(SUMMARY, [record], SIGNER)
                summaries[summary_key(record)] = record
            elif rtype is NORMALISED_SUMMARY:
                db.store(NORMALISED_SUMMARY, [record], SIGNER)
                normalised_summaries[normalised_key(record)] = record
        if rng.random() < 0.5:
            summarise(db)
    assert_incremental_equals_full(db)
    assert db.query("SELECT COUNT(*) FROM SummaryDeltas") == [(0,)]
    assert db.query("SELECT COUNT(*) FROM SummaryDirty") == [(0,)]
    # And each group holds what the records themselves give: one source per key, never two added.
    assert db.query("SELECT COUNT(*) FROM JobRecords")[0][0] == len(stored)
    assert jobs_per_key(db) == expected_jobs_per_key(stored.values(), summaries.values(),
                                                     normalised_summaries.values())


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


def test_a_summary_of_summarised_jobs_replaces_them_as_the_deployed_summariser_does(db):
    """A site sent its jobs, then a summary of the same month and key (of those jobs and more):
    the group holds the summary, not both; jobs of the key arriving later change nothing;
    a normalised summary of the key (ServiceLevel 0) replaces a summary in turn."""
    rng = random.Random(21)
    first = [job(rng, "SITE-A", 2026, 9, n, ServiceLevelType="HEPSPEC", ServiceLevel=10.0, FQAN="/atlas",
                 GlobalUserName="/CN=user0", SubmitHost="ce1.example.org", InfrastructureType="grid",
                 Processors=1, NodeCount=1) for n in range(3)]
    db.store(JOB, first, SIGNER)
    summarise(db)
    key = job_key(first[0])
    assert jobs_per_key(db) == {key: 3}
    fields = dict(GlobalUserName="/CN=user0", VO="atlas", VOGroup="/atlas",
                  SubmitHost="ce1.example.org", InfrastructureType="grid", ServiceLevelType="HEPSPEC",
                  ServiceLevel=10.0, NodeCount=1, Processors=1)
    db.store(SUMMARY, [summary(rng, "SITE-A", 2026, 9, **fields, WallDuration=9000, CpuDuration=8000, NumberOfJobs=5)], SIGNER)
    summarise(db)
    assert jobs_per_key(db) == {key: 5}
    db.store(JOB, [job(rng, "SITE-A", 2026, 9, 99, **{name: getattr(first[0], name) for name in (
        "ServiceLevelType", "ServiceLevel", "FQAN", "GlobalUserName", "SubmitHost", "InfrastructureType",
        "Processors", "NodeCount")})], SIGNER)
    summarise(db)  # the new job's delta is not added to the summary's group
    row = db.query("SELECT NumberOfJobs, WallDuration, NormalisedWallDuration FROM VNormalisedSuperSummaries")
    assert [tuple(int(v) for v in r) for r in row] == [(5, 9000, 90000)]
    assert_incremental_equals_full(db)

    level_0 = dict(fields, ServiceLevel=0.0)
    db.store(SUMMARY, [summary(rng, "SITE-A", 2026, 9, **level_0, NumberOfJobs=7)], SIGNER)
    summarise(db)
    level_0_key = super_key(Site="SITE-A", Month=9, Year=2026, **level_0)
    assert jobs_per_key(db) == {key: 5, level_0_key: 7}
    db.store(NORMALISED_SUMMARY, [NORMALISED_SUMMARY.make(
        Infrastructure="grid", NormalisedWallDuration=100, NormalisedCpuDuration=90, WallDuration=10,
        CpuDuration=9, Site="SITE-A", Month=9, Year=2026,
        **{k: v for k, v in fields.items() if k not in ("InfrastructureType", "ServiceLevel")},
        NumberOfJobs=11)], SIGNER)
    summarise(db)
    assert jobs_per_key(db) == {key: 5, level_0_key: 11}
    assert_incremental_equals_full(db)
    # Nothing is deleted: every source keeps its rows.
    assert [db.count_rows(t) for t in ("JobRecords", "Summaries", "NormalisedSummaries")] == [4, 2, 1]


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


# -- exact sums ----------------------------------------------------------------------------

# Benchmarks whose products with whole seconds often end in exactly .5 (ties), or that have
# no exact binary form (0.1, 0.3): where adding float products in another order moves a
# rounded figure by one.
TIE_LEVELS = [("HEPSPEC", 2.5), ("HEPSPEC", 10.5), ("HEPSPEC", 10.1), ("HEPscore23", 0.1), ("HEPscore23", 0.3),
              ("HEPscore23", 0.7), ("si2k", 312.5), ("si2k", 1012.5)]


def exact_normalised(level_type, level, seconds):
    """What the deployed summariser stores: exact decimal product of the group's positive seconds,
    rounded half up (its ROUND of an exact DECIMAL sum)."""
    factor = Fraction(Decimal(repr(level))) / (250 if level_type == "si2k" else 1)
    return math.floor(factor * seconds + Fraction(1, 2))


def tie_job(rng, site, year, month, number, level_type, level, finish=None):
    start, end = month_bounds(year, month)
    wall = rng.randrange(1, 400)
    finish = finish or rng.randrange(start + wall, end)
    record = JOB.make(
        Site=site, LocalJobId=str(number), SubmitHost="ce1.example.org",
        GlobalUserName=f"/CN=user{rng.randrange(3)}", FQAN="/atlas",
        WallDuration=wall, CpuDuration=rng.choice([wall, wall - 1, -1]), Processors=1, NodeCount=1,
        StartTime=finish - wall, EndTime=finish, InfrastructureType="grid",
        InfrastructureDescription="APEL-ARC-SLURM", ServiceLevelType=level_type, ServiceLevel=level)
    JOB.check(record, record.EndTime)
    return record


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_incremental_normalised_sums_equal_a_full_rebuild_bit_for_bit(db, seed):
    """Loads, replacements, summaries and normalised summaries in random order, with ties."""
    rng = random.Random(seed)
    sites, months = ["SITE-A", "SITE-B"], [(2026, 8), (2026, 9)]
    jobs = {}  # (site, LocalJobId) -> job record
    summaries, normalised_summaries = {}, {}
    for _ in range(60):
        action = rng.choice(["jobs"] * 20 + ["replace"] * 2 + ["summary", "normalised"])
        if action == "jobs" or not jobs:
            batch = [tie_job(rng, rng.choice(sites), *rng.choice(months), len(jobs) + n, *rng.choice(TIE_LEVELS))
                     for n in range(rng.randrange(1, 40))]
        elif action == "replace":  # same natural key, other duration or benchmark
            batch = []
            for site, number in rng.sample(sorted(jobs), min(3, len(jobs))):
                batch.append(tie_job(rng, site, 2026, 8, number, *rng.choice(TIE_LEVELS),
                                     finish=jobs[(site, number)].EndTime))
        elif action == "summary":
            site, (year, month) = rng.choice(sites), rng.choice(months)
            level_type, level = rng.choice(TIE_LEVELS)
            record = summary(rng, site, year, month, GlobalUserName="/CN=user0", VO="atlas",
                             SubmitHost="ce9.example.org", InfrastructureType="grid",
                             ServiceLevelType=level_type, ServiceLevel=level, Processors=1,
                             WallDuration=rng.randrange(1, 10**4), CpuDuration=rng.randrange(-5, 10**4))
            summaries[(site, year, month, level_type, level)] = record
            db.store(SUMMARY, [record], SIGNER)
            batch = None
        else:
            site, (year, month) = rng.choice(sites), rng.choice(months)
            record = normalised(rng, site, year, month)
            normalised_summaries[(site, year, month)] = record
            db.store(NORMALISED_SUMMARY, [record], SIGNER)
            batch = None
        if batch:
            db.store(JOB, batch, SIGNER)
            jobs.update(((j.Site, j.LocalJobId), j) for j in batch)
        if rng.random() < 0.3:
            summarise(db)
    assert_incremental_equals_full(db)

    # And both are what the deployed summariser computes: per group, the exact product rounded.
    expected = {}  # (site, year, month, user, submit host, level type) -> [normalised wall, normalised cpu]
    positive = {}  # (site, year, month, user, level type, level) -> [wall, cpu] of the jobs
    for j in jobs.values():
        end = time.gmtime(j.EndTime)
        sums = positive.setdefault(
            (j.Site, end.tm_year, end.tm_mon, j.GlobalUserName, j.ServiceLevelType, j.ServiceLevel), [0, 0])
        sums[0] += max(j.WallDuration, 0)
        sums[1] += max(j.CpuDuration, 0)
    for (site, year, month, user, level_type, level), (wall, cpu) in positive.items():
        total = expected.setdefault((site, year, month, user, "ce1.example.org", level_type), [0, 0])
        total[0] += exact_normalised(level_type, level, wall)
        total[1] += exact_normalised(level_type, level, cpu)
    for (site, year, month, level_type, level), s in summaries.items():
        total = expected.setdefault((site, year, month, "/CN=user0", "ce9.example.org", level_type), [0, 0])
        total[0] += exact_normalised(level_type, level, max(s.WallDuration, 0))
        total[1] += exact_normalised(level_type, level, max(s.CpuDuration, 0))
    for (site, year, month), n in normalised_summaries.items():
        total = expected.setdefault((site, year, month, "None", "ce8.example.org", "HEPSPEC"), [0, 0])
        total[0] += n.NormalisedWallDuration
        total[1] += n.NormalisedCpuDuration
    got = {}
    for site, month, year, user, host, level_type, wall, cpu in db.query(
            "SELECT Site, Month, Year, GlobalUserName, SubmitHost, ServiceLevelType, NormalisedWallDuration, "
            "NormalisedCpuDuration FROM VNormalisedSuperSummaries"):
        total = got.setdefault((site, int(year), int(month), user, host, level_type), [0, 0])
        total[0] += int(wall)
        total[1] += int(cpu)
    assert got == expected


def database_before(request, tmp_path, monkeypatch, first_missing):
    """A database with the migrations before ``first_missing`` only: (URL, drop or None)."""
    url, drop = empty_database(request, tmp_path, monkeypatch)
    with databases.connect(url) as db:
        applied_versions(db)
        for version, name, path in migrations(db.dialect):
            if version < first_missing:
                db.executescript(path.read_text(encoding="utf-8"))
                with db.transaction():
                    db.execute("INSERT INTO SchemaMigrations (Version, Name, AppliedAt) VALUES (?, ?, 'test')",
                               (version, name))
    return url, drop


def database_before_fixture(first_missing):
    """A fixture: the URL of a database with the migrations before ``first_missing`` only."""
    @pytest.fixture(params=BACKENDS)
    def fixture(request, tmp_path, monkeypatch):
        url, drop = database_before(request, tmp_path, monkeypatch, first_missing)
        yield url
        if drop:
            drop()
    return fixture


before_005 = database_before_fixture(5)
before_011 = database_before_fixture(11)


def test_migration_005_converts_float_sums_and_has_them_recomputed_exactly(before_005, monkeypatch):
    rng = random.Random(7)
    august = [tie_job(rng, "SITE-A", 2026, 8, n, "HEPscore23", 0.7) for n in range(30)]
    september = [tie_job(rng, "SITE-A", 2026, 9, 100 + n, "HEPSPEC", 10.5) for n in range(30)]
    with databases.connect(before_005) as db:
        # Records as the loader before 005 left them: August summarised (float sums), September's
        # deltas still waiting. Their rows are written here in the old form.
        monkeypatch.setattr("apeltools.db.base.job_deltas", lambda records, ids: [])
        db.store(JOB, august + september, SIGNER)
        monkeypatch.undo()
        ids = [db.lookup_ids(table, [name])[name] for table, name in (
            ("Sites", "SITE-A"), ("DNs", "/CN=user0"), ("VOs", "atlas"), ("VOGroups", "/atlas"),
            ("VORoles", "None"), ("SubmitHosts", "ce1.example.org"))]
        site, dn, vo, group, role, host = ids
        old = ("SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, InfrastructureType, "
               "ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime, LatestEndTime, WallDuration, "
               "CpuDuration, NormalisedWallDuration, NormalisedCpuDuration, NumberOfJobs")
        row = (site, 8, 2026, dn, vo, group, role, host, "grid", "HEPscore23", 0.7, 1, 1,
               "2026-08-01 00:00:00", "2026-08-31 00:00:00", 1001, 999, 700.6999999999, 699.3, 7)
        with db.transaction():
            db.execute(f"INSERT INTO SuperSummaries ({old}) VALUES ({', '.join('?' * len(row))})", row)
            db.execute(f"INSERT INTO SummaryDeltas ({old}) VALUES ({', '.join('?' * len(row))})",
                       (site, 9) + row[2:9] + ("HEPSPEC", 10.5) + row[11:])
        assert migrate(db) == [name for version, name, _ in migrations(db.dialect) if version >= 5]
        # Converted at once, rounded; both months marked for recomputing; the views still read the table.
        assert [int(v) for v in db.query("SELECT NormalisedWallDuration, NormalisedCpuDuration, "
                                         "PositiveWallDuration FROM SuperSummaries")[0]] == [701, 699, 0]
        assert sorted(db.query("SELECT SiteID, Year, Month FROM SummaryDirty")) == [(site, 2026, 8), (site, 2026, 9)]
        assert db.query("SELECT COUNT(*) FROM SummaryDeltas") == [(0,)]
        assert len(db.query("SELECT * FROM VNormalisedSuperSummaries")) == 1
        assert_incremental_equals_full(db)
        for month, level_type, level, jobs in ((8, "HEPscore23", 0.7, august), (9, "HEPSPEC", 10.5, september)):
            got = db.query("SELECT SUM(NormalisedWallDuration) FROM VNormalisedSuperSummaries WHERE Month = ?",
                           (month,))
            per_user = {}
            for j in jobs:
                per_user[j.GlobalUserName] = per_user.get(j.GlobalUserName, 0) + j.WallDuration
            assert int(got[0][0]) == sum(exact_normalised(level_type, level, s) for s in per_user.values())


def test_migration_011_recomputes_added_groups_and_keys_cloud_summaries_as_deployed(before_011):
    rng = random.Random(8)
    jobs = [job(rng, "SITE-A", 2026, 9, n, ServiceLevelType="HEPSPEC", ServiceLevel=10.0, FQAN="/atlas",
                GlobalUserName="/CN=user0", SubmitHost="ce1.example.org", InfrastructureType="grid",
                Processors=1, NodeCount=1) for n in range(3)]
    sent = summary(rng, "SITE-A", 2026, 9, GlobalUserName="/CN=user0", VO="atlas", VOGroup="/atlas",
                   SubmitHost="ce1.example.org", InfrastructureType="grid", ServiceLevelType="HEPSPEC",
                   ServiceLevel=10.0, NodeCount=1, Processors=1, NumberOfJobs=5)
    start, _ = month_bounds(2026, 9)
    vms = [CLOUD.make(VMUUID=f"vm-{n}", SiteName="CLOUD-A", Status="completed", RecordCreateTime=start + 7200,
                      StartTime=start + 3600, EndTime=start + 7200, WallDuration=3600, CpuCount=cpus, Memory=1024,
                      CloudType="OpenStack", ImageId="img-1") for n, cpus in enumerate([2, 2, 4])]
    with databases.connect(before_011) as db:
        db.store(JOB, jobs, SIGNER)
        db.store(SUMMARY, [sent], SIGNER)
        db.store(CLOUD, vms, SIGNER)
        # As the summariser before 011 left them: the jobs and the summary added in one group (8
        # jobs), the VMs' CpuCount summed; and two received cloud summaries that differ by
        # CloudType only, the OpenNebula one sent later.
        ids = {table: db.lookup_ids(table, [name])[name] for table, name in (
            ("Sites", "SITE-A"), ("DNs", "/CN=user0"), ("VOs", "atlas"), ("VOGroups", "/atlas"),
            ("VORoles", "None"), ("SubmitHosts", "ce1.example.org"))}
        cloud_ids = [db.lookup_ids(table, [name])[name] for table, name in (
            ("Sites", "CLOUD-A"), ("CloudComputeServices", "None"), ("DNs", "None"), ("VOs", "None"),
            ("VOGroups", "None"), ("VORoles", "None"), ("DNs", "apel-summarise"), ("DNs", SIGNER))]
        site, service, dn, vo, group, role, summariser_dn, signer = cloud_ids
        cloud_columns = ("SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, "
                         "VORoleID, Status, CloudType, ImageId, WallDuration, CpuCount, Memory, BenchmarkType, "
                         "Benchmark, NumberOfVMs, PublisherDNID, UpdateTime")
        head = (site, service, 9, 2026, dn, vo, group, role, "completed")
        with db.transaction():
            db.execute("DELETE FROM SummaryDirty")
            db.execute("DELETE FROM SummaryDeltas")
            db.execute(
                "INSERT INTO SuperSummaries (SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, "
                "SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors, "
                "WallDuration, CpuDuration, NormalisedWallDuration, NormalisedCpuDuration, NumberOfJobs) "
                "VALUES (?, 9, 2026, ?, ?, ?, ?, ?, 'grid', 'HEPSPEC', 10.0, 1, 1, 1, 1, 10, 10, 8)",
                [ids[t] for t in ("Sites", "DNs", "VOs", "VOGroups", "VORoles", "SubmitHosts")])
            for row in (head + ("OpenStack", "img-1", 10800, 8, 3072, "None", 0.0, 3, summariser_dn,
                                "2026-10-01 00:00:00"),
                        head + ("OpenStack", "img-2", 3600, 2, 1024, "None", 0.0, 1, signer, "2026-10-01 00:00:00"),
                        head + ("OpenNebula", "img-2", 7200, 2, 2048, "None", 0.0, 2, signer, "2026-10-02 00:00:00")):
                db.execute(f"INSERT INTO CloudSummaries ({cloud_columns}) VALUES ({', '.join('?' * len(row))})", row)
        assert "011_deployed_precedence.sql" in migrate(db)
        assert sorted(db.query("SELECT Kind, SiteID, Year, Month FROM SummaryDirty")) == sorted(
            [("jobs", ids["Sites"], 2026, 9), ("cloud", site, 2026, 9)])
        # The computed cloud row is gone (recomputed next), the received ones keep the later.
        assert db.query("SELECT ImageId, CloudType, NumberOfVMs FROM VCloudSummaries") == [("img-2", "OpenNebula", 2)]
        summarise(db)
        assert jobs_per_key(db) == {job_key(jobs[0]): 5}
        got = db.query("SELECT ImageId, CpuCount, NumberOfVMs, Memory FROM VCloudSummaries ORDER BY ImageId, CpuCount")
        assert [(image, float(cpus), vms, memory) for image, cpus, vms, memory in got] == [
            ("img-1", 2.0, 2, 2048), ("img-1", 4.0, 1, 1024), ("img-2", 2.0, 2, 2048)]
        assert_incremental_equals_full(db)


@pytest.mark.parametrize("db_url", [pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_a_full_rebuild_in_the_server_writes_the_rows_of_the_group_by_group_rebuild(db_url):
    """MariaDB rebuilds SuperSummaries by INSERT ... SELECT in the server: every column (Origin and the
    positive durations, which the views do not show, included) as the per-month path writes it."""
    from apeltools.db import summaries as sql
    rng = random.Random(31)
    with databases.connect(db_url) as db:
        for n in range(6):
            site, (year, month) = rng.choice(["SITE-A", "SITE-B"]), rng.choice([(2026, 8), (2026, 9)])
            db.store(JOB, [tie_job(rng, site, year, month, 100 * n + k, *rng.choice(TIE_LEVELS)) for k in range(30)],
                     SIGNER)
            level_type, level = rng.choice(TIE_LEVELS)
            db.store(SUMMARY, [summary(rng, site, year, month, GlobalUserName="/CN=user0", VO="atlas",
                                       SubmitHost="ce1.example.org", InfrastructureType="grid",
                                       ServiceLevelType=level_type, ServiceLevel=level, Processors=1,
                                       WallDuration=rng.randrange(1, 10**4), CpuDuration=rng.randrange(-5, 10**4))],
                     SIGNER)
            db.store(NORMALISED_SUMMARY, [normalised(rng, site, year, month)], SIGNER)
        columns = ", ".join(sql.SUPER_COLUMNS)
        summarise(db, full=True)
        in_server = sorted(db.query(f"SELECT {columns} FROM SuperSummaries"))
        with db.transaction():
            for site, year, month in db.query("SELECT DISTINCT SiteID, Year, Month FROM SuperSummaries"):
                sql.replace_super_summaries(db, sql.source_groups(db, (site, year, month)), (site, year, month))
        assert sorted(db.query(f"SELECT {columns} FROM SuperSummaries")) == in_server
        assert {row[-1] for row in in_server} == {sql.ORIGIN_JOBS, sql.ORIGIN_SUMMARIES, sql.ORIGIN_NORMALISED}


def test_jobs_loaded_while_a_full_run_starts_are_counted_once(db_url, monkeypatch):
    """A loader commits jobs after the full run's snapshot began, before it aggregates: on MariaDB the
    aggregation (INSERT ... SELECT, a locking read) counts them, so their deltas must go with it."""
    from apeltools.db import summaries as sql
    rng = random.Random(41)
    rebuild = sql.rebuild_super_summaries

    def loader_commits_first(db):
        with databases.connect(db_url) as loader:
            loader.store(JOB, [job(rng, "SITE-A", 2026, 8, 1000 + n) for n in range(20)], SIGNER)
        return rebuild(db)

    with databases.connect(db_url) as db:
        db.store(JOB, [job(rng, "SITE-A", 2026, 8, n) for n in range(20)], SIGNER)
        if db.dialect == "mysql":  # SQLite's summariser holds the write lock: the loader would wait
            monkeypatch.setattr(sql, "rebuild_super_summaries", loader_commits_first)
            summarise(db, full=True)
            monkeypatch.setattr(sql, "rebuild_super_summaries", rebuild)
        else:
            db.store(JOB, [job(rng, "SITE-A", 2026, 8, 1000 + n) for n in range(20)], SIGNER)
        summarise(db)
        assert db.query("SELECT SUM(NumberOfJobs) FROM SuperSummaries")[0][0] == 40
        assert_incremental_equals_full(db)


def test_consumed_deltas_are_deleted_by_runs_and_ids_and_no_other(db):
    """delete_deltas sends runs of consecutive ids as BETWEEN: a delta with an id inside the span
    of what was read but not itself read (committed after the summariser's snapshot) stays."""
    from apeltools.db import summaries as summaries_sql

    row = (1, 10, 2026, 1, 1, 1, 1, 1, "grid", "HEPSPEC", 10.0, 1, 1, None, 1_790_000_000, 1_790_000_000,
           60, 50, 60, 50, 1)
    stored = list(range(1, 41)) + [45, 47, 48, 52, 53, 54, 60]
    with db.transaction():
        db.insert_rows("SummaryDeltas", ("Id",) + summaries_sql.DELTA_COLUMNS, [(n,) + row for n in stored],
                       summaries_sql.TIME_COLUMNS)
    read = [n for n in stored if n not in (7, 20, 21, 53)]  # four committed after the snapshot
    with db.transaction():
        summaries_sql.delete_deltas(db, list(reversed(read)))
    assert sorted(n for (n,) in db.query("SELECT Id FROM SummaryDeltas")) == [7, 20, 21, 53]
