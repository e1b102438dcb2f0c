"""Importing a deployed APEL database (a repository or a site) into ours, resumably and verifiably.

Each source table is read in primary-key order, a page at a time; every row is
turned into a record of our record type and checked exactly as apel-load checks
a record; the good ones are written by the loader's own bulk path (replace by
natural key), and the page's last key is kept in the same transaction. Killed
at any moment, the next run continues after the last committed page, and
re-reading a page stores the same rows again (nothing doubles).

A row our checks refuse is never dropped silently: it is listed with its
table, key and reason (ImportIssues), and ``invalid="import"`` stores it as it
was when our tables can hold it (marked 'imported' in that list) instead of
holding it back. At the end the monthly sums are recomputed from what was
imported and compared with the source's own super-summaries per site and
month; differences are listed, not hidden.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from apeltools.db import apel_source as sql
from apeltools.db import site as site_sql
from apeltools.errors import ApelError, RecordError, TransientDatabaseError
from apeltools.progress import Progress
from apeltools.records.benchmark import canonical_type
from apeltools.apelimport_logs import FileCount, adopt_logs
from apeltools.records.build import finish
from apeltools.records.site import BatchRecord, BlahRecord
from apeltools.records.fields import month_of
from apeltools.records.types import (
    CLOUD, CLOUD_SUMMARY, JOB, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC, now as current_time,
)
from apeltools.retry import Backoff

log = logging.getLogger(__name__)

POLICIES = ("hold", "import")
PUBLISHED = "(published)"  # the ImportProgress row of the publishing state
# What the deployed unloader publishes: a site's client its jobs or summaries, a repository its
# super-summaries (normalised or not) to the portal.
PUBLISHED_SOURCES = {"site": ("summaries", "jobs"), "repository": ("summaries", "normalised-summaries", "jobs")}
DEFAULT_BATCH = 20000
SERVER_LOOKUPS = ("Sites", "SubmitHosts", "MachineNames", "Queues", "DNs", "VOs", "VOGroups", "VORoles")


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


def _times(*names):
    return tuple((n, n, None) for n in names)


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


@dataclass
class TableCount:
    """What happened to one source table's rows."""

    source_rows: int = 0
    read: int = 0
    imported: int = 0
    marked: int = 0  # imported as they were, though our checks refuse them
    held: int = 0
    target_rows: int | None = None


@dataclass
class ImportReport:
    """The outcome of an import: counts per table, refused rows, and the verification."""

    layout: str
    dry_run: bool
    tables: dict = field(default_factory=dict)
    issues: list = field(default_factory=list)  # (table, key text, field, reason, action)
    differences: list = field(default_factory=list)  # (site, year, month, what, source, ours)
    months_compared: int = 0
    files: object = None  # a site's logs: FileCount
    published: str | None = None  # a site's publishing state: what was done
    seconds: float = 0.0

    @property
    def rows(self):
        return sum(t.read for t in self.tables.values())

    def summary(self):
        rate = self.rows / max(self.seconds, 1e-9)
        counts = ", ".join(f"{name} {t.imported}" + (f" (+{t.held} held)" if t.held else "")
                           for name, t in self.tables.items())
        verb = "would import" if self.dry_run else "imported"
        return f"{verb} {self.layout}: {counts}; {len(self.issues)} refused rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)"


def ahead(pages):
    """The items of an iterator, each made in a thread while the previous one is used.

    Reading and checking a page (the source connection, Python) then overlaps
    with writing the one before (the target connection, which stays in the
    calling thread: SQLite allows no other). An exception of the thread is
    raised here, at the item it stopped.
    """
    items = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def offer(item):
        """Hand an item over; False when the consumer has gone."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in pages:
                if not offer(item):
                    return
            offer(end)
        except BaseException as error:  # handed to the consumer, which raises it
            offer(error)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class _RowReader:
    """Turns a source row into field values: names from the lookup tables, whole DECIMALs into
    integers (times and other DECIMALs the server converts, see ``apel_source.read_expression``).

    ``convert(row)`` is generated per table, one expression per row, because millions of rows
    pass through it; it raises ``KeyError`` or ``ValueError`` for a row with a problem, which
    ``explain(row)`` then names.
    """

    def __init__(self, spec, names, types):
        self.spec = spec
        self.names = names
        self.lookups = [names[table] if table else None for _, _, table in spec.fields]
        self.converters = [_integer if table is None and types.get(column) == "decimal" and _kind(spec, name) == "int"
                           else None for name, column, table in spec.fields]
        cells = []
        for i, (name, _, table) in enumerate(spec.fields):
            value = f"row[{i}]"
            if table:
                value = f"L[{i}][{value}]"
            elif self.converters[i]:
                value = f"C[{i}]({value})"
            cells.append(f"{name!r}: {value}")
        namespace = {"L": self.lookups, "C": self.converters}
        exec(compile(f"def convert(row):\n    return {{{', '.join(cells)}}}", f"<import {spec.name}>", "exec"),
             namespace)
        self.convert = namespace["convert"]

    def explain(self, row):
        """(values so far, RecordError) of a row that ``convert`` refused."""
        values = {}
        for i, (name, column, table) in enumerate(self.spec.fields):
            value = row[i]
            if table is not None:
                looked = self.lookups[i].get(value, _MISSING)
                if looked is _MISSING:
                    return values, RecordError(f"{column} {value} is not in {table}", field=name)
                value = looked
            elif self.converters[i]:
                try:
                    value = self.converters[i](value)
                except ValueError as error:
                    return values, RecordError(str(error), field=name)
            values[name] = value
        raise AssertionError(f"row {row!r} converts")


def _kind(spec, name):
    """The kind of a value of a source table: its field's, or for a client table's rows
    'time' for the time columns."""
    if spec.rtype is not None:
        return spec.rtype.by_name[name].kind.name
    return "time" if name in SITE_TIME_COLUMNS else "float" if name == "ServiceLevel" else "int"


def _integer(value):
    """An integer from an integer or a whole DECIMAL (the deployed cloud schema's CpuCount)."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"not a whole number: {value}")
        return int(value)
    return value


def _id(value):
    """A lookup id (the deployed CloudSummaries keeps its publisher's as text)."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


_MISSING = object()


_UNCHECKED = {}


def _unchecked(rtype):
    """The record type with the same fields but no rules beyond presence and size, for storing
    a refused row as it was."""
    if rtype.name not in _UNCHECKED:
        _UNCHECKED[rtype.name] = replace(rtype, check=lambda record, now: None)
    return _UNCHECKED[rtype.name]


def _storable_as_is(rtype, values, now):
    """The row as an unchecked record when our tables and the summariser can hold it, else None."""
    try:
        record = finish(_unchecked(rtype), values, now)
        level_type = getattr(record, "ServiceLevelType", None)
        if level_type is not None:
            canonical_type(level_type)  # summing needs a known benchmark type
    except (RecordError, ValueError):
        return None
    return record


class Importer:
    """Imports one source database into one target database (see the module's docstring)."""

    def __init__(self, source, target, *, site=None, invalid="hold", dry_run=False, batch=DEFAULT_BATCH,
                 backoff=None, clock=current_time, show_progress=False, log_dirs=(), destination=None,
                 verify=True):
        if invalid not in POLICIES:
            raise ApelError(f"--invalid must be one of {', '.join(POLICIES)}")
        self.source = source
        self.target = target
        self.invalid = invalid
        self.dry_run = dry_run
        self.batch = batch
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.show_progress = show_progress
        self.source_id = _source_id(source.url)
        self._tables = None
        self._site = site
        self._names = {}
        self._memory = {}  # a dry run's progress, kept here instead of the target
        self.log_dirs = tuple(log_dirs)  # (parser name, directory) of a site's logs
        self.destination = destination  # where the site's apel-publish sends: its resolved queue path
        self.verify = verify  # summarise and compare at the end

    # -- what the source is ------------------------------------------------------------------

    @property
    def layout(self):
        """'site' (the deployed client's schema) or 'repository' (the server's)."""
        tables = self.tables
        if self._site is None:
            self._site = "EventRecords" in tables or "ProcessedFiles" in tables
        if not {"JobRecords", "CloudRecords", "StarRecords"} & set(tables):
            raise ApelError(f"{self.source.url} does not hold a deployed APEL schema "
                            "(no JobRecords, CloudRecords or StarRecords table)")
        return "site" if self._site else "repository"

    @property
    def tables(self):
        if self._tables is None:
            self._tables = sql.source_tables(self.source)
        return self._tables

    def plan(self):
        """The source tables to import, in order, that this source has."""
        specs = SITE_TABLES if self.layout == "site" else REPOSITORY_TABLES
        return [s for s in specs if s.name in self.tables]

    def _lookups(self, spec):
        for _, _, table in spec.fields + (((None, spec.publisher, "DNs"),) if spec.publisher else ()):
            if table and table not in self._names:
                self._names[table] = sql.lookup_names(self.source, table) if table in self.tables else {}
        return self._names

    # -- importing ---------------------------------------------------------------------------

    def run(self) -> ImportReport:
        """Import every table (continuing an interrupted import), then verify; returns the report."""
        started = time.monotonic()
        report = ImportReport(self.layout, self.dry_run)
        specs = self.plan()
        for spec in specs:
            report.tables[spec.name] = TableCount(source_rows=sql.count_rows(self.source, spec.name))
        for spec in specs:
            self.backoff.call(lambda spec=spec: self._import_table(spec, report), TransientDatabaseError,
                              f"importing {spec.name}")
        if not self.dry_run:
            if report.layout == "site":
                self.backoff.call(self._join_marks, TransientDatabaseError, "setting apel-join's marks")
            if self.verify:
                self.backoff.call(lambda: self._verify(report), TransientDatabaseError, "verifying the import")
            report.issues = sql.issues(self.target, self.source_id)
        if report.layout == "site":
            report.files = self.backoff.call(self._processed_files, TransientDatabaseError, "importing parsed files")
        if not self.dry_run and self.destination is not None:
            report.published = self.backoff.call(lambda: self._published(PUBLISHED_SOURCES[report.layout]),
                                                 TransientDatabaseError, "importing what was published")
        report.seconds = time.monotonic() - started
        log.info(report.summary())
        return report

    def _progress(self, table):
        if self.dry_run:
            return self._memory.get(table)
        return sql.get_progress(self.target, self.source_id).get(table)

    def _import_table(self, spec, report):
        count = report.tables[spec.name]
        saved = self._progress(spec.name)
        after, count.read, count.imported, count.held, done = saved or (None, 0, 0, 0, False)
        if done:
            return
        names = self._lookups(spec)
        types = self.tables[spec.name]
        kinds = {column: _kind(spec, name) for name, column, _ in spec.fields}
        expressions = [sql.read_expression(c, kinds.get(c, "int"), types.get(c, "")) for c in spec.columns]
        reader = _RowReader(spec, names, types)
        key_at = range(len(spec.columns), len(spec.columns) + len(spec.key))
        now = self.clock()

        def pages(after):
            """(rows read, last key, records by publisher, refused rows) of each page."""
            while True:
                rows = sql.read_page(self.source, spec.name, expressions, spec.key, after, self.batch)
                if not rows:
                    return
                after = [rows[-1][i] for i in key_at]
                yield (len(rows), after, *self._records(spec, rows, reader, key_at, now))

        with Progress(f"importing {spec.name}", enabled=self.show_progress) as progress:
            for read, after, by_publisher, issues in ahead(pages(after)):
                stored = sum(len(records) for records in by_publisher.values())
                count.read += read
                count.imported += stored
                count.held += sum(1 for issue in issues if issue[4] == "held")
                count.marked += sum(1 for issue in issues if issue[4] == "imported")
                self._commit(spec, by_publisher, issues, after, count, False, report)
                progress.update(count.read)
        self._commit(spec, {}, [], after, count, True, report)

    def _commit(self, spec, by_publisher, issues, after, count, done, report):
        """Store a page's records, refused rows and progress in one transaction (a dry run keeps
        the progress and the refused rows in memory)."""
        progress = (after, count.read, count.imported, count.held, done)
        if self.dry_run:
            self._memory[spec.name] = progress
            report.issues.extend((t, sql.key_text(k), f, r, a) for t, k, f, r, a in issues)
            return
        with self.target.transaction():
            for publisher, records in by_publisher.items():
                if spec.rtype is None:
                    spec.write(self.target, records)
                else:
                    self.target.store(spec.rtype, records, publisher)
            sql.save_issues(self.target, self.source_id, issues)
            sql.save_progress(self.target, self.source_id, spec.name, *progress)

    def _records(self, spec, rows, reader, key_at, now):
        """Records of a page grouped by publisher DN, and the refused rows."""
        by_publisher, issues = {}, []
        dns = reader.names.get("DNs", {})
        publisher_at = len(spec.fields) if spec.publisher else None
        rtype = spec.rtype
        convert = reader.convert
        for row in rows:
            try:
                values, problem = convert(row), None
            except (KeyError, ValueError):
                values, problem = reader.explain(row)
            record = None
            if problem is None:
                try:
                    record = spec.build(values) if rtype is None else finish(rtype, values, now)
                except RecordError as error:
                    problem = error
            if problem is not None:
                key = [row[i] for i in key_at]
                if self.invalid == "import" and rtype is not None and len(values) == len(spec.fields):
                    record = _storable_as_is(rtype, values, now)
                action = "imported" if record is not None else "held"
                issues.append((spec.name, key, problem.field, problem.reason, action))
                if record is None:
                    continue
            publisher = dns.get(_id(row[publisher_at]), "None") if publisher_at is not None else "None"
            by_publisher.setdefault(publisher, []).append(record)
        return by_publisher, issues

    # -- a site's parsed files, join marks and publishing ----------------------------------

    def _join_marks(self):
        """Imported batch and blah records are not new to apel-join: its marks move past them."""
        from apeltools.joiner import BATCH_MARK, BLAH_MARK

        batch, blah = sql.newest_site_ids(self.target)
        with self.target.transaction():
            for name, value in ((BATCH_MARK, batch), (BLAH_MARK, blah)):
                if value > site_sql.get_state(self.target, name):
                    site_sql.set_state(self.target, name, value)

    def _processed_files(self):
        """Register in ParsedFiles the logs the deployed parser had read (see ``apelimport_logs``)."""
        if "ProcessedFiles" not in self.tables:
            return FileCount()
        known = sql.processed_hashes(self.source)
        return adopt_logs(self.target, self.log_dirs, known, self.dry_run)

    def _published(self, sources):
        """What the deployed client (or a repository's unloader) had sent counts as sent to
        ``destination`` for ``sources``; what it had not (jobs updated after its last publish) is
        marked to be sent. Done once per source database."""
        from apeltools import publisher

        progress = sql.get_progress(self.target, self.source_id).get(PUBLISHED)
        if progress and progress[4]:
            return "already imported"
        sent = sql.last_updated(self.source).get("sent")
        if sent is None:
            outcome = "the deployed tools never published: apel-publish will send everything"
        else:
            mark = self.target.now() + 1  # after every row written so far (the watermark is inclusive)
            groups = publisher.adopt(self.target, sources, self.destination, mark)
            unsent = sql.unsent_jobs(self.source, sent)
            months = sorted({(site, *month_of(end)) for site, _, end in unsent})
            sql.touch(self.target, unsent, months, mark)
            outcome = (f"{groups} groups sent by the deployed tools remembered; {len(unsent)} jobs in "
                       f"{len(months)} site-months it had not sent are left to send")
        with self.target.transaction():
            sql.save_progress(self.target, self.source_id, PUBLISHED, None, 0, 0, 0, True)
        return outcome

    # -- verification ------------------------------------------------------------------------

    def _verify(self, report):
        """Counts per table, and our monthly sums (recomputed) against the source's super-summaries."""
        from apeltools.summariser import summarise

        for spec in self.plan():
            table = spec.table if spec.rtype is None else spec.rtype.table
            report.tables[spec.name].target_rows = sql.count_rows(self.target, table)
        summarise(self.target)
        source_table = "HybridSuperSummaries" if "HybridSuperSummaries" in self.tables else (
            "SuperSummaries" if "SuperSummaries" in self.tables else None)
        if source_table is None:
            return
        with_normalised = "NormalisedWallDuration" in self.tables[source_table]
        theirs = sql.month_totals(self.source, source_table, with_normalised)
        ours = sql.month_totals(self.target)
        report.differences = compare_months(theirs, ours)
        report.months_compared = len(set(theirs) | set(ours))


FIGURES = ("NumberOfJobs", "WallDuration", "CpuDuration", "NormalisedWallDuration")


def compare_months(theirs: dict, ours: dict) -> list:
    """[(site, year, month, figure, source value, our value)] where monthly sums differ."""
    differences = []
    for month in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(month), ours.get(month)
        for i, figure in enumerate(FIGURES):
            x = a[i] if a else 0
            y = b[i] if b else 0
            if x is None or y is None:
                continue
            if x != y:
                differences.append((*month, figure, x, y))
    return differences


def _source_id(url):
    """How the import's state names its source: the URL (which never holds a password)."""
    return url[:255]
