"""Job rows of the source straight into bulk-load lines: each distinct value checked once, not each row.

A deployed JobRecords table holds millions of rows but few distinct sites,
users, VOs, queues and benchmarks. A row's values split in two: those that
repeat (names, FQAN, benchmark, infrastructure, processors...) and those of
the job itself (its id, durations, times, memory). The record checks of
apel-load (``records.build.finish``) on the repeating part do not depend on
the job's own values, so they run once per distinct combination, on a record
of that combination with harmless job values; the LOAD DATA cells of that
record come from the loader's own compiled row builder
(``RowPlan.tsv_escaped``). For each row only the job's own values are checked
(present, the id not too long, end not before start nor in the future) and put
between the cached cells, as the server sent them (a raw cursor: no Python
objects made for them). A row that fails any of this goes to the importer's
ordinary path, which checks it fully and explains its refusal, so a row is
refused for exactly the reasons, and stored with exactly the values, that
the ordinary path gives it.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Sequence
from typing import Any

from apeltools.db.base import Database
from apeltools.db.rows import plan_for, tsv_escape
from apeltools.db.summaries import fold_job, job_deltas
from apeltools.errors import RecordError
from apeltools.importer.rows import RowReader, public_id
from apeltools.records.build import finish
from apeltools.records.types import FUTURE_TOLERANCE, JOB

# The job's own values: checked per row, never part of the cached combination.
OWN = ("LocalJobId", "WallDuration", "CpuDuration", "StartTime", "EndTime", "MemoryReal", "MemoryVirtual")
# Harmless stand-ins for them while the combination's checks run (none of those checks reads them).
STAND_IN = {"LocalJobId": "x", "WallDuration": 0, "CpuDuration": 0, "StartTime": 0, "EndTime": 0,
            "MemoryReal": None, "MemoryVirtual": None}
INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
SPECIAL = (b"\\", b"\t", b"\n", b"\r")  # what LOAD DATA's escaping changes
NULL = b"\\N"
REFUSED = object()  # a combination the checks refuse: its rows take the ordinary path


def usable(spec: Any, types: dict) -> bool:
    """Whether this path can read the job table ``spec`` of a source with column ``types``: the
    job's own numbers must come as integers (a DECIMAL needs the ordinary path's conversion)."""
    columns = {name: column for name, column, _ in spec.fields}
    return spec.rtype is JOB and all(types.get(columns[name]) in INTEGER_TYPES
                                     for name in ("WallDuration", "CpuDuration", "MemoryReal", "MemoryVirtual"))


class JobLines:
    """Turns pages of raw source rows (bytes, as ``apel_source.read_raw_page`` returns them) into
    LOAD DATA text and summary deltas for ``Database.store_lines``, and the rows it could not
    take (as the ordinary path's typed rows).

    One instance per import attempt: the cached lookup ids are those of the target as it was
    when they were added (a rolled-back attempt starts with a new instance).
    """

    def __init__(self, spec: Any, reader: RowReader, target: Database, now: int,
                 typed: Callable[[Sequence[Any]], tuple]):
        self.spec = spec
        self.reader = reader
        self.target = target
        self.now = now
        self.typed = typed  # a raw row as the ordinary cursor would have returned it
        self.plan = plan_for(JOB)
        names = [name for name, _, _ in spec.fields]
        at = {name: i for i, name in enumerate(names)}
        self.own_at = [at[name] for name in OWN]
        shared = [i for i, name in enumerate(names) if name not in OWN]
        if spec.publisher:
            shared.append(len(names))
        self.shared = operator.itemgetter(*shared)
        self.publisher_at = len(names) if spec.publisher else None
        # Where the job's own values (and the month of its end) go among the columns; a line is its
        # combination's cells with these filled in. The code below fills them in this order.
        columns = list(self.plan.columns)
        self.slots = [columns.index(JOB.by_name[name].column) for name in OWN] + \
            [columns.index(f.column) for f in JOB.extra_columns]
        if self.slots != sorted(self.slots):
            raise AssertionError(f"the job's own columns are no longer in this order: {OWN}")
        self.longest = JOB.by_name["LocalJobId"].size
        self.combinations: dict[Any, Any] = {}
        self.months: dict[int, tuple[bytes, bytes, int, int]] = {}
        self.limit = now + FUTURE_TOLERANCE

    def page(self, rows: Sequence[Sequence[Any]]) -> tuple[str, list, list]:
        """(LOAD DATA text, summary delta rows, typed rows for the ordinary path) of a page."""
        combinations, months, limit, longest = self.combinations, self.months, self.limit, self.longest
        shared = self.shared
        job_at, wall_at, cpu_at, start_at, end_at, real_at, virtual_at = self.own_at
        lines, others, groups = [], [], {}
        ids = b"".join(row[job_at] for row in rows if row[job_at] is not None)
        escape = any(special in ids for special in SPECIAL)  # one scan of the page, not one per row
        for row in rows:
            key = shared(row)
            combination = combinations.get(key)
            if combination is None:
                combination = combinations[key] = self._combination(row)
            job, wall, cpu, start, end = row[job_at], row[wall_at], row[cpu_at], row[start_at], row[end_at]
            if (combination is REFUSED or job is None or len(job) > longest or wall is None or cpu is None
                    or start is None or end is None):
                others.append(self.typed(row))
                continue
            start_time, end_time = int(start), int(end)
            if end_time < start_time or end_time > limit:
                others.append(self.typed(row))
                continue
            day = end_time // 86400
            month = months.get(day)
            if month is None:
                moment = time.gmtime(end_time)
                month = months[day] = (b"%d" % moment.tm_year, b"%d" % moment.tm_mon, moment.tm_mon, moment.tm_year)
            if escape and any(special in job for special in SPECIAL):
                job = tsv_escape(job.decode("utf-8")).encode("utf-8")
            real, virtual = row[real_at], row[virtual_at]
            template, delta, description = combination
            lines.append(template % (job, wall, cpu, start, end, NULL if real is None else real,
                                     NULL if virtual is None else virtual, month[0], month[1]))
            wall, cpu = int(wall), int(cpu)
            fold_job(groups, (delta, month[2], month[3]), description, end_time, wall, cpu)
        text = b"\n".join(lines).decode("utf-8") if lines else ""
        deltas = [(key[0], month, year, *key[1:], *values) for (key, month, year), values in groups.items()]
        return text, deltas, others

    def _combination(self, row):
        """The cached part of the rows sharing ``row``'s repeating values: their line with ``%s``
        for the job's own values, their summary key (but month and year) and infrastructure
        description; REFUSED when the checks refuse it."""
        typed = self.typed(row)
        try:
            values = self.reader.convert(typed)
        except (KeyError, ValueError):
            return REFUSED
        values.update(STAND_IN)
        try:
            record = finish(JOB, values, self.now)
        except RecordError:
            return REFUSED
        publisher = "None"
        if self.publisher_at is not None:
            publisher = self.reader.names.get("DNs", {}).get(public_id(typed[self.publisher_at]), "None")
        ids = self._ids(record, publisher)
        cells = self.plan.tsv_escaped([record], ids, ids["DNs"][publisher])[0].encode("utf-8").split(b"\t")
        cells = [cell.replace(b"%", b"%%") for cell in cells]  # the line is made by % formatting
        for slot in self.slots:
            cells[slot] = b"%s"
        (delta,) = job_deltas([record], ids)
        key = (delta[0], *delta[3:13])  # the summary key but its month and year (set per row)
        return b"\t".join(cells), key, record.InfrastructureDescription

    def _ids(self, record, publisher):
        """The target's lookup ids of the record's names and of its publisher (added if new)."""
        ids = {}
        for table, names in self.plan.names([record]).items():
            known = self.target.lookup_ids(table, names)
            ids[table] = {name: known[name] for name in names}
        ids.setdefault("DNs", {})[publisher] = self.target.lookup_ids("DNs", [publisher])[publisher]
        return ids
