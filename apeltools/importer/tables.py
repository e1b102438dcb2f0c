"""The deployed tables an import reads, and how each row becomes a record (or a site row) of ours.

Facts of the deployed server, cloud, storage and client schemas: each table's
primary key, its columns, and which of them hold ids of a lookup table. A
repository's tables become records of our record types (stored by
``Database.store``); a client's batch, blah and benchmark tables become rows of
our site tables (stored by their own write paths).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from apeltools.db import apel_source as sql
from apeltools.db import site as site_sql
from apeltools.errors import RecordError
from apeltools.records.site import BatchRecord, BlahRecord
from apeltools.records.types import CLOUD, CLOUD_SUMMARY, JOB, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC


@dataclass(frozen=True)
class SourceTable:
    """A table of the deployed layout and how its rows become records of ours.

    ``fields`` are (our field, source column, source lookup table or None): a
    lookup column holds an id whose name is in that table. ``publisher`` is the
    column holding the publisher DN's id (None: no publisher).
    """

    name: str
    rtype: object
    key: tuple
    fields: tuple
    publisher: str | None = "PublisherDNID"

    @property
    def columns(self):
        return _columns(self)


def _columns(spec):
    """What is read of each row: the fields' columns, then the publisher's."""
    return tuple(c for _, c, _ in spec.fields) + ((spec.publisher,) if spec.publisher else ())


def _lookup(name, column, table):
    return (name, column, table)


_NAMES = (
    _lookup("GlobalUserName", "GlobalUserNameID", "DNs"),
    _lookup("VO", "VOID", "VOs"),
    _lookup("VOGroup", "VOGroupID", "VOGroups"),
    _lookup("VORole", "VORoleID", "VORoles"),
    _lookup("SubmitHost", "SubmitHostID", "SubmitHosts"),
)


def _plain(*names):
    return tuple((n, n, None) for n in names)


_JOB_FIELDS = (
    _lookup("Site", "SiteID", "Sites"),
    _lookup("SubmitHost", "SubmitHostID", "SubmitHosts"),
    _lookup("MachineName", "MachineNameID", "MachineNames"),
    _lookup("Queue", "QueueID", "Queues"),
    *_plain("LocalJobId", "LocalUserId"),
    _lookup("GlobalUserName", "GlobalUserNameID", "DNs"),
    *_plain("FQAN"),
    *_NAMES[1:4],
    *_plain("WallDuration", "CpuDuration", "Processors", "NodeCount", "StartTime", "EndTime",
            "InfrastructureDescription", "InfrastructureType", "MemoryReal", "MemoryVirtual",
            "ServiceLevelType", "ServiceLevel"),
)
_SUMMARY_HEAD = (_lookup("Site", "SiteID", "Sites"), *_plain("Month", "Year"), *_NAMES)

REPOSITORY_TABLES = (
    SourceTable("JobRecords", JOB, ("SiteID", "LocalJobId", "EndTime"), _JOB_FIELDS),
    SourceTable(
        "Summaries", SUMMARY,
        ("SiteID", "Month", "Year", "GlobalUserNameID", "VOID", "VORoleID", "VOGroupID", "SubmitHostID",
         "InfrastructureType", "ServiceLevelType", "ServiceLevel", "NodeCount", "Processors"),
        _SUMMARY_HEAD + _plain("InfrastructureType", "InfrastructureDescription", "ServiceLevelType", "ServiceLevel",
                               "NodeCount", "Processors", "EarliestEndTime", "LatestEndTime", "WallDuration",
                               "CpuDuration", "NumberOfJobs"),
    ),
    SourceTable(
        "NormalisedSummaries", NORMALISED_SUMMARY,
        ("SiteID", "Month", "Year", "GlobalUserNameID", "VOID", "VORoleID", "VOGroupID", "SubmitHostID",
         "Infrastructure", "NodeCount", "Processors", "ServiceLevelType"),
        _SUMMARY_HEAD + _plain("Infrastructure", "InfrastructureDescription", "NodeCount", "Processors",
                               "EarliestEndTime", "LatestEndTime", "WallDuration", "CpuDuration",
                               "NormalisedWallDuration", "NormalisedCpuDuration", "NumberOfJobs",
                               "ServiceLevelType"),
    ),
    SourceTable(
        "SyncRecords", SYNC, ("SiteID", "SubmitHostID", "Month", "Year"),
        (_lookup("Site", "SiteID", "Sites"), _lookup("SubmitHost", "SubmitHostID", "SubmitHosts"),
         *_plain("NumberOfJobs", "Month", "Year")),
    ),
)



@dataclass(frozen=True)
class ClientTable:
    """A table of the deployed client that becomes rows of our site tables, not records:
    ``build(values)`` makes one item from the row's values (names looked up, times as epoch
    seconds) or raises ``RecordError``; ``write(db, items)`` stores a page of them."""

    name: str
    table: str  # ours
    key: tuple
    fields: tuple  # (value name, source column, source lookup table or None)
    build: Callable
    write: Callable
    publisher = None
    rtype = None

    @property
    def columns(self):
        return _columns(self)


def _present(values, *names):
    for name in names:
        if values[name] is None:
            raise RecordError("mandatory field is missing", field=name)


def _batch_system(infrastructure):
    """The batch system of a deployed batch record: the last part of its Infrastructure
    (APEL-CREAM-PBS → PBS), as our parsers name it."""
    return (infrastructure or "").rsplit("-", 1)[-1].upper() or "UNKNOWN"


# Deployed EventRecords.Status → our BatchRecords.JoinStatus: joined grid jobs need nothing;
# local jobs are local; unprocessed ones are joined again by the next apel-join.
JOIN_STATUSES = {2: site_sql.FINE, 1: site_sql.LOCAL, 0: site_sql.RETRY}


def _event(v):
    _present(v, "JobName", "WallDuration", "CpuDuration", "StartTime", "EndTime")
    record = BatchRecord(
        BatchSystem=_batch_system(v["Infrastructure"]), LocalJobId=v["JobName"], LrmsId=v["JobName"],
        LocalUserId=v["LocalUserID"], LocalGroup=v["LocalUserGroup"], Queue=v["Queue"], MachineName=v["MachineName"],
        WallDuration=v["WallDuration"], CpuDuration=v["CpuDuration"], Processors=v["Processors"],
        NodeCount=v["NodeCount"], StartTime=v["StartTime"], EndTime=v["EndTime"], MemoryReal=v["MemoryReal"],
        MemoryVirtual=v["MemoryVirtual"])
    return record, JOIN_STATUSES.get(v["Status"], site_sql.RETRY)


def _write_events(db, items):
    site_sql.store_site_records(db, [record for record, _ in items])
    sql.set_join_statuses(db, [(status, r.BatchSystem, r.LocalJobId, r.EndTime)
                               for r, status in items if status != site_sql.FINE])


def _blah(v):
    _present(v, "TimeStamp", "CeId")
    return BlahRecord(Timestamp=v["TimeStamp"], GlobalUserName=v["GlobalUserName"], FQAN=v["FQAN"], CeId=v["CeId"],
                      GridJobId=v["GlobalJobId"], LrmsId=v["LrmsId"] or "", LocalUserId=None)


def _spec(v):
    _present(v, "StartTime", "ServiceLevel")
    return (v["CE"], v["ServiceLevelType"], float(v["ServiceLevel"]), v["StartTime"], v["StopTime"], "apel")


_CLOUD_NAMES = (
    _lookup("SiteName", "SiteID", "Sites"), _lookup("CloudComputeService", "CloudComputeServiceID", "CloudComputeServices"),
)
CLOUD_TABLES = (
    SourceTable(
        "CloudRecords", CLOUD, ("VMUUID", "MeasurementMonth", "MeasurementYear"),
        (*_plain("RecordCreateTime", "VMUUID"), *_CLOUD_NAMES, *_plain("MachineName", "LocalUserId", "LocalGroupId"),
         _lookup("GlobalUserName", "GlobalUserNameID", "DNs"),
         *_plain("FQAN", "Status", "StartTime", "EndTime", "SuspendDuration", "WallDuration", "CpuDuration",
                 "CpuCount", "NetworkType", "NetworkInbound", "NetworkOutbound", "PublicIPCount", "Memory", "Disk",
                 "BenchmarkType", "Benchmark", "StorageRecordId", "ImageId", "CloudType")),
    ),
    SourceTable(
        "CloudSummaries", CLOUD_SUMMARY,
        ("SiteID", "CloudComputeServiceID", "Month", "Year", "GlobalUserNameID", "VOID", "VOGroupID", "VORoleID",
         "Status", "ImageId", "CpuCount", "BenchmarkType", "Benchmark"),
        (*_CLOUD_NAMES, *_plain("Month", "Year"), *_NAMES[:4],
         *_plain("Status", "CloudType", "ImageId", "EarliestStartTime", "LatestStartTime", "WallDuration",
                 "CpuDuration", "CpuCount", "NetworkInbound", "NetworkOutbound", "Memory", "Disk", "BenchmarkType",
                 "Benchmark", "NumberOfVMs")),
    ),
)
STORAGE_TABLES = (
    SourceTable(
        "StarRecords", STORAGE, ("RecordId",),
        (*_plain("RecordId", "CreateTime"), _lookup("StorageSystem", "StorageSystemID", "StorageSystems"),
         _lookup("Site", "SiteID", "Sites"), _lookup("StorageShare", "StorageShareID", "StorageShares"),
         _lookup("StorageMedia", "StorageMediaID", "StorageMedia"),
         _lookup("StorageClass", "StorageClassID", "StorageClasses"),
         *_plain("FileCount", "DirectoryPath", "LocalUser", "LocalGroup"),
         _lookup("UserIdentity", "UserIdentityID", "UserIdentities"), _lookup("Group", "GroupID", "Groups"),
         _lookup("SubGroup", "SubGroupID", "SubGroups"), _lookup("Role", "RoleID", "Roles"),
         *_plain("StartTime", "EndTime", "ResourceCapacityUsed", "LogicalCapacityUsed", "ResourceCapacityAllocated")),
        publisher=None,
    ),
)
REPOSITORY_TABLES += CLOUD_TABLES + STORAGE_TABLES

# The client's job table is keyed by machine name, not site.
SITE_TABLES = (
    replace(REPOSITORY_TABLES[0], key=("MachineNameID", "LocalJobId", "EndTime")),
    ClientTable(
        "EventRecords", "BatchRecords", ("MachineNameID", "JobName", "EndTime"),
        (_lookup("MachineName", "MachineNameID", "MachineNames"), _lookup("Queue", "QueueID", "Queues"),
         *_plain("JobName", "LocalUserID", "LocalUserGroup", "WallDuration", "CpuDuration", "StartTime", "EndTime",
                 "Infrastructure", "MemoryReal", "MemoryVirtual", "Processors", "NodeCount", "Status")),
        _event, _write_events),
    ClientTable(
        "BlahdRecords", "BlahRecords", ("TimeStamp", "SiteID", "LrmsId", "CEID"),
        (_lookup("GlobalUserName", "GlobalUserNameID", "DNs"), _lookup("CeId", "CEID", "SubmitHosts"),
         *_plain("TimeStamp", "FQAN", "GlobalJobId", "LrmsId")),
        _blah, lambda db, items: site_sql.store_site_records(db, items)),
    ClientTable(
        "SpecRecords", "SpecHistory", ("SiteID", "CEID", "StartTime", "ServiceLevelType"),
        (_lookup("CE", "CEID", "SubmitHosts"), *_plain("StartTime", "StopTime", "ServiceLevelType", "ServiceLevel")),
        _spec, sql.store_spec_periods),
)
SITE_TIME_COLUMNS = frozenset({"StartTime", "EndTime", "StopTime", "TimeStamp"})


def kind_of(spec, name):
    """The kind of a value of a source table: its field's, or for a client table's rows
    'time' for the time columns."""
    if spec.rtype is not None:
        return spec.rtype.by_name[name].kind.name
    return "time" if name in SITE_TIME_COLUMNS else "float" if name == "ServiceLevel" else "int"
