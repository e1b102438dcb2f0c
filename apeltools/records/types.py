"""The record types: each one's fields, order, mandatory set, checks, natural key and table.

This module is the single definition that the text, XML and JSON codecs,
validation and the database layer all derive from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass, fields as dataclass_fields
from itertools import repeat
from operator import attrgetter, lt, mul, truediv
from typing import TYPE_CHECKING, Any
from decimal import ROUND_HALF_UP, Decimal

from apeltools.quoting import quote
from apeltools.records.benchmark import canonical_type
from apeltools.records.fields import (
    FLOAT, INT, LATEST_TIME, STR, TIME, Field, month_bounds, month_of, text_converter,
)
from apeltools.records.fqan import split_fqan

FUTURE_TOLERANCE = 2 * 86400  # how far in the future a job may end (clock skew, time zones)


@dataclass(frozen=True)
class Rule:
    """One rule of a record type beyond its fields' own: ``apply(*values of reads, now)``
    raises ``FieldProblem`` or returns the new values of ``writes`` (None: none changed).

    A rule's outcome depends on the values it reads and the time of checking only, so that
    the text decoder can apply it to a whole message's records at once: once per distinct
    input when ``repeats`` (FQANs, benchmarks, months: what messages repeat), else once per
    record (times).
    """

    reads: tuple[str, ...]
    apply: Callable[..., tuple[Any, ...] | None]
    writes: tuple[str, ...] = ()
    repeats: bool = True
    # A test of whole columns (a list of values per name read, then the time of checking),
    # true only when no record breaks the rule or has a value changed by it, so that the
    # decoder need not apply it record by record; None: no such test.
    holds: Callable[..., bool] | None = None
    values: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", attrgetter(*self.reads))

    def check(self, record: Any, now: int) -> None:
        """Apply this rule to one record."""
        values = self.values(record)
        new = self.apply(*values, now) if len(self.reads) > 1 else self.apply(values, now)
        if new is not None:
            for name, value in zip(self.writes, new):
                setattr(record, name, value)


@dataclass(frozen=True, eq=False)
class RecordType:
    """A record type: the one definition behind parsing, writing, checking and storing.

    ``rules`` check a freshly parsed record in order (``check(record, now)``), may canonicalise
    or derive values in it, and raise ``FieldProblem`` (field, reason). ``ignored`` keys are accepted on the wire and
    dropped. ``key`` is the natural key: a record replaces the stored record
    with the same key. ``extra_columns`` are derived columns stored beside the
    fields (e.g. the month of a job) and computed by ``derived(record)``.
    """

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    table: str
    rules: tuple[Rule, ...] = ()
    ignored: frozenset[str] = frozenset()
    extra_columns: tuple[Field, ...] = ()
    derived: Callable[[Any], tuple[Any, ...]] | None = None
    newer: str | None = None  # a stored record is only replaced by one at least this new

    if TYPE_CHECKING:
        # Set by __post_init__ from the fields; the record class is typed in records/classes.py.
        cls: type[Any] = field(init=False)
        by_name: dict[str, Field] = field(init=False)
        mandatory: tuple[str, ...] = field(init=False)
        bounded: tuple[Field, ...] = field(init=False)
        texts: tuple[Field, ...] = field(init=False)
        text_converters: dict[str, Callable[[str], Any]] = field(init=False)

    def __post_init__(self) -> None:
        cls = make_dataclass(
            self.name.title().replace("_", "") + "Record",
            [(f.name, object, None) for f in self.fields],
            slots=True,
        )
        cls.record_type = self  # type: ignore[attr-defined]
        object.__setattr__(self, "cls", cls)
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "mandatory", tuple(f.name for f in self.fields if f.mandatory))
        object.__setattr__(self, "bounded", tuple(f for f in self.fields if f.minimum is not None))
        object.__setattr__(self, "texts", tuple(f for f in self.fields if f.kind is STR))
        object.__setattr__(
            self, "text_converters", {f.name: text_converter(f.kind) for f in self.fields}
        )

    def make(self, **values: Any) -> Any:
        """A record of this type from field values (absent fields are None)."""
        return self.cls(**values)

    def check(self, record: Any, now: int) -> None:
        """Apply the rules to a freshly parsed record: raises ``FieldProblem`` at the first broken one."""
        for rule in self.rules:
            rule.check(record, now)

    def __repr__(self) -> str:
        return f"<RecordType {self.name}>"


class FieldProblem(ValueError):
    """A value that parsed but breaks a rule of its record type."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def values_of(record: Any) -> dict[str, Any]:
    """The field values of a record as a dict, in field order."""
    return {f.name: getattr(record, f.name) for f in dataclass_fields(record)}


def _benchmark_type(level_type: str | None, now: int, keep_spelling: bool = False) -> tuple[Any, ...] | None:
    """Check the benchmark type (any case) and spell it canonically, or keep its spelling.

    Job records keep the spelling they came with, as the deployed loader stores
    it (their key does not hold it). Summaries are spelt canonically: the type is
    part of their natural key, which is exact here where the deployed schema's is
    case-insensitive, so one spelling per type lets a re-sent group replace its
    row whatever syntax it came in (v0.2 ``HEPSPEC``, v0.4 ``{hepspec: …}``)
    instead of counting it twice.
    """
    if level_type is None:
        return None
    try:
        canonical = canonical_type(level_type)
    except ValueError as error:
        raise FieldProblem("ServiceLevelType", str(error)) from None
    return None if keep_spelling or canonical == level_type else (canonical,)


def _known_benchmark_type(level_type: str | None, now: int) -> tuple[Any, ...] | None:
    return _benchmark_type(level_type, now, keep_spelling=True)


_THOUSANDTH = Decimal("0.001")


def _to_thousandths(value: float | None, now: int) -> tuple[Any, ...] | None:
    """Round a benchmark (or a cloud CpuCount) to the thousandth, as the deployed schema's
    DECIMAL(10,3) columns store it (from the value's decimal form, halves away from zero): the
    same figure is then stored, shown and used to normalise on both sides."""
    if value is not None and value != round(value, 3):
        return (float(Decimal(repr(value)).quantize(_THOUSANDTH, ROUND_HALF_UP)),)
    return None


def _thousandths_hold(values: list[Any], now: int) -> bool:
    """True when every value is already a thousandth (``_to_thousandths`` changes none): x is
    the float nearest to its thousands rounded, divided by 1,000, and below 1e11, where a
    float is within 2**-14 of the decimal it is nearest to, so that ``round(x, 3)`` is that
    decimal's float, x itself."""
    if None in values:
        return False
    try:
        nearest = list(map(truediv, map(round, map(mul, values, repeat(1000.0))), repeat(1000)))
    except (ValueError, OverflowError):  # not a number, infinite, or too large
        return False
    return nearest == values and max(map(abs, values), default=0) < 1e11


def _fqan(fqan: str | None, now: int) -> tuple[Any, ...] | None:
    return None if fqan is None else split_fqan(fqan)


def _infrastructure(name: str) -> Callable[[str | None, int], tuple[Any, ...] | None]:
    """The rule of an infrastructure field: 'grid' or 'local' in any case, stored in lower case."""

    def rule(value: str | None, now: int) -> tuple[Any, ...] | None:
        if value is None or value == "grid" or value == "local":
            return None
        lowered = value.lower()
        if lowered not in ("grid", "local"):
            raise FieldProblem(name, f"must be 'grid' or 'local', not {quote(value)}")
        return (lowered,)

    return rule


def _month(month: str = "Month", year: str = "Year") -> Rule:
    """The rule of a record of one month: a month of a year since 1970, not in the future."""

    def rule(month_value: int, year_value: int, now: int) -> None:
        if not 1 <= month_value <= 12:
            raise FieldProblem(month, f"month must be 1..12, not {month_value}")
        if year_value < 1970:
            raise FieldProblem(year, f"year {year_value} is before 1970")
        if (year_value, month_value) > month_of(now):
            raise FieldProblem(month, f"{year_value}-{month_value:02d} is in the future")

    return Rule((month, year), rule)


def _end_times_in_month(year: int, month: int, earliest: int | None, latest: int | None, now: int) -> None:
    start, end = month_bounds(year, month)
    if earliest is not None and not start <= earliest < end:
        raise FieldProblem("EarliestEndTime", f"{earliest} is outside {year}-{month:02d}")
    if latest is not None and not start <= latest < end:
        raise FieldProblem("LatestEndTime", f"{latest} is outside {year}-{month:02d}")
    if earliest is not None and latest is not None and earliest > latest:
        raise FieldProblem("EarliestEndTime", "EarliestEndTime is after LatestEndTime")


def _ends_after_start(start: int | None, end: int | None, now: int) -> None:
    if start is not None and end is not None and end < start:
        raise FieldProblem("EndTime", "EndTime is before StartTime")


def _in_order(start: list[Any], end: list[Any]) -> bool:
    """Every start and end given, and no end before its start."""
    return None not in start and None not in end and not any(map(lt, end, start))


def _job_times_hold(start: list[Any], end: list[Any], now: int) -> bool:
    return _in_order(start, end) and max(end, default=0) <= now + FUTURE_TOLERANCE


def _job_times(start: int, end: int, now: int) -> None:
    _ends_after_start(start, end, now)
    if end > now + FUTURE_TOLERANCE:
        raise FieldProblem("EndTime", "EndTime is more than 2 days in the future")


_VO = ("VO", "VOGroup", "VORole")
_END_TIMES_IN_MONTH = Rule(("Year", "Month", "EarliestEndTime", "LatestEndTime"), _end_times_in_month, repeats=False)

_JOB_RULES = (
    Rule(("FQAN",), _fqan, _VO),
    Rule(("ServiceLevelType",), _known_benchmark_type),
    Rule(("ServiceLevel",), _to_thousandths, ("ServiceLevel",), holds=_thousandths_hold),
    Rule(("InfrastructureType",), _infrastructure("InfrastructureType"), ("InfrastructureType",)),
    Rule(("StartTime", "EndTime"), _job_times, repeats=False, holds=_job_times_hold),
)

_SUMMARY_RULES = (
    Rule(("ServiceLevelType",), _benchmark_type, ("ServiceLevelType",)),
    Rule(("ServiceLevel",), _to_thousandths, ("ServiceLevel",), holds=_thousandths_hold),
    Rule(("InfrastructureType",), _infrastructure("InfrastructureType"), ("InfrastructureType",)),
    _month(),
    _END_TIMES_IN_MONTH,
)

_NORMALISED_RULES = (
    Rule(("ServiceLevelType",), _benchmark_type, ("ServiceLevelType",)),
    Rule(("Infrastructure",), _infrastructure("Infrastructure"), ("Infrastructure",)),
    _month(),
    _END_TIMES_IN_MONTH,
)

CLOUD_STATUSES = ("started", "completed", "suspended")


def measurement_time(status: str | None, end: int | None, created: int | None, start: int | None,
                     suspended: int | None, wall: int | None) -> int | None:
    """When a cloud record was measured: EndTime when completed, else RecordCreateTime,
    else StartTime + SuspendDuration + WallDuration."""
    if status == "completed" and end is not None:
        return end
    if created is not None:
        return created
    if start is not None:
        return start + (suspended or 0) + (wall or 0)
    return None


_MEASUREMENT = ("Status", "EndTime", "RecordCreateTime", "StartTime", "SuspendDuration", "WallDuration")


def cloud_measurement_time(record: Any) -> int | None:
    """``measurement_time`` of a cloud record."""
    return measurement_time(*attrgetter(*_MEASUREMENT)(record))


def _cloud_status(status: str | None, now: int) -> tuple[Any, ...] | None:
    if status is None:
        return None
    lowered = status.lower()
    if lowered not in CLOUD_STATUSES:
        raise FieldProblem("Status", f"must be one of {', '.join(CLOUD_STATUSES)}, not {quote(status)}")
    return None if lowered == status else (lowered,)


def _cloud_times(status: str | None, end: int | None, created: int | None, start: int | None,
                 suspended: int | None, wall: int | None, now: int) -> None:
    _ends_after_start(start, end, now)
    measured = measurement_time(status, end, created, start, suspended, wall)
    if measured is None:
        raise FieldProblem("RecordCreateTime", "no measurement time: give RecordCreateTime or StartTime")
    if measured >= LATEST_TIME:
        raise FieldProblem("WallDuration", f"measurement time {measured} is after 2099")


def _cloud_times_hold(status: list[Any], end: list[Any], created: list[Any], start: list[Any],
                      suspended: list[Any], wall: list[Any], now: int) -> bool:
    """Every record in order and with a RecordCreateTime: its measurement time is that or its
    EndTime, both before 2100."""
    return (_in_order(start, end) and None not in created
            and max(end, default=0) < LATEST_TIME and max(created, default=0) < LATEST_TIME)


_CLOUD_RULES = (
    Rule(("Benchmark",), _to_thousandths, ("Benchmark",), holds=_thousandths_hold),
    Rule(("CpuCount",), _to_thousandths, ("CpuCount",), holds=_thousandths_hold),
    Rule(("Status",), _cloud_status, ("Status",)),
    Rule(_MEASUREMENT, _cloud_times, repeats=False, holds=_cloud_times_hold),
)

_CLOUD_SUMMARY_RULES = (
    Rule(("Benchmark",), _to_thousandths, ("Benchmark",), holds=_thousandths_hold),
    Rule(("CpuCount",), _to_thousandths, ("CpuCount",), holds=_thousandths_hold),
    _month(),
)


def _storage_times(start: int, end: int, now: int) -> None:
    if end < start:
        raise FieldProblem("EndTime", "EndTime is before StartTime")


def _associated_type(value: str, now: int) -> None:
    if value not in ("cloud", "job"):
        raise FieldProblem("AssociatedRecordType", "must be 'cloud' or 'job'")


def _active_duration(active: int | None, available: int | None, now: int) -> tuple[Any, ...] | None:
    return (available,) if active is None else None


def _accelerator_type(value: str, now: int) -> None:
    if value not in ("GPU", "FPGA", "Other"):
        raise FieldProblem("Type", f"must be GPU, FPGA or Other, not {quote(value)}")


_ACCELERATOR_RULES = (
    _month("MeasurementMonth", "MeasurementYear"),
    Rule(("AssociatedRecordType",), _associated_type),
    Rule(("ActiveDuration", "AvailableDuration"), _active_duration, ("ActiveDuration",)),
    Rule(("Type",), _accelerator_type),
)


def _job_month(record: Any) -> tuple[int, int]:
    year, month = month_of(record.EndTime)
    return (year, month)


def _cloud_measurement(record: Any) -> tuple[Any, ...]:
    moment = cloud_measurement_time(record)
    assert moment is not None, "a cloud record without a measurement time is refused by its rules"
    year, month = month_of(moment)
    vo, group, role = split_fqan(record.FQAN) if record.FQAN else (None, None, None)
    return (moment, year, month, vo, group, role)


def _name(name: str, **options: Any) -> Field:
    """A name kept in a lookup table (Site → Sites); DNs may be longer than other names."""
    size = 512 if LOOKUPS[name] == "DNs" else 255
    return Field(name, STR, lookup=LOOKUPS[name], key_default="None", size=size, **options)


# Field name → lookup table. Absent names are stored as the name "None".
LOOKUPS = {
    "Site": "Sites",
    "SiteName": "Sites",
    "SubmitHost": "SubmitHosts",
    "MachineName": "MachineNames",
    "Queue": "Queues",
    "GlobalUserName": "DNs",
    "VO": "VOs",
    "VOGroup": "VOGroups",
    "VORole": "VORoles",
    "CloudComputeService": "CloudComputeServices",
}


JOB = RecordType(
    name="job",
    table="JobRecords",
    fields=(
        _name("Site", mandatory=True),
        _name("SubmitHost"),
        _name("MachineName"),
        _name("Queue"),
        Field("LocalJobId", mandatory=True),
        Field("LocalUserId", key_default="None"),
        _name("GlobalUserName"),
        Field("FQAN", key_default="None"),
        _name("VO"),
        _name("VOGroup"),
        _name("VORole"),
        Field("WallDuration", INT, mandatory=True),
        Field("CpuDuration", INT, mandatory=True),
        Field("Processors", INT, key_default=0),
        Field("NodeCount", INT, key_default=0),
        Field("StartTime", TIME, mandatory=True),
        Field("EndTime", TIME, mandatory=True),
        Field("InfrastructureDescription"),
        Field("InfrastructureType", key_default="None", size=20),
        Field("MemoryReal", INT),
        Field("MemoryVirtual", INT),
        Field("ServiceLevelType", mandatory=True, size=50),
        Field("ServiceLevel", FLOAT, mandatory=True, minimum=0),
    ),
    key=("Site", "LocalJobId", "EndTime"),
    rules=_JOB_RULES,
    ignored=frozenset({"UpdateTime", "SubmitHostType"}),
    extra_columns=(Field("EndYear", INT), Field("EndMonth", INT)),
    derived=_job_month,
)

_SUMMARY_HEAD = (
    _name("Site", mandatory=True),
    Field("Month", INT, mandatory=True),
    Field("Year", INT, mandatory=True),
    _name("GlobalUserName"),
    _name("VO"),
    _name("VOGroup"),
    _name("VORole"),
    _name("SubmitHost"),
)

SUMMARY = RecordType(
    name="summary",
    table="Summaries",
    fields=_SUMMARY_HEAD
    + (
        Field("InfrastructureType", key_default="None", size=20),
        Field("InfrastructureDescription"),
        Field("ServiceLevelType", mandatory=True, size=50),
        Field("ServiceLevel", FLOAT, mandatory=True, minimum=0),
        Field("NodeCount", INT, key_default=0),
        Field("Processors", INT, key_default=0),
        Field("EarliestEndTime", TIME),
        Field("LatestEndTime", TIME),
        Field("WallDuration", INT, mandatory=True),
        Field("CpuDuration", INT, mandatory=True),
        Field("NumberOfJobs", INT, mandatory=True),
    ),
    key=(
        "Site", "Month", "Year", "GlobalUserName", "VO", "VORole", "VOGroup", "SubmitHost",
        "InfrastructureType", "ServiceLevelType", "ServiceLevel", "NodeCount", "Processors",
    ),
    rules=_SUMMARY_RULES,
    ignored=frozenset({"UpdateTime"}),
)

NORMALISED_SUMMARY = RecordType(
    name="normalised_summary",
    table="NormalisedSummaries",
    fields=_SUMMARY_HEAD
    + (
        Field("Infrastructure", key_default="None", size=20),
        Field("InfrastructureDescription"),
        Field("NodeCount", INT, key_default=0),
        Field("Processors", INT, key_default=0),
        Field("EarliestEndTime", TIME),
        Field("LatestEndTime", TIME),
        Field("WallDuration", INT, mandatory=True),
        Field("CpuDuration", INT, mandatory=True),
        Field("NormalisedWallDuration", INT, mandatory=True),
        Field("NormalisedCpuDuration", INT, mandatory=True),
        Field("NumberOfJobs", INT, mandatory=True),
        # Not a wire field of its own: v0.3 means HEPSPEC, v0.4 names it in its dicts.
        Field("ServiceLevelType", mandatory=True, size=50),
    ),
    key=(
        "Site", "Month", "Year", "GlobalUserName", "VO", "VORole", "VOGroup", "SubmitHost",
        "Infrastructure", "NodeCount", "Processors", "ServiceLevelType",
    ),
    rules=_NORMALISED_RULES,
    ignored=frozenset({"UpdateTime"}),
)

SYNC = RecordType(
    name="sync",
    table="SyncRecords",
    fields=(
        _name("Site", mandatory=True),
        _name("SubmitHost"),
        Field("NumberOfJobs", INT, mandatory=True),
        Field("Month", INT, mandatory=True),
        Field("Year", INT, mandatory=True),
    ),
    key=("Site", "SubmitHost", "Month", "Year"),
    rules=(_month(),),
)

CLOUD = RecordType(
    name="cloud",
    table="CloudRecords",
    fields=(
        Field("RecordCreateTime", TIME),
        Field("VMUUID", mandatory=True),
        _name("SiteName", mandatory=True),
        _name("CloudComputeService"),
        Field("MachineName", key_default="None"),
        Field("LocalUserId", key_default="None"),
        Field("LocalGroupId", key_default="None"),
        _name("GlobalUserName"),
        Field("FQAN", key_default="None"),
        Field("Status", key_default="None", size=20),
        Field("StartTime", TIME),
        Field("EndTime", TIME),
        Field("SuspendDuration", INT),
        Field("WallDuration", INT),
        Field("CpuDuration", INT),
        Field("CpuCount", FLOAT, minimum=0, key_default=0),
        Field("NetworkType", key_default="None", size=50),
        Field("NetworkInbound", INT),
        Field("NetworkOutbound", INT),
        Field("PublicIPCount", INT),
        Field("Memory", INT),
        Field("Disk", INT),
        Field("BenchmarkType", key_default="None", size=50),
        Field("Benchmark", FLOAT, minimum=0, key_default=0.0),
        Field("StorageRecordId", key_default="None"),
        Field("ImageId", key_default="None"),
        Field("CloudType", key_default="None", size=50),
    ),
    key=("VMUUID", "MeasurementMonth", "MeasurementYear"),
    rules=_CLOUD_RULES,
    ignored=frozenset({"UpdateTime", "MeasurementTime", "MeasurementMonth", "MeasurementYear"}),
    extra_columns=(
        Field("MeasurementTime", TIME),
        Field("MeasurementYear", INT),
        Field("MeasurementMonth", INT),
        Field("VO", lookup="VOs", key_default="None"),
        Field("VOGroup", lookup="VOGroups", key_default="None"),
        Field("VORole", lookup="VORoles", key_default="None"),
    ),
    derived=_cloud_measurement,
    newer="MeasurementTime",
)

CLOUD_SUMMARY = RecordType(
    name="cloud_summary",
    table="CloudSummaries",
    fields=(
        _name("SiteName", mandatory=True),
        _name("CloudComputeService"),
        Field("Month", INT, mandatory=True),
        Field("Year", INT, mandatory=True),
        _name("GlobalUserName"),
        _name("VO"),
        _name("VOGroup"),
        _name("VORole"),
        Field("Status", key_default="None", size=20),
        Field("CloudType", key_default="None", size=50),
        Field("ImageId", key_default="None"),
        Field("EarliestStartTime", TIME),
        Field("LatestStartTime", TIME),
        Field("WallDuration", INT),
        Field("CpuDuration", INT),
        Field("CpuCount", FLOAT, minimum=0, key_default=0),
        Field("NetworkInbound", INT),
        Field("NetworkOutbound", INT),
        Field("Memory", INT),
        Field("Disk", INT),
        Field("BenchmarkType", key_default="None", size=50),
        Field("Benchmark", FLOAT, key_default=0.0),
        Field("NumberOfVMs", INT, mandatory=True),
    ),
    # The deployed CloudSummaries primary key: the VMs' CpuCount, not their CloudType.
    key=(
        "SiteName", "CloudComputeService", "Month", "Year", "GlobalUserName", "VO", "VOGroup",
        "VORole", "Status", "ImageId", "CpuCount", "BenchmarkType", "Benchmark",
    ),
    rules=_CLOUD_SUMMARY_RULES,
    ignored=frozenset({"UpdateTime"}),
)

STORAGE = RecordType(
    name="storage",
    table="StarRecords",
    fields=(
        Field("RecordId", mandatory=True),
        Field("CreateTime", TIME, mandatory=True),
        Field("StorageSystem", mandatory=True),
        _name("Site"),
        Field("StorageShare", key_default="None"),
        Field("StorageMedia", key_default="None", size=50),
        Field("StorageClass", key_default="None", size=50),
        Field("FileCount", INT),
        Field("DirectoryPath", key_default="None"),
        Field("LocalUser", key_default="None"),
        Field("LocalGroup", key_default="None"),
        Field("UserIdentity", key_default="None"),
        Field("Group", key_default="None"),
        Field("SubGroup", key_default="None"),
        Field("Role", key_default="None"),
        Field("StartTime", TIME, mandatory=True),
        Field("EndTime", TIME, mandatory=True),
        Field("ResourceCapacityUsed", INT, mandatory=True),
        Field("LogicalCapacityUsed", INT),
        Field("ResourceCapacityAllocated", INT),
    ),
    key=("RecordId",),
    rules=(Rule(("StartTime", "EndTime"), _storage_times, repeats=False),),
)

ACCELERATOR = RecordType(
    name="accelerator",
    table="AcceleratorRecords",
    fields=(
        Field("MeasurementMonth", INT, mandatory=True),
        Field("MeasurementYear", INT, mandatory=True),
        Field("AssociatedRecordType", mandatory=True, size=20),
        Field("AssociatedRecord", mandatory=True),
        _name("GlobalUserName"),
        Field("FQAN"),
        _name("SiteName", mandatory=True),
        Field("Count", FLOAT, mandatory=True, minimum=0),
        Field("Cores", INT),
        Field("ActiveDuration", INT),
        Field("AvailableDuration", INT, mandatory=True),
        Field("BenchmarkType", size=50),
        Field("Benchmark", FLOAT, minimum=0),
        Field("Type", mandatory=True, size=20),
        Field("Model", key_default="None", size=100),
    ),
    key=(
        "MeasurementMonth", "MeasurementYear", "AssociatedRecordType", "AssociatedRecord",
        "SiteName", "Model",
    ),
    rules=_ACCELERATOR_RULES,
)

RECORD_TYPES = {t.name: t for t in (
    JOB, SUMMARY, NORMALISED_SUMMARY, SYNC, CLOUD, CLOUD_SUMMARY, STORAGE, ACCELERATOR,
)}


def now() -> int:
    """The current time in epoch seconds; records are checked against it."""
    return int(time.time())
