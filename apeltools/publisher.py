"""Publishing: records from the database as messages, into an outgoing queue or a stream.

``latest`` publishes what changed since the last successful publish of the
same source to the same destination. The watermark is taken from the
database clock before reading, less a margin for transactions still open at
that moment, so a row updated during a publish is published again next time
rather than missed (receivers replace by natural key: repeats are harmless).
Publishing jobs or summaries also publishes sync records (the repository
compares them with what it holds) for every month it published.
"""

import logging
from dataclasses import dataclass, field

from apeltools.db.publishing import VIEWS, Selection
from apeltools.errors import ApelError
from apeltools.records import accelerator, car, star, text
from apeltools.records.fields import FLOAT, INT, TIME, epoch_of_sql_time, month_of
from apeltools.records.types import (
    ACCELERATOR, CLOUD, CLOUD_SUMMARY, JOB, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC,
)

log = logging.getLogger(__name__)

WATERMARK_MARGIN = 300  # seconds: longer than any loading transaction stays open
MIN_PER_MESSAGE, MAX_PER_MESSAGE = 1, 5000


@dataclass(frozen=True)
class Source:
    """What can be published: a view, its record type, and how it is written."""

    name: str
    rtype: object
    legacy: object = None  # text format or codec function for the legacy benchmark syntax
    modern: object = None  # ... for the v0.4 dict syntax
    aliases: tuple = ()  # (record field, view column) where the names differ
    months_for_sync: bool = False
    max_per_message: int = MAX_PER_MESSAGE


SOURCES = {s.name: s for s in (
    Source("jobs", JOB, text.JOB_V03, text.JOB_V04, months_for_sync=True),
    Source("summaries", SUMMARY, text.SUMMARY_V02, text.SUMMARY_V04, months_for_sync=True),
    Source("normalised-summaries", NORMALISED_SUMMARY, text.NORMALISED_V04, text.NORMALISED_V04,
           aliases=(("Infrastructure", "InfrastructureType"),), months_for_sync=True),
    Source("received-summaries", SUMMARY, text.SUMMARY_V02, text.SUMMARY_V04),
    Source("sync", SYNC, text.SYNC_V01, text.SYNC_V01),
    Source("cloud", CLOUD, text.CLOUD_V04, text.CLOUD_V04),
    Source("cloud-summaries", CLOUD_SUMMARY, text.CLOUD_SUMMARY_V04, text.CLOUD_SUMMARY_V04),
    Source("storage", STORAGE, star.write, star.write),
    Source("accelerator", ACCELERATOR, accelerator.write, accelerator.write, max_per_message=1000),
)}


@dataclass
class Options:
    interval: str = "latest"  # latest | gap | all
    start: int | None = None  # epoch seconds, for gap
    end: int | None = None  # epoch seconds (exclusive), for gap
    per_message: int = 1000
    dict_syntax: bool = False
    car: bool = False
    include_vos: tuple = ()
    exclude_vos: tuple = ()
    local_jobs: bool = False
    withhold_dns: bool = False
    sync: bool = True


@dataclass
class PublishResult:
    messages: int = 0
    records: dict = field(default_factory=dict)

    def summary(self):
        counts = ", ".join(f"{n} {name}" for name, n in self.records.items()) or "nothing"
        return f"published {self.messages} messages: {counts}"


def _value(kind, value):
    if value is None:
        return None
    if kind is TIME:
        return epoch_of_sql_time(value)
    if kind is INT:
        return int(value)
    if kind is FLOAT:
        return float(value)
    return value if isinstance(value, str) else str(value)


def record_from_row(source, row):
    """A record of the source's type from a view row (names, DATETIMEs, Decimals)."""
    columns = dict(source.aliases)
    return source.rtype.make(**{
        f.name: _value(f.kind, row.get(columns.get(f.name, f.name))) for f in source.rtype.fields
    })


MERGED_TYPES = (SUMMARY, NORMALISED_SUMMARY, CLOUD_SUMMARY)


def _withhold(source, records):
    """Records without user DNs."""
    if source.rtype in (JOB, CLOUD) + MERGED_TYPES:
        for record in records:
            record.GlobalUserName = None
    return records


def _merge_by_key(source, records):
    """Summaries that share the natural key of their record type, merged into one.

    A receiver replaces by natural key, so two summaries with one key would
    leave only the last: e.g. months run under two benchmark values are one
    normalised summary, and summaries of two users are one once DNs are withheld.
    """
    if source.rtype not in MERGED_TYPES:
        return records
    rtype = source.rtype
    summed = [f.name for f in rtype.fields if f.kind is INT and f.name not in rtype.key]
    merged = {}
    for record in records:
        key = tuple(getattr(record, name) for name in rtype.key)
        kept = merged.get(key)
        if kept is None:
            merged[key] = record
            continue
        for name in summed:
            setattr(kept, name, (getattr(kept, name) or 0) + (getattr(record, name) or 0))
        for name, pick in (("EarliestEndTime", min), ("LatestEndTime", max),
                           ("EarliestStartTime", min), ("LatestStartTime", max)):
            if name in rtype.by_name:
                values = [v for v in (getattr(kept, name), getattr(record, name)) if v is not None]
                setattr(kept, name, pick(values) if values else None)
    return list(merged.values())


def _writer(source, options):
    if source.rtype is JOB and options.car:
        return car.write
    fmt = source.modern if options.dict_syntax else source.legacy
    if callable(fmt):
        return fmt
    return lambda records: text.write_message(fmt, records)


def _selection(db, source, options, watermark):
    view = VIEWS[source.name]
    selection = Selection(db, view)
    if options.interval == "latest" and watermark is not None:
        selection.updated_since(watermark)
    elif options.interval == "gap":
        selection.between(options.start, options.end)
    if options.include_vos or options.exclude_vos:
        if not view.has_vo:
            raise ApelError(f"--include-vos/--exclude-vos do not apply to {source.name} (no VO column)")
        selection.in_list("VO", options.include_vos)
        selection.in_list("VO", options.exclude_vos, negate=True)
    if view.has_infrastructure and not options.local_jobs:
        selection.grid_only()
    return selection


def _months(source, record):
    if source.rtype is JOB:
        year, month = month_of(record.EndTime)
        return record.Site, year, month
    return record.Site, record.Year, record.Month


def publish(db, source_names, sink, destination, options=None):
    """Publish each named source through ``sink(body)``; returns counts.

    ``destination`` names where the messages go (a queue path, "stdout"): the
    ``latest`` watermark is kept per source and destination.
    """
    options = options or Options()
    if not MIN_PER_MESSAGE <= options.per_message <= MAX_PER_MESSAGE:
        raise ApelError(f"records per message must be {MIN_PER_MESSAGE}..{MAX_PER_MESSAGE}")
    result = PublishResult()
    months = set()
    for name in source_names:
        source = SOURCES[name]
        mark_name = f"publish {name} {destination}"[-50:]
        previous = db.get_mark(mark_name) if options.interval == "latest" else None
        new_mark = db.now() - WATERMARK_MARGIN
        sql, params = _selection(db, source, options, previous).select()
        records = [record_from_row(source, row) for row in db.iterate(sql, params)]
        if options.withhold_dns:
            records = _withhold(source, records)
        records = _merge_by_key(source, records)
        if source.months_for_sync and options.sync:
            months.update(_months(source, r) for r in records)
        _emit(source, records, sink, options, result)
        if options.interval == "latest":
            db.set_mark(mark_name, new_mark)
    if months and "sync" not in source_names:
        _emit(SOURCES["sync"], _sync(db, sorted(months), options), sink, options, result)
    log.info(result.summary())
    return result


def _sync(db, months, options):
    """Sync records (jobs per submit host) of the published months, counted from the summaries
    with the same VO and infrastructure filters as what was published."""
    records = []
    for site, year, month in months:
        selection = _selection(db, SOURCES["summaries"], Options(
            interval="all", include_vos=options.include_vos, exclude_vos=options.exclude_vos,
            local_jobs=options.local_jobs), None)
        selection.equals("Site", site)
        selection.equals("Year", year)
        selection.equals("Month", month)
        sql, params = selection.select("Site, SubmitHost, SUM(NumberOfJobs) AS NumberOfJobs, Month, Year",
                                       group="Site, SubmitHost, Month, Year", order="SubmitHost")
        records += [record_from_row(SOURCES["sync"], row) for row in db.query_dicts(sql, params)]
    return records


def _emit(source, records, sink, options, result):
    write = _writer(source, options)
    size = min(options.per_message, source.max_per_message)
    for start in range(0, len(records), size):
        sink(write(records[start:start + size]))
        result.messages += 1
    if records:
        result.records[source.name] = result.records.get(source.name, 0) + len(records)
