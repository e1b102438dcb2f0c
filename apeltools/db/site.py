"""The site client's SQL: batch and blah records, parsed files, benchmark history, join state.

Tables are created by ``sql/<dialect>/003_site.sql``. Times are epoch
seconds. The join reads new (or to-be-retried) batch records in id order, in chunks, each
with every blah record of the same batch job id; deciding which blah record
and benchmark apply is the caller's (``apeltools.joiner``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apeltools.db.base import Database
from apeltools.records.site import BATCH_FIELDS, BLAH_FIELDS, BatchRecord, BlahRecord

# JoinStatus values of BatchRecords. FINE is a joined record, or a new one (an id above the
# JoinState "batch_id" mark): joining a record that needs nothing else then writes nothing to it.
# IN_FUTURE (not in 003_site.sql's list, which came before it): a job that ends more than the
# tolerated clock skew after the join's time, to be joined when that time has come.
FINE, RETRY, LOCAL, NO_BLAH, OUTSIDE_WINDOW, NO_BENCHMARK, INVALID, IN_FUTURE = range(8)
# Statuses that a newly parsed blah record for the same job id may change.
WAITING_FOR_BLAH = (LOCAL, NO_BLAH, OUTSIDE_WINDOW)

IN_CHUNK = 500

BATCH_KEY = ("BatchSystem", "LocalJobId", "EndTime")
BLAH_KEY = ("LrmsId", "Timestamp", "CeId")


def store_site_records(db: Database, records: Sequence[BatchRecord | BlahRecord]) -> int:
    """Store batch and blah records (a re-parsed record replaces its values, keeps its join status).

    Runs inside the caller's transaction.
    """
    batch = [tuple(getattr(r, f) for f in BATCH_FIELDS) for r in records if r.kind == "batch"]
    blah = [tuple(getattr(r, f) for f in BLAH_FIELDS) for r in records if r.kind == "blah"]
    if batch:
        db.upsert_rows("BatchRecords", BATCH_KEY, BATCH_FIELDS, batch, [c for c in BATCH_FIELDS if c not in BATCH_KEY])
    if blah:
        db.upsert_rows("BlahRecords", BLAH_KEY, BLAH_FIELDS, blah, [c for c in BLAH_FIELDS if c not in BLAH_KEY])
    return len(batch) + len(blah)


# -- parsed files ---------------------------------------------------------

FILE_BY_HEAD = (
    "SELECT id, HeadSize, ReadOffset, ReadLines FROM ParsedFiles WHERE Parser = ? AND HeadHash = ?"
)
SHORT_HEADS = "SELECT id, HeadHash, HeadSize, ReadOffset, ReadLines FROM ParsedFiles WHERE Parser = ? AND HeadSize < ?"
ADD_FILE = (
    "INSERT INTO ParsedFiles (Parser, HeadHash, HeadSize, ReadOffset, ReadLines, Path, UpdateTime) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_FILE = (
    "UPDATE ParsedFiles SET HeadHash = ?, HeadSize = ?, ReadOffset = ?, ReadLines = ?, Path = ?, "
    "UpdateTime = ? WHERE id = ?"
)


def file_by_head(db: Database, parser: str, head_hash: str) -> tuple[Any, ...] | None:
    """(id, head size, offset, lines) of a file known by the hash of its first bytes, or None."""
    rows = db.query(FILE_BY_HEAD, (parser, head_hash))
    return tuple(rows[0]) if rows else None


def short_head_files(db: Database, parser: str, head_size: int) -> list[tuple[Any, ...]]:
    """[(id, hash, head size, offset, lines)] of files that were shorter than a full head when read."""
    return [tuple(row) for row in db.query(SHORT_HEADS, (parser, head_size))]


def save_file(db: Database, file_id: int | None, parser: str, head_hash: str, head_size: int, offset: int,
              lines: int, path: str, now: int) -> None:
    """Record how far a file was read (inside the caller's transaction)."""
    if file_id is None:
        db.execute(ADD_FILE, (parser, head_hash, head_size, offset, lines, path, now))
    else:
        db.execute(UPDATE_FILE, (head_hash, head_size, offset, lines, path, now, file_id))


# -- benchmark history ----------------------------------------------------

SPEC_HISTORY = (
    "SELECT CE, ServiceLevelType, ServiceLevel, StartTime, StopTime, Source FROM SpecHistory "
    "ORDER BY CE, StartTime"
)
CURRENT_SPEC = (
    "SELECT id, ServiceLevelType, ServiceLevel, StartTime FROM SpecHistory "
    "WHERE CE = ? AND StopTime IS NULL"
)
CLOSE_SPEC = "UPDATE SpecHistory SET StopTime = ? WHERE id = ?"
OPEN_SPEC = (
    "INSERT INTO SpecHistory (CE, ServiceLevelType, ServiceLevel, StartTime, StopTime, Source) "
    "VALUES (?, ?, ?, ?, NULL, ?)"
)


def spec_history(db: Database) -> list[tuple[Any, ...]]:
    """Every benchmark period: [(ce, type, value, start, stop or None, source)], by CE and start."""
    return [tuple(row) for row in db.query(SPEC_HISTORY)]


def set_spec(db: Database, ce: str, benchmark_type: str, value: float, at: int, source: str) -> bool:
    """Make (type, value) the CE's benchmark from ``at`` on; True when that changed anything.

    A different current benchmark is closed at ``at`` and a new period opened;
    the same one is left as it is.
    """
    with db.transaction():
        rows = db.query(CURRENT_SPEC, (ce,))
        if rows:
            period_id, current_type, current_value, started = rows[0]
            if current_type == benchmark_type and float(current_value) == float(value):
                return False
            at = max(at, started + 1)
            db.execute(CLOSE_SPEC, (at, period_id))
        db.execute(OPEN_SPEC, (ce, benchmark_type, float(value), at, source))
    return True


# -- join -----------------------------------------------------------------

JOIN_COLUMNS = (
    "id", "BatchSystem", "LocalJobId", "LocalUserId", "Queue", "MachineName", "WallDuration",
    "CpuDuration", "Processors", "NodeCount", "StartTime", "EndTime", "MemoryReal", "MemoryVirtual",
)
# Batch records after an id (new ones, or those to retry), each with every blah
# record of its job id (none: one row of NULLs). The batch records come by the
# primary key or the (JoinStatus, id) index, their blah records by BlahRecords'
# unique key, which starts with LrmsId.
_WITH_BLAH = (
    "SELECT " + ", ".join(f"b.`{c}`" for c in JOIN_COLUMNS) + ", "
    "h.`Timestamp`, h.GlobalUserName, h.FQAN, h.CeId, h.LocalUserId "
    "FROM (SELECT " + ", ".join(f"`{c}`" for c in JOIN_COLUMNS) + ", LrmsId FROM BatchRecords "
    "WHERE {where} AND id > ? ORDER BY id LIMIT ?) b "
    "LEFT JOIN BlahRecords h ON h.LrmsId = b.LrmsId ORDER BY b.id"
)
NEW_WITH_BLAH = _WITH_BLAH.format(where="1 = 1")
RETRY_WITH_BLAH = _WITH_BLAH.format(where="JoinStatus = 1")
MARK_RETRIED_FINE = "UPDATE BatchRecords SET JoinStatus = 0 WHERE JoinStatus = 1 AND id > ? AND id <= ?"
MARK_IDS = "UPDATE BatchRecords SET JoinStatus = ? WHERE id IN ({marks})"
REOPEN_FOR_NEW_BLAH = (
    "UPDATE BatchRecords SET JoinStatus = 1 WHERE JoinStatus IN ({statuses}) "
    "AND LrmsId IN (SELECT LrmsId FROM BlahRecords WHERE id > ?)"
)
REOPEN_STATUS = "UPDATE BatchRecords SET JoinStatus = 1 WHERE JoinStatus = ?"
NEWEST_BLAH = "SELECT MAX(id) FROM BlahRecords"
GET_STATE = "SELECT Value FROM JoinState WHERE Name = ?"
# Counted through the (JoinStatus, id) index, for the given statuses only: the joined
# millions are never counted again.
STATUS_COUNTS = "SELECT JoinStatus, COUNT(*) FROM BatchRecords WHERE JoinStatus IN ({marks}) GROUP BY JoinStatus"
UNJOINED = (
    "SELECT BatchSystem, LocalJobId, LrmsId, EndTime, JoinStatus FROM BatchRecords "
    "WHERE JoinStatus IN (3, 4, 5, 6, 7) ORDER BY id"
)


def reopen(db: Database, blah_since: int, statuses_for_new_blah: Sequence[int], retry_statuses: Iterable[int]) -> int:
    """Mark batch records to be joined again (RETRY): those in ``statuses_for_new_blah`` whose
    job id has a blah record newer than id ``blah_since``, and every one in ``retry_statuses``."""
    reopened = 0
    with db.transaction():
        if statuses_for_new_blah:
            sql = REOPEN_FOR_NEW_BLAH.format(statuses=", ".join("?" * len(statuses_for_new_blah)))
            reopened += db.execute(sql, (*statuses_for_new_blah, blah_since))
        for status in retry_statuses:
            reopened += db.execute(REOPEN_STATUS, (status,))
    return reopened


def with_blah(db: Database, retry: bool, after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """Rows of up to ``limit`` batch records after ``after_id`` with their blah records: records
    to retry, or (``retry`` false) every record, for the new ones above the mark.

    Each row: the ``JOIN_COLUMNS`` of the batch record, then the blah record's
    Timestamp, GlobalUserName, FQAN, CeId and LocalUserId (all None without one).
    """
    return db.query(RETRY_WITH_BLAH if retry else NEW_WITH_BLAH, (after_id, limit))


def mark(db: Database, retry: bool, first_after: int, last: int, statuses: dict[int, list[int]],
         mark_name: str) -> None:
    """Record the outcome of one chunk of (first_after, last]: ``statuses`` {status: [ids]} for
    the batch records that did not join as grid jobs; the others are FINE. New records only
    move the ``mark_name`` mark; retried ones are set FINE."""
    with db.transaction():
        for status, ids in statuses.items():
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start:start + IN_CHUNK]
                db.execute(MARK_IDS.format(marks=", ".join("?" * len(chunk))), (status, *chunk))
        if retry:
            db.execute(MARK_RETRIED_FINE, (first_after, last))
        else:
            set_state(db, mark_name, last)


def newest_blah_id(db: Database) -> int:
    value = db.query(NEWEST_BLAH)[0][0]
    return int(value or 0)


def get_state(db: Database, name: str, default: int = 0) -> int:
    rows = db.query(GET_STATE, (name,))
    return int(rows[0][0]) if rows else default


def set_state(db: Database, name: str, value: int) -> None:
    """Set one JoinState value (inside the caller's transaction or on its own)."""
    db.upsert_rows("JoinState", ("Name",), ("Name", "Value"), [(name, value)], ("Value",))


def status_counts(db: Database, statuses: Iterable[int]) -> dict[int, int]:
    """{JoinStatus: number of batch records} for the given statuses."""
    wanted = list(statuses)
    sql = STATUS_COUNTS.format(marks=", ".join("?" * len(wanted)))
    return {int(status): int(count) for status, count in db.query(sql, wanted)}


def unjoined(db: Database) -> list[tuple[Any, ...]]:
    """[(batch system, local job id, lrms id, end time, status)] of batch records that did not join."""
    return [tuple(row) for row in db.query(UNJOINED)]
