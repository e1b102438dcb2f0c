"""Cloud CpuCount as the deployed schema holds it (DECIMAL(10,3)): fractional counts load, to the
thousandth; cloud summaries are keyed by it, as the deployed CloudSummaries table and summariser
have them (each VM's count, not a sum; CloudType not part of the key), incremental or --full."""

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


def vm(name, cpus, measured, cloud_type="OpenStack"):
    return CLOUD.make(VMUUID=name, SiteName="DEMO-CLOUD", Status="completed", RecordCreateTime=measured,
                      StartTime=measured - 3600, EndTime=measured, WallDuration=3600, CpuCount=cpus,
                      Memory=1024, CloudType=cloud_type)


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


def test_cloud_summaries_group_vms_by_their_cpu_count_as_the_deployed_summariser(db):
    start, _ = month_bounds(YEAR, MONTH)
    load(db, text.write_message(text.CLOUD_V04, [vm("vm-1", 0.1, start + 7200), vm("vm-2", 0.2, start + 7200)]))
    summarise(db)
    # Another CloudType, same CpuCount: the same group (the deployed key has no CloudType).
    load(db, text.write_message(text.CLOUD_V04, [vm("vm-3", 0.2, start + 9000, cloud_type="OpenNebula")]))
    summarise(db)
    query = ("SELECT CpuCount, NumberOfVMs, Memory, WallDuration, CloudType FROM VCloudSummaries "
             "ORDER BY CpuCount")
    incremental = db.query(query)
    assert [(exact(cpus), vms, memory, wall, cloud_type) for cpus, vms, memory, wall, cloud_type in incremental] == [
        (Decimal("0.100"), 1, 1024, 3600, "OpenStack"), (Decimal("0.200"), 2, 2048, 7200, "OpenStack")]
    summarise(db, full=True)
    assert db.query(query) == incremental


def test_received_cloud_summaries_replace_by_the_deployed_key(db):
    """A site's cloud summary sent again with another CloudType replaces the first (the deployed
    loader's REPLACE on its key); one of another CpuCount is a group of its own."""
    def sent(cpus, cloud_type, vms):
        return CLOUD_SUMMARY.make(SiteName="OTHER-CLOUD", Month=MONTH, Year=YEAR, Status="completed",
                                  CloudType=cloud_type, WallDuration=3600 * vms, CpuCount=cpus, NumberOfVMs=vms)

    load(db, text.write_message(text.CLOUD_SUMMARY_V04, [sent(2, "OpenStack", 3), sent(4, "OpenNebula", 1)]))
    load(db, text.write_message(text.CLOUD_SUMMARY_V04, [sent(2, "OpenNebula", 5)]))
    summarise(db)  # the summariser leaves received summaries alone
    got = db.query("SELECT CpuCount, CloudType, NumberOfVMs FROM VCloudSummaries ORDER BY CpuCount")
    assert [(exact(cpus), cloud_type, vms) for cpus, cloud_type, vms in got] == [
        (Decimal("2.000"), "OpenNebula", 5), (Decimal("4.000"), "OpenNebula", 1)]
