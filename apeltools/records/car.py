"""CAR (EMI Compute Accounting Record 1.2) usage records to and from job records.

Element names follow the EMI CAR 1.2 schema (namespace ``urf``,
``http://eu-emi.eu/namespaces/2012/11/computerecord``). What this codec reads,
and the assumptions it makes where CAR says more than a job record holds:

- ``UsageRecords`` holds ``UsageRecord`` elements; a lone ``UsageRecord`` root is
  a message of one record.
- ``JobIdentity/LocalJobId`` → LocalJobId (``GlobalJobId`` is not stored).
- ``UserIdentity``: ``LocalUserId``, ``GlobalUserName``, ``Group`` → VO, and
  ``GroupAttribute`` whose type (``urf:type`` in CAR 1.2; ``attributeType`` as in
  StAR is accepted too) is ``FQAN`` / ``vo-group`` or ``group`` / ``vo-role`` or ``role``
  → FQAN / VOGroup / VORole. An FQAN, when present, decides VO, VOGroup and VORole (as
  in text messages).
- ``Infrastructure`` attributes ``type`` (grid | local) and ``description``.
- ``WallDuration`` and ``CpuDuration`` are xsd:durations (``PT3600S``,
  ``P1DT2H3M4.5S``) in whole seconds, counted as the deployed loader counts them
  (seconds rounded, halves to even; a year 365 days, a month a twelfth of that). Among several
  ``CpuDuration`` elements, ``usageType="all"`` (or no usageType) wins; otherwise
  the ``user`` and ``system`` ones are added up.
- ``StartTime``/``EndTime`` are xsd:dateTime (a time without zone is UTC).
- ``MachineName``, ``SubmitHost``, ``Queue``, ``Site``, ``NodeCount``, ``Processors``.
- ``Memory`` with ``metric="max"`` only: ``type="Physical"`` → MemoryReal,
  ``Shared`` or ``Virtual`` → MemoryVirtual (any case), converted from its
  ``storageUnit`` to KB (KB when absent; B, KB, MB, GB, TB, PB or KiB…PiB, in any case,
  all read as 1024-based byte multiples, as KB is in APEL).
- ``ServiceLevel`` with attribute ``type`` (si2k, HEPSPEC, HEPscore23, any case, kept as
  spelt); with several, the first one counts, as in the deployed loader.
- ``Status``, ``RecordIdentity`` and everything else (JobName, Host, Middleware,
  TimeInstant, Swap, …) are read past: a job record has no place for them.

The writer emits the CAR 1.2 element order. Because a job record holds
neither a status nor a record identity, it writes ``Status`` as ``completed``
(APEL job records describe finished jobs) and ``recordId`` as
``<Site>/<LocalJobId>/<EndTime>``, the record's natural key.
"""

import decimal
import math
import re
import xml.etree.ElementTree as ElementTree

from apeltools.errors import RecordError
from apeltools.quoting import quote
from apeltools.records.fields import format_time
from apeltools.records.types import JOB, now as current_time
from apeltools.records.xml import (
    CAR_NAMESPACE as NAMESPACE,
    attribute,
    child_elements,
    copy_texts,
    document,
    element_in,
    first_child,
    record_label,
    text_of,
)

FORMAT = "CAR XML v1.2"
RTYPE = JOB
CONTAINER = "UsageRecords"
RECORD = "UsageRecord"

_PLAIN = frozenset(
    {"MachineName", "SubmitHost", "Queue", "Site", "NodeCount", "Processors", "StartTime", "EndTime"}
)
# "group" and "role" are what the deployed loader reads; "vo-group" and "vo-role" what CAR 1.2 names.
_GROUP_ATTRIBUTES = {
    "fqan": "FQAN", "vo-group": "VOGroup", "vo-role": "VORole", "group": "VOGroup", "role": "VORole",
}
_MEMORY_TYPES = {"physical": "MemoryReal", "shared": "MemoryVirtual", "virtual": "MemoryVirtual"}
_UNITS = {"b": decimal.Decimal(1) / 1024, "kb": 1, "kib": 1}
for _power, _letter in enumerate("mgtp", start=1):
    _UNITS[_letter + "b"] = _UNITS[_letter + "ib"] = 1024**_power

_DURATION = re.compile(
    r"(-?)P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d*)?|[.,]\d+)S)?)?"
)
# Seconds of each part, as the deployed loader counts them: a year of 365 days, a month of
# 2,628,000 s (a twelfth of that year), a week, a day, an hour, a minute.
_PART_SECONDS = (31536000, 2628000, 604800, 86400, 3600, 60)


def parse_duration(text):
    """Whole seconds of an xsd:duration such as ``PT3600S`` or ``P1DT2H3M4.5S``, counted as the
    deployed loader counts them: its seconds rounded (halves to even), a year 365 days, a month
    a twelfth of that.

    >>> parse_duration("P1DT2H3M4.5S")
    93784
    """
    match = _DURATION.fullmatch(text)
    if match is None or text.endswith(("P", "T")):
        raise ValueError(f"not an xsd:duration: {quote(text)}")
    sign, *parts, seconds = match.groups()
    total = sum(int(part or 0) * size for part, size in zip(parts, _PART_SECONDS))
    fraction = float((seconds or "0").replace(",", "."))
    if not math.isfinite(fraction):
        raise ValueError(f"too many seconds: {quote(text)}")
    total += round(fraction)
    return -total if sign else total


def _duration(element, field):
    try:
        return parse_duration(text_of(element))
    except ValueError as error:
        raise RecordError(str(error), field=field) from None


def _cpu_duration(elements):
    """CPU seconds: the ``all`` figure, else user + system."""
    by_type = {}
    for element in elements:
        usage = (attribute(element, "usageType", NAMESPACE) or "all").lower()
        by_type.setdefault(usage, _duration(element, "CpuDuration"))
    if "all" in by_type:
        return by_type["all"]
    parts = [by_type[usage] for usage in ("user", "system") if usage in by_type]
    return sum(parts) if parts else None


def _half_up(value):
    return int(value.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def _memory_kb(element, field):
    unit = (attribute(element, "storageUnit", NAMESPACE) or "KB").lower()
    if unit not in _UNITS:
        raise RecordError(f"unknown storageUnit {quote(unit)}", field=field)
    try:
        value = decimal.Decimal(text_of(element))
    except decimal.InvalidOperation:
        raise RecordError(f"not a number: {quote(text_of(element))}", field=field) from None
    if not value.is_finite():
        raise RecordError(f"not a finite number: {quote(text_of(element))}", field=field)
    return _half_up(value * _UNITS[unit])


def _user_identity(identity, raw):
    copy_texts(identity, {"LocalUserId", "GlobalUserName"}, raw)
    group = first_child(identity, "Group")
    if group is not None:
        raw["VO"] = text_of(group)
    for element in child_elements(identity, "GroupAttribute"):
        kind = attribute(element, "type", NAMESPACE) or attribute(element, "attributeType", NAMESPACE)
        field = _GROUP_ATTRIBUTES.get((kind or "").lower())
        if field is not None and field not in raw:
            raw[field] = text_of(element)


def _service_level(elements, raw):
    """The first ServiceLevel element, its type as spelt, as the deployed loader takes it; the
    type is checked with the record."""
    if elements:
        raw["ServiceLevelType"] = attribute(elements[0], "type", NAMESPACE) or ""
        raw["ServiceLevel"] = text_of(elements[0])


def raw_fields(record):
    """Job field name → wire text of one ``UsageRecord`` element."""
    raw = {}
    copy_texts(record, _PLAIN, raw)
    job_identity = first_child(record, "JobIdentity")
    if job_identity is not None:
        copy_texts(job_identity, {"LocalJobId"}, raw)
    user_identity = first_child(record, "UserIdentity")
    if user_identity is not None:
        _user_identity(user_identity, raw)
    infrastructure = first_child(record, "Infrastructure")
    if infrastructure is not None:
        for name, field in (("type", "InfrastructureType"), ("description", "InfrastructureDescription")):
            value = attribute(infrastructure, name, NAMESPACE)
            if value is not None:
                raw[field] = value.strip()
    wall = first_child(record, "WallDuration")
    if wall is not None:
        raw["WallDuration"] = str(_duration(wall, "WallDuration"))
    cpu = _cpu_duration(child_elements(record, "CpuDuration"))
    if cpu is not None:
        raw["CpuDuration"] = str(cpu)
    for element in child_elements(record, "Memory"):
        field = _MEMORY_TYPES.get((attribute(element, "type", NAMESPACE) or "").lower())
        metric = (attribute(element, "metric", NAMESPACE) or "").lower()
        if field is not None and metric == "max" and field not in raw:
            raw[field] = str(_memory_kb(element, field))
    _service_level(child_elements(record, "ServiceLevel"), raw)
    return raw


def label(record):
    """How a rejected record is named in errors: ``<urf:UsageRecord> recordId=...``."""
    return record_label(record, NAMESPACE)


def _text(value):
    return None if value is None else str(value)


def _usage_record(parent, job, created):
    def add(parent_element, name, value=None, **attributes):
        return element_in(parent_element, NAMESPACE, name, _text(value), **attributes)

    record = add(parent, "UsageRecord")
    add(record, "RecordIdentity", recordId=f"{job.Site}/{job.LocalJobId}/{job.EndTime}", createTime=created)
    add(add(record, "JobIdentity"), "LocalJobId", job.LocalJobId)
    user = add(record, "UserIdentity")
    if job.GlobalUserName is not None:
        add(user, "GlobalUserName", job.GlobalUserName, type="opensslCompat")
    if job.VO is not None:
        add(user, "Group", job.VO)
    for kind, value in (("FQAN", job.FQAN), ("vo-group", job.VOGroup), ("vo-role", job.VORole)):
        if value is not None:
            add(user, "GroupAttribute", value, type=kind)
    if job.LocalUserId is not None:
        add(user, "LocalUserId", job.LocalUserId)
    add(record, "Status", "completed")
    add(record, "Infrastructure", type=job.InfrastructureType, description=job.InfrastructureDescription)
    add(record, "WallDuration", f"PT{job.WallDuration}S")
    add(record, "CpuDuration", f"PT{job.CpuDuration}S", usageType="all")
    add(record, "ServiceLevel", job.ServiceLevel, type=job.ServiceLevelType)
    for kind, value in (("Physical", job.MemoryReal), ("Shared", job.MemoryVirtual)):
        if value is not None:
            add(record, "Memory", value, storageUnit="KB", metric="max", type=kind)
    for name in ("NodeCount", "Processors"):
        if getattr(job, name) is not None:
            add(record, name, getattr(job, name))
    add(record, "EndTime", format_time(job.EndTime))
    add(record, "StartTime", format_time(job.StartTime))
    for name in ("MachineName", "SubmitHost", "Queue", "Site"):
        if getattr(job, name) is not None:
            add(record, name, getattr(job, name))


def write(records, created=None):
    """A CAR XML document (``urf:UsageRecords``) holding one ``urf:UsageRecord`` per job record.

    ``created`` (epoch seconds, default now) is written as every record's createTime.
    """
    created = format_time(current_time() if created is None else created)
    root = ElementTree.Element(f"{{{NAMESPACE}}}{CONTAINER}")
    for job in records:
        _usage_record(root, job, created)
    return document(root)
