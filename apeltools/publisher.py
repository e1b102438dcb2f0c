"""Publishing: records from the database as messages, into an outgoing queue or a stream.

``latest`` publishes what changed since the last successful publish of the
same source to the same destination. The watermark is taken from the
database clock before reading, less a margin for transactions still open at
that moment, so a row updated during a publish is published again next time
rather than missed (receivers replace by natural key: repeats are harmless).
Publishing jobs or summaries also publishes sync records (the repository
compares them with what it holds) for every month it published.

Receivers replace summaries by natural key and never delete one, so a summary
group (or a sync count) that was published and has no records any more (its
jobs were corrected to another VO or submit host, say) would stay at the
receiver for ever. The groups published to each destination are remembered,
and such a group is published once more with zero jobs and durations and no
end times, which every loader stores over the old values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from apeltools import events
from apeltools.config import Config
from apeltools.db import publish_state as state
from apeltools.db.base import Database
from apeltools.db.views import VIEWS, Selection, view_months
from apeltools.errors import ApelError, UsageError
from apeltools.messaging import queues
from apeltools.quoting import quote
from apeltools.records import accelerator, car, star, text
from apeltools.records.fields import FLOAT, INT, TIME, Kind, epoch_of_sql_time, month_of
from apeltools.records.types import (
    ACCELERATOR, CLOUD, CLOUD_SUMMARY, JOB, NORMALISED_SUMMARY, STORAGE, SUMMARY, SYNC, RecordType,
)
from apeltools.values import comma_list, day_or_month_end, day_or_month_start

log = logging.getLogger(__name__)

WATERMARK_MARGIN = 300  # seconds: longer than any loading transaction stays open
MIN_PER_MESSAGE, MAX_PER_MESSAGE = 1, 5000


@dataclass(frozen=True)
class Source:
    """What can be published: a view, its record type, and how it is written."""

    name: str
    rtype: RecordType
    legacy: Any = None  # text format or codec function for the legacy benchmark syntax
    modern: Any = None  # ... for the v0.4 dict syntax
    aliases: tuple[tuple[str, str], ...] = ()  # (record field, view column) where the names differ
    months_for_sync: bool = False
    max_per_message: int = MAX_PER_MESSAGE
    retracts: bool = False  # groups published before that are gone are sent again, zeroed


SOURCES = {s.name: s for s in (
    Source("jobs", JOB, text.JOB_V03, text.JOB_V04, months_for_sync=True),
    Source("summaries", SUMMARY, text.SUMMARY_V02, text.SUMMARY_V04, months_for_sync=True, retracts=True),
    Source("normalised-summaries", NORMALISED_SUMMARY, text.NORMALISED_V03, text.NORMALISED_V04,
           aliases=(("Infrastructure", "InfrastructureType"),), months_for_sync=True, retracts=True),
    Source("received-summaries", SUMMARY, text.SUMMARY_V02, text.SUMMARY_V04, retracts=True),
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
    include_vos: tuple[str, ...] = ()
    exclude_vos: tuple[str, ...] = ()
    local_jobs: bool = False
    withhold_dns: bool = False
    sync: bool = True

    def gap(self) -> tuple[int, int]:
        """[start, end) of the ``gap`` interval."""
        if self.start is None or self.end is None:
            raise UsageError("--interval gap needs --from and --to")
        return self.start, self.end


@dataclass
class PublishSettings:
    """What ``apel-publish`` does: which sources, with which options, to which queue (None: a stream);
    built by :meth:`from_config`."""

    sources: tuple[str, ...]
    options: Options
    queue: str | None = None

    @classmethod
    def from_config(cls, config: Config, sources: Sequence[str] = (), queue: str | None = None,
                    to_stdout: bool = False, interval: str | None = None, start: str | None = None,
                    end: str | None = None, per_message: int = 1000, syntax: str | None = None,
                    car: bool = False, include_vos: str | Sequence[str] | None = None,
                    exclude_vos: str | Sequence[str] | None = None, local_jobs: bool = False,
                    withhold_dns: bool = False, no_sync: bool = False) -> PublishSettings:
        """Settings from the command line's values (dates as YYYY-MM-DD or YYYY-MM, VO lists
        comma-separated or as sequences), else the ``[unloader]`` keys of the existing client.cfg:
        without ``sources``, ``send_summaries`` chooses summaries or jobs; ``dir_location`` (the queue is its
        ``outgoing`` directory), ``interval`` with ``gap_start`` and ``gap_end``, ``include_vos``
        (which overrides ``exclude_vos``), ``withhold_dns``, ``send_ur`` (CAR) and ``local_jobs``."""
        if not sources:
            sources = ("summaries",) if config.get_bool("unloader", "send_summaries", False) else ("jobs",)
        interval = interval or config.get("unloader", "interval", "latest")
        if interval not in ("latest", "gap", "all"):
            raise UsageError(f"interval must be latest, gap or all, not {quote(interval)}")
        if interval == "gap" and not (start or end):
            start, end = config.get("unloader", "gap_start"), config.get("unloader", "gap_end")
        if interval == "gap" and not (start and end):
            raise UsageError("--interval gap needs --from and --to")
        if (start or end) and interval != "gap":
            raise UsageError("--from and --to only go with --interval gap")
        if not queue and not to_stdout and config.get("unloader", "dir_location"):
            # As the existing unloader does: messages go to <dir_location>/outgoing, where
            # sender.cfg's [messaging] path points.
            queue = os.path.join(config.get("unloader", "dir_location"), "outgoing")
        if bool(queue) == bool(to_stdout):
            raise UsageError("give either --queue DIR or --stdout")
        if not (include_vos or exclude_vos):
            # The existing unloader: include_vos, when set, overrides exclude_vos.
            include_vos = config.get("unloader", "include_vos")
            exclude_vos = None if include_vos else config.get("unloader", "exclude_vos")
        options = Options(
            interval=interval,
            start=day_or_month_start(start) if start else None,
            end=day_or_month_end(end) if end else None,
            per_message=per_message,
            dict_syntax=syntax == "v0.4",
            car=car or config.get_bool("unloader", "send_ur", False),
            include_vos=comma_list(include_vos),
            exclude_vos=comma_list(exclude_vos),
            local_jobs=local_jobs or config.get_bool("unloader", "local_jobs", False),
            withhold_dns=withhold_dns or config.get_bool("unloader", "withhold_dns", False),
            sync=not no_sync,
        )
        return cls(tuple(sources), options, queue or None)


@dataclass
class PublishResult:
    messages: int = 0
    records: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {name}" for name, n in self.records.items()) or "nothing"
        return f"published {self.messages} messages: {counts}"


def _value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind is TIME:
        return epoch_of_sql_time(value)
    if kind is INT:
        return int(value)
    if kind is FLOAT:
        return float(value)
    return value if isinstance(value, str) else str(value)


def record_from_row(source: Source, row: dict[str, Any]) -> Any:
    """A record of the source's type from a view row (names, DATETIMEs, Decimals)."""
    columns = dict(source.aliases)
    return source.rtype.make(**{
        f.name: _value(f.kind, row.get(columns.get(f.name, f.name))) for f in source.rtype.fields
    })


MERGED_TYPES = (SUMMARY, NORMALISED_SUMMARY, CLOUD_SUMMARY)


def _withhold(source: Source, records: list[Any]) -> list[Any]:
    """Records without user DNs."""
    if source.rtype in (JOB, CLOUD) + MERGED_TYPES:
        for record in records:
            record.GlobalUserName = None
    return records


def _merge_by_key(source: Source, records: list[Any]) -> list[Any]:
    """Summaries that share the natural key of their record type, merged into one.

    A receiver replaces by natural key, so two summaries with one key would
    leave only the last: e.g. months run under two benchmark values are one
    normalised summary, and summaries of two users are one once DNs are withheld.
    """
    if source.rtype not in MERGED_TYPES:
        return records
    rtype = source.rtype
    summed = [f.name for f in rtype.fields if f.kind is INT and f.name not in rtype.key]
    merged: dict[tuple[Any, ...], Any] = {}
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


def _writer(source: Source, options: Options) -> Callable[[list[Any]], str]:
    if source.rtype is JOB and options.car:
        return car.write
    fmt = source.modern if options.dict_syntax else source.legacy
    if callable(fmt):
        return fmt
    return lambda records: text.write_message(fmt, records)


def _selection(db: Database, source: Source, options: Options, watermark: int | None) -> Selection:
    view = VIEWS[source.name]
    selection = Selection(db, view)
    if options.interval == "latest" and watermark is not None:
        selection.updated_since(watermark)
    elif options.interval == "gap":
        selection.between(*options.gap())
    if options.include_vos or options.exclude_vos:
        if not view.has_vo:
            raise ApelError(f"--vo/--exclude-vo do not apply to {source.name} (no VO column)")
        selection.in_list("VO", options.include_vos)
        selection.in_list("VO", options.exclude_vos, negate=True)
    if view.has_infrastructure and not options.local_jobs:
        selection.grid_only()
    return selection


def _months(source: Source, record: Any) -> tuple[Any, int, int]:
    if source.rtype is JOB:
        year, month = month_of(record.EndTime)
        return record.Site, year, month
    return record.Site, record.Year, record.Month


def publish(db: Database, source_names: Sequence[str], sink: Callable[[str], object], destination: str,
            options: Options | None = None) -> PublishResult:
    """Publish each named source through ``sink(body)``; returns counts.

    ``destination`` is the full identity of where the messages go (a resolved
    queue path, "stdout"): the ``latest`` watermark and the groups published
    are kept per source and destination.
    """
    options = options or Options()
    if not MIN_PER_MESSAGE <= options.per_message <= MAX_PER_MESSAGE:
        raise ApelError(f"records per message must be {MIN_PER_MESSAGE}..{MAX_PER_MESSAGE}")
    result = PublishResult()
    months: set[tuple[Any, int, int]] = set()
    for name in source_names:
        source = SOURCES[name]
        latest = options.interval == "latest"
        previous = state.get_watermark(db, name, destination) if latest else None
        new_mark = db.now() - WATERMARK_MARGIN
        sql, params = _selection(db, source, options, previous).select()
        records = _read(db, source, options, sql, params)
        gone = _vanished(db, source, options, destination, previous) if source.retracts else []
        _check_syntax(source, records + gone, options)
        if source.months_for_sync and options.sync:
            months.update(_months(source, r) for r in records + gone)
        _publish_tracked(db, name if source.retracts else None, source, records, gone, sink, destination,
                         options, result)
        if latest:
            state.set_watermark(db, name, destination, new_mark)
    if months and "sync" not in source_names:
        records = _sync(db, sorted(months), options)
        gone = _vanished_sync(db, destination, sorted(months), records)
        _publish_tracked(db, "sync", SOURCES["sync"], records, gone, sink, destination, options, result)
    log.info(result.summary())
    events.emit("publication.done", destination=destination, messages=result.messages, records=result.records)
    return result


def publish_as_configured(db: Database, settings: PublishSettings, stream: TextIO | None = None) -> PublishResult:
    """What ``apel-publish`` does: publish ``settings.sources`` to ``settings.queue``, or else as
    text to ``stream`` (each message ending in a newline), keeping the ``latest`` watermarks per
    resolved queue path (or "stdout")."""
    if settings.queue:
        outgoing = queues.outgoing_queue(settings.queue)
        return publish(db, settings.sources, lambda body: queues.add(outgoing, body),
                       os.path.realpath(settings.queue), settings.options)
    if stream is None:
        raise UsageError("publishing to no queue needs a stream to write to")
    return publish(db, settings.sources, lambda body: stream.write(body if body.endswith("\n") else body + "\n"),
                   "stdout", settings.options)


def adopt(db: Database, source_names: Sequence[str], destination: str, epoch: int) -> int:
    """Take over what another publisher (the deployed client a site switches from) sent to
    ``destination``: every group of the named sources, and the sync counts of their months, count
    as published there, and each source's ``latest`` watermark is ``epoch``. Returns the number of
    groups. A group remembered but never sent is harmless (its zero record replaces nothing)."""
    everything = Options(interval="all", local_jobs=True)
    groups = 0
    for name in source_names:
        source = SOURCES[name]
        if source.retracts:
            records = _read(db, source, everything, *_selection(db, source, everything, None).select())
            state.remember_groups(db, name, destination, [_group(source.rtype, r) for r in records])
            syncs = _sync(db, sorted({_months(source, r) for r in records}), everything)
            state.remember_groups(db, "sync", destination, [_group(SYNC, r) for r in syncs])
            groups += len(records) + len(syncs)
        state.set_watermark(db, name, destination, epoch)
    return groups


def _read(db: Database, source: Source, options: Options, sql: str, params: Sequence[Any]) -> list[Any]:
    """Records of a selection as they are published: DNs withheld when asked, merged by key."""
    records = [record_from_row(source, row) for row in db.iterate(sql, params)]
    if options.withhold_dns:
        records = _withhold(source, records)
    return _merge_by_key(source, records)


def _check_syntax(source: Source, records: list[Any], options: Options) -> None:
    """The legacy normalised syntax (v0.3) has no benchmark type: its figures are HEPSPEC."""
    if source.rtype is NORMALISED_SUMMARY and not options.dict_syntax:
        others = sorted({r.ServiceLevelType for r in records} - {"HEPSPEC"}, key=str)
        if others:
            raise ApelError(
                f"{source.name}: the legacy syntax ({text.NORMALISED_V03.header}) can only carry HEPSPEC, "
                f"not {', '.join(map(str, others))}: publish them with --syntax v0.4")


def _publish_tracked(db: Database, tracked: str | None, source: Source, records: list[Any], gone: list[Any],
                     sink: Callable[[str], object], destination: str, options: Options,
                     result: PublishResult) -> None:
    """Emit ``records`` and the zero records ``gone``; when ``tracked`` names the groups'
    bookkeeping, remember the groups first (a group remembered but never sent is harmless: its
    zero record replaces nothing) and forget the zeroed ones after they went."""
    if tracked:
        state.remember_groups(db, tracked, destination, [_group(source.rtype, r) for r in records])
    _emit(source, records + gone, sink, options, result)
    if tracked and gone:
        state.forget_groups(db, tracked, destination, [_key(source.rtype, r) for r in gone])


def _key(rtype: RecordType, record: Any) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in rtype.key)


def _group(rtype: RecordType, record: Any) -> tuple[Any, ...]:
    return record.Site, record.Year, record.Month, _key(rtype, record)


def _zero(rtype: RecordType, key: Sequence[Any]) -> Any:
    """The record that empties a group at a receiver: its key, zero figures, no times.

    The deployed loader accepts it (zero is not a null token; the end times
    are optional) and stores it over the group's row, as ours does.
    """
    values = {f.name: 0 if f.kind in (INT, FLOAT) else None for f in rtype.fields}
    values.update(zip(rtype.key, key))
    return rtype.make(**values)


def _vanished(db: Database, source: Source, options: Options, destination: str,
              since: int | None) -> list[Any]:
    """Zero records for the groups of ``source`` published to ``destination`` before that are in
    no row of its view any more, whatever the filters (a group left out by a VO filter is not
    empty); in the months the publish covers.

    ``latest`` looks at the months with rows updated since ``since`` (summarising rewrites a
    recomputed month's rows) and at months with no rows left; ``gap`` at its months; ``all``
    at every month.
    """
    view = VIEWS[source.name]
    scope = state.published_months(db, source.name, destination)
    if not scope:
        return []
    if options.interval == "gap":
        start, end = options.gap()
        first, last = month_of(start), month_of(end - 1)
        scope = {m for m in scope if first <= (m[1], m[2]) <= last}
    elif options.interval == "latest" and since is not None:
        scope &= view_months(db, view, since) | (scope - view_months(db, view))
    everything = Options(interval="all", local_jobs=True, withhold_dns=options.withhold_dns)
    gone: list[Any] = []
    for site, year, month in sorted(scope):
        selection = _month_selection(db, source, everything, site, year, month)
        present = {_key(source.rtype, r) for r in _read(db, source, everything, *selection.select(order=""))}
        missing = state.published_groups(db, source.name, destination, site, year, month) - present
        gone += [_zero(source.rtype, key) for key in sorted(missing, key=repr)]
    return gone


def _vanished_sync(db: Database, destination: str, months: list[tuple[Any, int, int]],
                   records: list[Any]) -> list[Any]:
    """Zero sync records for the submit hosts of ``months`` published to ``destination`` before
    that have no jobs in ``records`` (the sync records of those months) any more."""
    present = {_key(SYNC, r) for r in records}
    return [_zero(SYNC, key) for site, year, month in months
            for key in sorted(state.published_groups(db, "sync", destination, site, year, month) - present,
                              key=repr)]


def _month_selection(db: Database, source: Source, options: Options, site: Any, year: int,
                     month: int) -> Selection:
    """The selection of one site-month of a source's view."""
    selection = _selection(db, source, options, None)
    selection.equals("Site", site)
    selection.equals(selection.view.year, year)
    selection.equals(selection.view.month, month)
    return selection


def _sync(db: Database, months: list[tuple[Any, int, int]], options: Options) -> list[Any]:
    """Sync records (jobs per submit host) of the published months, counted from the summaries
    with the same VO and infrastructure filters as what was published."""
    records: list[Any] = []
    for site, year, month in months:
        selection = _month_selection(db, SOURCES["summaries"], Options(
            interval="all", include_vos=options.include_vos, exclude_vos=options.exclude_vos,
            local_jobs=options.local_jobs), site, year, month)
        sql, params = selection.select("Site, SubmitHost, SUM(NumberOfJobs) AS NumberOfJobs, Month, Year",
                                       group="Site, SubmitHost, Month, Year", order="SubmitHost")
        records += [record_from_row(SOURCES["sync"], row) for row in db.query_dicts(sql, params)]
    return records


def _emit(source: Source, records: list[Any], sink: Callable[[str], object], options: Options,
          result: PublishResult) -> None:
    write = _writer(source, options)
    size = min(options.per_message, source.max_per_message)
    for start in range(0, len(records), size):
        sink(write(records[start:start + size]))
        result.messages += 1
    if records:
        result.records[source.name] = result.records.get(source.name, 0) + len(records)
