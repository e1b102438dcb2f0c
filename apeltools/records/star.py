"""StAR (EMI Storage Accounting Record) usage records to and from storage records.

Namespace ``sr`` = ``http://eu-emi.eu/namespaces/2011/02/storagerecord``.
``StorageUsageRecords`` holds ``StorageUsageRecord`` elements; a lone
``StorageUsageRecord`` root is a message of one record. Mapping:

- ``RecordIdentity`` attributes ``recordId`` / ``createTime`` → RecordId / CreateTime;
- ``StorageSystem``, ``Site``, ``StorageShare``, ``StorageMedia``, ``StorageClass``,
  ``FileCount``, ``DirectoryPath``, ``StartTime``, ``EndTime`` (xsd:dateTime),
  ``ResourceCapacityUsed``, ``LogicalCapacityUsed``, ``ResourceCapacityAllocated``
  (bytes) → the field of the same name;
- ``SubjectIdentity``: ``LocalUser``, ``LocalGroup``, ``UserIdentity``, ``Group`` → the
  field of the same name; ``GroupAttribute`` with ``attributeType`` ``subgroup`` →
  SubGroup, ``role`` → Role, any other type is read past.

Elements StAR defines but the record type does not hold (``MeasureTime``,
``ValidDuration`` of early StAR drafts, ``Quota``…) are read past; a record
that gives only those times is rejected for its missing StartTime.
"""

import xml.etree.ElementTree as ElementTree

from apeltools.records.fields import TIME, format_time
from apeltools.records.types import STORAGE
from apeltools.records.xml import (
    STAR_NAMESPACE as NAMESPACE,
    attribute,
    child_elements,
    copy_texts,
    document,
    element_in,
    first_child,
    record_label,
    text_of,
)

FORMAT = "StAR XML"
RTYPE = STORAGE
CONTAINER = "StorageUsageRecords"
RECORD = "StorageUsageRecord"

_IDENTITY = {"recordId": "RecordId", "createTime": "CreateTime"}
_SUBJECT = ("LocalUser", "LocalGroup", "UserIdentity", "Group")
_GROUP_ATTRIBUTES = {"subgroup": "SubGroup", "role": "Role"}
_BEFORE_SUBJECT = (
    "StorageSystem", "Site", "StorageShare", "StorageMedia", "StorageClass", "FileCount", "DirectoryPath",
)
_AFTER_SUBJECT = (
    "StartTime", "EndTime", "ResourceCapacityUsed", "LogicalCapacityUsed", "ResourceCapacityAllocated",
)


def raw_fields(record):
    """Storage field name → wire text of one ``StorageUsageRecord`` element."""
    raw = {}
    identity = first_child(record, "RecordIdentity")
    if identity is not None:
        for name, field in _IDENTITY.items():
            value = attribute(identity, name, NAMESPACE)
            if value is not None:
                raw[field] = value.strip()
    copy_texts(record, set(_BEFORE_SUBJECT + _AFTER_SUBJECT), raw)
    subject = first_child(record, "SubjectIdentity")
    if subject is not None:
        copy_texts(subject, set(_SUBJECT), raw)
        for element in child_elements(subject, "GroupAttribute"):
            kind = attribute(element, "attributeType", NAMESPACE) or ""
            field = _GROUP_ATTRIBUTES.get(kind.lower())
            if field is not None and field not in raw:
                raw[field] = text_of(element)
    return raw


def label(record):
    """How a rejected record is named in errors: ``<sr:StorageUsageRecord> recordId=...``."""
    return record_label(record, NAMESPACE)


def _text(storage, name):
    value = getattr(storage, name)
    if value is None:
        return None
    return format_time(value) if STORAGE.by_name[name].kind is TIME else str(value)


def _usage_record(parent, storage):
    record = element_in(parent, NAMESPACE, RECORD)
    element_in(
        record, NAMESPACE, "RecordIdentity",
        recordId=storage.RecordId, createTime=format_time(storage.CreateTime),
    )
    for name in _BEFORE_SUBJECT:
        if getattr(storage, name) is not None:
            element_in(record, NAMESPACE, name, _text(storage, name))
    subject_fields = [name for name in _SUBJECT if getattr(storage, name) is not None]
    group_attributes = [
        (kind, getattr(storage, field)) for kind, field in _GROUP_ATTRIBUTES.items()
        if getattr(storage, field) is not None
    ]
    if subject_fields or group_attributes:
        subject = element_in(record, NAMESPACE, "SubjectIdentity")
        for name in subject_fields:
            element_in(subject, NAMESPACE, name, _text(storage, name))
        for kind, value in group_attributes:
            element_in(subject, NAMESPACE, "GroupAttribute", value, attributeType=kind)
    for name in _AFTER_SUBJECT:
        if getattr(storage, name) is not None:
            element_in(record, NAMESPACE, name, _text(storage, name))


def write(records):
    """A StAR XML document (``sr:StorageUsageRecords``) holding one record element per storage record."""
    root = ElementTree.Element(f"{{{NAMESPACE}}}{CONTAINER}")
    for storage in records:
        _usage_record(root, storage)
    return document(root)
