"""SQL of job lifecycles and tags: batch records with their blah records, read in chunks, and JobTags.

Tables: ``BatchRecords`` (lifecycle columns from migration 008), ``BlahRecords``
and ``JobTags``. Lifecycles are read by keyset pages of batch record ids, each
page a bounded list of rows, so a reader of millions of jobs holds one page at
a time and never keeps a cursor open across another query (MySQL's unbuffered
cursors allow one result at a time per connection). Which blah record belongs
to a batch record is the joiner's decision (``apeltools.joiner.pick_blah``);
this module returns every candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from apeltools.db.base import Database

BATCH_COLUMNS = (
    "id", "BatchSystem", "LocalJobId", "LocalUserId", "Queue", "MachineName", "SubmitTime", "EligibleTime",
    "StartTime", "EndTime", "WallDuration", "CpuDuration", "Processors", "State", "FinalState", "ExitCode",
)
BLAH_COLUMNS = ("Timestamp", "GlobalUserName", "FQAN", "CeId")
PAGE = (
    "SELECT " + ", ".join(f"b.`{c}`" for c in BATCH_COLUMNS) + ", "
    + ", ".join(f"h.`{c}`" for c in BLAH_COLUMNS) + " "
    "FROM (SELECT " + ", ".join(f"`{c}`" for c in BATCH_COLUMNS) + ", LrmsId FROM BatchRecords "
    "WHERE {where} ORDER BY id LIMIT ?) b "
    "LEFT JOIN BlahRecords h ON h.LrmsId = b.LrmsId ORDER BY b.id"
)
TAGS_OF = "SELECT BatchRecordId, TagKey, TagValue FROM JobTags WHERE BatchRecordId IN ({marks})"
ANY_TAG = "SELECT 1 FROM JobTags LIMIT 1"
IDS_OF_JOBS = "SELECT LocalJobId, id FROM BatchRecords WHERE LocalJobId IN ({marks})"
DELETE_KEY = "DELETE FROM JobTags WHERE TagKey = ? AND BatchRecordId IN ({marks})"
DELETE_VALUE = "DELETE FROM JobTags WHERE TagKey = ? AND TagValue = ? AND BatchRecordId IN ({marks})"
TAG_COLUMNS = ("BatchRecordId", "TagKey", "TagValue")
IN_CHUNK = 500


@dataclass
class BatchFilter:
    """Conditions on batch records (and on the blah records of their job id) that SQL can apply.

    ``dns``, ``ces`` and ``fqans`` only narrow the batch records to those
    with some blah record matching; the caller checks the one that applies.
    """

    start: int | None = None  # EndTime at or after (epoch seconds)
    end: int | None = None  # EndTime before
    local_users: tuple = ()
    queues: tuple = ()
    final_states: tuple = ()
    job_ids: tuple = ()  # LocalJobId
    tags: tuple = ()  # (key, value) pairs, all required
    dns: tuple = ()
    ces: tuple = ()
    fqans: tuple = ()

    def where(self) -> tuple[str, list]:
        """The WHERE text (without the id bound) and its parameters."""
        conditions: list[str] = []
        params: list[Any] = []

        def among(column: str, values: Sequence[Any], table: str = "BatchRecords") -> None:
            if values:
                marks = ", ".join("?" * len(values))
                if table == "BatchRecords":
                    conditions.append(f"`{column}` IN ({marks})")
                else:
                    conditions.append(f"LrmsId IN (SELECT LrmsId FROM BlahRecords WHERE `{column}` IN ({marks}))")
                params.extend(values)

        if self.start is not None:
            conditions.append("EndTime >= ?")
            params.append(self.start)
        if self.end is not None:
            conditions.append("EndTime < ?")
            params.append(self.end)
        among("LocalUserId", self.local_users)
        among("Queue", self.queues)
        among("FinalState", self.final_states)
        among("LocalJobId", self.job_ids)
        among("GlobalUserName", self.dns, "BlahRecords")
        among("CeId", self.ces, "BlahRecords")
        among("FQAN", self.fqans, "BlahRecords")
        for key, value in self.tags:
            conditions.append("id IN (SELECT BatchRecordId FROM JobTags WHERE TagKey = ? AND TagValue = ?)")
            params += [key, value]
        return " AND ".join(conditions + ["id > ?"]), params


def pages(db: Database, batch_filter: BatchFilter, size: int = 5000) -> Iterator[list]:
    """Yield pages of rows: each row the ``BATCH_COLUMNS`` of a batch record then the
    ``BLAH_COLUMNS`` of one blah record of its job id (all None without one), in id order;
    a batch record's rows never span two pages."""
    where, params = batch_filter.where()
    sql = PAGE.format(where=where)
    after = 0
    while True:
        rows = db.query(sql, (*params, after, size))
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _chunks(ids: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(ids)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start:start + IN_CHUNK]


def any_tags(db: Database) -> bool:
    """Whether any job has a tag (readers then skip looking tags up)."""
    return bool(db.query(ANY_TAG))


def tags_of(db: Database, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{batch record id: {key: value}} of the given ids (those without tags left out)."""
    found: dict[int, dict[str, str]] = {}
    for chunk in _chunks(ids):
        for record_id, key, value in db.query(TAGS_OF.format(marks=", ".join("?" * len(chunk))), chunk):
            found.setdefault(int(record_id), {})[key] = value
    return found


def ids_of_jobs(db: Database, job_ids: Iterable[str]) -> dict[str, list[int]]:
    """{LocalJobId: [batch record ids]} of the given batch job ids (a job run twice has two)."""
    found: dict[str, list[int]] = {}
    for chunk in _chunks(job_ids):
        for job_id, record_id in db.query(IDS_OF_JOBS.format(marks=", ".join("?" * len(chunk))), chunk):
            found.setdefault(job_id, []).append(int(record_id))
    return found


def set_tags(db: Database, ids: Sequence[int], tags: Sequence[tuple[str, str]]) -> int:
    """Give every batch record of ``ids`` the ``tags`` (key, value) pairs, replacing a key's
    value; inside the caller's transaction. Returns the number of (record, tag) pairs written."""
    if not tags:
        return 0
    remove_tags(db, ids, [(key, None) for key, _ in tags])
    rows = [(record_id, key, value) for record_id in ids for key, value in tags]
    db.insert_rows("JobTags", TAG_COLUMNS, rows)
    return len(rows)


def remove_tags(db: Database, ids: Iterable[int], tags: Iterable[tuple[str, str | None]]) -> int:
    """Remove tags from batch records: (key, None) removes the key, (key, value) only that value.
    Inside the caller's transaction; returns the number removed."""
    removed = 0
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        for key, value in tags:
            if value is None:
                removed += db.execute(DELETE_KEY.format(marks=marks), (key, *chunk))
            else:
                removed += db.execute(DELETE_VALUE.format(marks=marks), (key, value, *chunk))
    return removed
