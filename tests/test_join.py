"""apel-join: batch + blah + benchmark → job records, incrementally, reporting what cannot join."""

import pytest
from click.testing import CliRunner

from apeltools.ce_benchmarks import Benchmark, update
from apeltools.cli.join import main as apel_join
from apeltools.db import site
from apeltools.joiner import JoinSettings, join, pick_blah
from apeltools.records.site import BatchRecord, BlahRecord

DAY = 86400
T0 = 1717200000  # 2024-06-01 00:00:00 UTC
CE_PBS = "ce01.example.org:8443/cream-pbs-long"
CE_SLURM = "ce02.example.org:8443/cream-slurm-grid"
DN = "/C=UK/O=eScience/CN=Alice"
NOW = T0 + 60 * DAY


def batch(job_id, end, system="PBS", start=None, wall=3600):
    return BatchRecord(system, job_id, job_id, "atlas001", "atlas", "long", "torque.example.org", wall,
                       wall * 2, 2, 1, end - wall if start is None else start, end, 1024, 2048)


def blah(job_id, stamp, ce=CE_PBS, fqan="/atlas/Role=production/Capability=NULL"):
    return BlahRecord(stamp, DN, fqan, ce, "CREAM" + job_id, job_id, "atlas001")


def add(db, *records):
    with db.transaction():
        site.store_site_records(db, records)


def jobs(db):
    """{LocalJobId: row dict} of VJobRecords."""
    return {row["LocalJobId"]: row for row in db.query_dicts("SELECT * FROM VJobRecords")}


def statuses(db):
    return dict(db.query("SELECT LocalJobId, JoinStatus FROM BatchRecords"))


SETTINGS = JoinSettings(site="TEST-SITE")


def test_a_grid_job_takes_its_blah_record_and_the_benchmark_at_its_end(db):
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 12.0)], "config", now=T0 + 10 * DAY)
    add(db, batch("1.torque", T0 + 5 * DAY), batch("2.torque", T0 + 15 * DAY),
        blah("1.torque", T0 + 5 * DAY - 7200), blah("2.torque", T0 + 15 * DAY - 7200))
    report = join(db, SETTINGS, now=NOW)
    assert (report.joined, report.local, dict(report.unjoined)) == (2, 0, {})
    found = jobs(db)
    one = found["1.torque"]
    assert {k: one[k] for k in ("Site", "SubmitHost", "MachineName", "Queue", "LocalUserId", "GlobalUserName",
                                "FQAN", "VO", "VOGroup", "VORole", "WallDuration", "CpuDuration",
                                "Processors", "NodeCount", "InfrastructureDescription",
                                "InfrastructureType", "MemoryReal", "MemoryVirtual", "ServiceLevelType",
                                "ServiceLevel")} == {
        "Site": "TEST-SITE", "SubmitHost": CE_PBS, "MachineName": "torque.example.org", "Queue": "long",
        "LocalUserId": "atlas001", "GlobalUserName": DN, "FQAN": "/atlas/Role=production/Capability=NULL",
        "VO": "atlas", "VOGroup": "/atlas", "VORole": "Role=production", "WallDuration": 3600,
        "CpuDuration": 7200, "Processors": 2, "NodeCount": 1, "InfrastructureDescription": "APEL-CREAM-PBS",
        "InfrastructureType": "grid", "MemoryReal": 1024, "MemoryVirtual": 2048, "ServiceLevelType": "HEPSPEC",
        "ServiceLevel": 10.0,
    }
    assert found["2.torque"]["ServiceLevel"] == 12.0  # the benchmark had changed by then
    assert statuses(db) == {"1.torque": site.FINE, "2.torque": site.FINE}


def test_missing_blah_records_missing_benchmarks_and_late_jobs_are_reported_not_dropped(db):
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    add(db,
        batch("ok", T0 + DAY), blah("ok", T0 + DAY - 60),
        batch("no-blah", T0 + DAY),
        batch("late", T0 + 40 * DAY), blah("late", T0 + DAY),  # ended 39 days after its blah record
        batch("early", T0 + DAY), blah("early", T0 + 3 * DAY),  # ended two days before it
        batch("no-spec", T0 + DAY, system="SLURM"), blah("no-spec", T0 + DAY - 60, ce=CE_SLURM),
        batch("bad", T0 + DAY, start=T0 + 2 * DAY), blah("bad", T0 + DAY - 60))
    report = join(db, SETTINGS, now=NOW)
    assert report.joined == 1 and set(jobs(db)) == {"ok"}
    assert dict(report.unjoined) == {
        "no blah record": 1, "blah record outside its validity window": 2, "no benchmark for the CE": 1,
        "not a valid job record": 1,
    }
    assert report.examples["no benchmark for the CE"] == [("SLURM", "no-spec", T0 + DAY, CE_SLURM)]
    assert report.examples["not a valid job record"][0][3] == "EndTime: EndTime is before StartTime"
    assert sorted(report.examples["blah record outside its validity window"]) == [
        ("PBS", "early", T0 + DAY, ""), ("PBS", "late", T0 + 40 * DAY, "")]
    assert site.unjoined(db) == [
        ("PBS", "no-blah", "no-blah", T0 + DAY, site.NO_BLAH),
        ("PBS", "late", "late", T0 + 40 * DAY, site.OUTSIDE_WINDOW),
        ("PBS", "early", "early", T0 + DAY, site.OUTSIDE_WINDOW),
        ("SLURM", "no-spec", "no-spec", T0 + DAY, site.NO_BENCHMARK),
        ("PBS", "bad", "bad", T0 + DAY, site.INVALID),
    ]
    assert "no blah record: PBS no-blah" in "\n".join(report.problem_lines())

    # The missing pieces arrive: the blah record (parsed late) and the CE's benchmark.
    add(db, blah("no-blah", T0 + DAY - 600), blah("late", T0 + 39 * DAY))
    update(db, [Benchmark(CE_SLURM, "HEPscore23", 15.0)], "config", now=NOW)
    again = join(db, SETTINGS, now=NOW)
    assert (again.joined, dict(again.unjoined)) == (3, {})
    # "bad" ends before it starts: set aside, it waits for nothing.
    assert again.waiting == {"blah record outside its validity window": 1}
    assert "1 batch records in all wait to be joined" in again.summary()
    assert set(jobs(db)) == {"ok", "no-blah", "late", "no-spec"}
    assert jobs(db)["no-spec"]["ServiceLevelType"] == "HEPscore23"


def test_a_record_that_can_never_join_is_reported_once_and_set_aside(db):
    # It ends before it starts, and has neither its blah record nor its CE's benchmark yet: it
    # must not wait for them (it was NO_BLAH, then retried on every run for the benchmark).
    add(db, batch("backwards", T0 + DAY, system="SLURM", start=T0 + DAY + 60), batch("waits", T0 + DAY))
    first = join(db, SETTINGS, now=NOW)
    assert dict(first.unjoined) == {"not a valid job record": 1, "no blah record": 1}
    assert first.examples["not a valid job record"] == [
        ("SLURM", "backwards", T0 + DAY, "EndTime: EndTime is before StartTime")]
    assert first.waiting == {"no blah record": 1}
    assert statuses(db)["backwards"] == site.INVALID

    add(db, blah("backwards", T0 + DAY - 60, ce=CE_SLURM))
    again = join(db, SETTINGS, now=NOW)
    assert (again.reopened, dict(again.unjoined), again.waiting) == (0, {}, {"no blah record": 1})
    update(db, [Benchmark(CE_SLURM, "HEPSPEC", 10.0)], "config", now=T0)
    add(db, blah("waits", T0 + DAY - 60))
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    last = join(db, SETTINGS, now=NOW)
    assert (last.joined, dict(last.unjoined), last.waiting) == (1, {}, {})
    assert "wait to be joined" not in last.summary()
    assert set(jobs(db)) == {"waits"} and statuses(db)["backwards"] == site.INVALID
    assert ("SLURM", "backwards", "backwards", T0 + DAY, site.INVALID) in site.unjoined(db)


def test_a_job_that_ends_in_the_future_waits_for_its_time(db):
    # A batch server's clock three days ahead: not a job record now (the loaders refuse an end
    # more than 2 days ahead), but one later; it was set aside as invalid for good.
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    add(db, batch("ahead", NOW + 3 * DAY), blah("ahead", NOW + 3 * DAY - 7200))
    first = join(db, SETTINGS, now=NOW)
    assert (first.joined, dict(first.unjoined)) == (0, {"ends more than 2 days in the future": 1})
    assert first.waiting == {"ends more than 2 days in the future": 1}
    later = join(db, SETTINGS, now=NOW + 2 * DAY)
    assert (later.joined, dict(later.unjoined), later.waiting) == (1, {}, {})
    assert set(jobs(db)) == {"ahead"}


def test_join_is_incremental(db):
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    add(db, batch("a", T0 + DAY), blah("a", T0 + DAY - 60))
    assert join(db, SETTINGS, now=NOW).joined == 1
    nothing = join(db, SETTINGS, now=NOW)
    assert (nothing.joined, nothing.local, dict(nothing.unjoined), nothing.reopened) == (0, 0, {}, 0)
    add(db, batch("b", T0 + 2 * DAY), blah("b", T0 + 2 * DAY - 60))
    assert join(db, SETTINGS, now=NOW).joined == 1
    assert set(jobs(db)) == {"a", "b"}


def test_local_jobs_and_a_blah_record_that_comes_later(db):
    settings = JoinSettings(site="TEST-SITE", local_jobs=True, local_submit_host="torque.example.org",
                            ce_type="CREAM")
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0), Benchmark("torque.example.org", "HEPSPEC", 9.0)],
           "config", now=T0)
    add(db, batch("local", T0 + DAY), batch("grid-late", T0 + DAY))
    report = join(db, settings, now=NOW)
    assert (report.joined, report.local) == (0, 2)
    found = jobs(db)
    assert (found["local"]["InfrastructureType"], found["local"]["SubmitHost"], found["local"]["ServiceLevel"],
            found["local"]["GlobalUserName"]) == ("local", "torque.example.org", 9.0, "None")
    add(db, blah("grid-late", T0 + DAY - 60))
    assert join(db, settings, now=NOW).joined == 1
    found = jobs(db)
    assert len(found) == 2  # replaced by natural key, not added
    assert (found["grid-late"]["InfrastructureType"], found["grid-late"]["SubmitHost"]) == ("grid", CE_PBS)


def test_a_smaller_chunk_joins_the_same_jobs_in_more_transactions(db, monkeypatch):
    # --chunk / [joiner] chunk keeps each transaction under a Galera cluster's write-set limit;
    # what is joined must not depend on it.
    update(db, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    records = []
    for n in range(7):
        records.append(batch(f"j{n}", T0 + DAY + n))
        if n != 3:  # one without a blah record: reported and kept, whatever the chunk
            records.append(blah(f"j{n}", T0 + DAY + n - 60))
    add(db, *records)
    reads = []
    with_blah = site.with_blah
    monkeypatch.setattr(site, "with_blah", lambda *args: reads.append(args[-1]) or with_blah(*args))
    report = join(db, JoinSettings(site="TEST-SITE", chunk=2), now=NOW)
    assert (report.joined, dict(report.unjoined)) == (6, {"no blah record": 1})
    assert set(reads) == {2} and len(reads) >= 4  # 7 records read two at a time
    found = jobs(db)
    assert sorted(found) == ["j0", "j1", "j2", "j4", "j5", "j6"]
    assert {(row["SubmitHost"], row["GlobalUserName"], row["ServiceLevel"], row["WallDuration"])
            for row in found.values()} == {(CE_PBS, DN, 10.0, 3600)}
    assert statuses(db)["j3"] != site.FINE and {statuses(db)[j] for j in found} == {site.FINE}


def test_the_chunk_comes_from_the_command_line_else_the_configuration(tmp_path):
    from apeltools.config import Config
    from apeltools.errors import UsageError

    config = tmp_path / "client.cfg"
    config.write_text("[site_info]\nsite_name = TEST-SITE\n[joiner]\nchunk = 500\n")
    assert JoinSettings.from_config(Config.load(str(config)), no_bdii=True).chunk == 500
    assert JoinSettings.from_config(Config.load(str(config)), no_bdii=True, chunk=7).chunk == 7
    config.write_text("[site_info]\nsite_name = TEST-SITE\n")
    assert JoinSettings.from_config(Config.load(str(config)), no_bdii=True).chunk == 20000
    for bad in ("0", "2.5"):
        config.write_text(f"[site_info]\nsite_name = TEST-SITE\n[joiner]\nchunk = {bad}\n")
        with pytest.raises(UsageError, match="chunk must be a whole number of at least 1"):
            JoinSettings.from_config(Config.load(str(config)), no_bdii=True)
    result = CliRunner().invoke(apel_join, ["--config", str(config), "--db", "sqlite:///x.db", "--chunk", "0"])
    assert result.exit_code == 2 and "--chunk" in result.output


def test_reused_batch_job_ids_join_the_blah_record_of_their_time():
    records = [(T0, "old"), (T0 + 30 * DAY, "new"), (T0 + 31 * DAY, "next")]
    assert pick_blah(T0 + 30 * DAY + 3600, records) == (T0 + 30 * DAY, "new")
    assert pick_blah(T0 + 5 * DAY, records) == (T0, "old")
    assert pick_blah(T0 - 3600, records) == (T0, "old")  # clock skew: up to a day before
    assert pick_blah(T0 + 29 * DAY, records) == (T0 + 30 * DAY, "new")
    assert pick_blah(T0 + 28 * DAY + DAY // 2, records) is None  # between two windows


def test_apel_join_program(db_url, tmp_path):
    from apeltools import db as databases

    config = tmp_path / "client.cfg"
    config.write_text(f"[site_info]\nsite_name = TEST-SITE\n[spec_updater]\nmanual_spec1 = {CE_PBS},HEPSPEC,10\n")
    with databases.connect(db_url) as db:
        add(db, batch("a", T0 + DAY), blah("a", T0 + DAY - 60), batch("b", T0 + DAY))
    result = CliRunner().invoke(apel_join, ["--config", str(config), "--db", db_url, "--unjoined"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "PBS\tb\tb\t2024-06-02T00:00:00Z\tno blah record\n"
    assert "1 batch records not joined: no blah record: PBS b" in result.stderr
    with databases.connect(db_url) as db:
        assert [r["LocalJobId"] for r in db.query_dicts("SELECT LocalJobId FROM VJobRecords")] == ["a"]


def test_a_second_join_is_refused_while_one_runs(db_url):
    import pytest

    from apeltools import db as databases
    from apeltools.errors import BusyError

    settings = SETTINGS
    with databases.connect(db_url) as first, databases.connect(db_url) as second:
        with first.exclusive("join"):
            with pytest.raises(BusyError, match="another apel-join is running"):
                join(second, settings)
        join(second, settings)  # the lock is gone with its holder
