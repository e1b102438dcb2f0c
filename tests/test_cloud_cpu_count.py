"""Cloud CpuCount as the deployed schema holds it (DECIMAL(10,3)): fractional counts load, to the
thousandth, and the cloud summaries sum them exactly on both backends, incremental or --full."""

from decimal import Decimal

from apeltools import loader as loading
from apeltools.records import text
from apeltools.records.fields import month_bounds
from apeltools.records.types import CLOUD, CLOUD_SUMMARY
from apeltools.summariser import summarise

YEAR, MONTH = 2026, 10


def load(db, body):
    loader = loading.Loader(db)
    tally = loader.run([(loading.Message(body=body, signer="/CN=cloud", empaid="m"), lambda done: None)])
    assert (tally.rejected_records, tally.rejected_messages) == (0, 0)


def vm(name, cpus, measured):
    return CLOUD.make(VMUUID=name, SiteName="DEMO-CLOUD", Status="completed", RecordCreateTime=measured,
                      StartTime=measured - 3600, EndTime=measured, WallDuration=3600, CpuCount=cpus)


def exact(value):
    """A stored figure as a Decimal to the thousandth: MySQL gives Decimal('2.500'), SQLite 2.5."""
    return Decimal(str(value)).quantize(Decimal("0.001"))


def test_fractional_cpu_counts_load_as_the_deployed_loader_stores_them(db):
    start, _ = month_bounds(YEAR, MONTH)
    body = text.write_message(text.CLOUD_V04, [vm("vm-1", 2.5, start + 7200), vm("vm-2", 1.2345, start + 7200),
                                               vm("vm-3", None, start + 7200)])
    assert "CpuCount: 2.5\n" in body
    load(db, body)
    got = db.query("SELECT VMUUID, CpuCount FROM VCloudRecords ORDER BY VMUUID")
    # Halves away from zero, as DECIMAL(10,3) rounds; absent is 0, as the deployed loader stores it.
    assert [(name, exact(cpus)) for name, cpus in got] == [
        ("vm-1", Decimal("2.500")), ("vm-2", Decimal("1.235")), ("vm-3", Decimal("0.000"))]

    summary = CLOUD_SUMMARY.make(SiteName="OTHER-CLOUD", Month=MONTH, Year=YEAR, Status="completed",
                                 WallDuration=3600, CpuCount=3.5, NumberOfVMs=2)
    load(db, text.write_message(text.CLOUD_SUMMARY_V04, [summary]))
    assert [exact(v) for (v,) in db.query("SELECT CpuCount FROM VCloudSummaries")] == [Decimal("3.500")]


def test_cloud_summaries_sum_fractional_cpu_counts_exactly_incremental_or_full(db):
    start, _ = month_bounds(YEAR, MONTH)
    # 0.1 + 0.2 in floats is 0.30000000000000004.
    load(db, text.write_message(text.CLOUD_V04, [vm("vm-1", 0.1, start + 7200)]))
    summarise(db)
    load(db, text.write_message(text.CLOUD_V04, [vm("vm-2", 0.2, start + 9000)]))
    summarise(db)
    query = "SELECT SiteName, NumberOfVMs, CpuCount FROM VCloudSummaries"
    incremental = db.query(query)
    assert [(site, vms, exact(cpus)) for site, vms, cpus in incremental] == [("DEMO-CLOUD", 2, Decimal("0.300"))]
    assert Decimal(str(incremental[0][2])) == Decimal("0.3")  # stored exactly, not 0.30000000000000004
    summarise(db, full=True)
    assert db.query(query) == incremental
