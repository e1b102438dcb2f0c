"""Accelerator (GPU/FPGA) usage messages: JSON ``APEL-accelerator-message`` v0.1.

A message is ``{"Type": "APEL-accelerator-message", "Version": "0.1",
"UsageRecords": [...]}`` with 1 to 1000 records, each an object whose keys
are the accelerator record's field names. Values are JSON numbers, strings or
null; numbers may also come as strings (``"Count": "0.5"``). The JSON Schema
of the message is ``schemas/accelerator-v0.1.schema.json``.
"""

import json

from apeltools.errors import MessageError, RecordError
from apeltools.quoting import quote
from apeltools.records.build import build_typed
from apeltools.records.parsed import ParsedMessage
from apeltools.records.types import ACCELERATOR, values_of

MESSAGE_TYPE = "APEL-accelerator-message"
VERSION = "0.1"
FORMAT = f"JSON {MESSAGE_TYPE} v{VERSION}"
MAX_RECORDS = 1000


def _no_duplicate_keys(pairs):
    found = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {quote(key)}")
        found[key] = value
    return found


def _no_constant(name):
    raise ValueError(f"{name} is not a number")


def _load(body):
    try:
        return json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise MessageError(f"JSON message does not parse: {error}.") from None


def _records_of(document):
    if not isinstance(document, dict):
        raise MessageError("JSON message is not an object.")
    message_type, version = document.get("Type"), document.get("Version")
    if message_type != MESSAGE_TYPE or version != VERSION:
        raise MessageError(f"Message type {quote(f'{message_type}: {version}', bare=True)} not recognised.")
    unknown = sorted(set(document) - {"Type", "Version", "UsageRecords"})
    if unknown:
        raise MessageError(f"Unknown message key(s): {', '.join(unknown)}.")
    records = document.get("UsageRecords")
    if not isinstance(records, list):
        raise MessageError("UsageRecords must be a list of records.")
    if not 1 <= len(records) <= MAX_RECORDS:
        raise MessageError(f"A message holds 1 to {MAX_RECORDS} records, not {len(records)}.")
    return records


def parse(body, now):
    """Parse an accelerator JSON message into a ParsedMessage.

    Raises MessageError when the message as a whole is unusable (not JSON, an
    unknown Type or Version, no records or more than 1000); a bad record is
    rejected on its own while the others load.
    """
    message = ParsedMessage(FORMAT, ACCELERATOR, _envelope)
    for index, item in enumerate(_records_of(_load(body))):
        try:
            if not isinstance(item, dict):
                raise RecordError(f"a record must be a JSON object, not {type(item).__name__}")
            message.accept(build_typed(ACCELERATOR, item, now), item)
        except RecordError as error:
            message.reject(error, index, json.dumps(item)[:80], item)
    return message


def _envelope(items):
    """The text of a message of these UsageRecords (parsed JSON values, written back as they came)."""
    return json.dumps({"Type": MESSAGE_TYPE, "Version": VERSION, "UsageRecords": items}, indent=1) + "\n"


def write(records):
    """The JSON text of one accelerator message holding ``records`` (1 to 1000)."""
    records = list(records)
    if not 1 <= len(records) <= MAX_RECORDS:
        raise MessageError(f"A message holds 1 to {MAX_RECORDS} records, not {len(records)}.")
    return _envelope([values_of(r) for r in records])
