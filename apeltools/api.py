"""The library API: what every program does, as functions of plain arguments, for scripts and notebooks.

Each function does what its program does, through the same library code, and
takes the same settings: its arguments where given, else the configuration
(``config``: a :class:`~apeltools.config.Config`, the path of an INI file, or
None for none; ``APELTOOLS_*`` environment variables apply as for the
programs), else the defaults. Databases are URLs (``sqlite:///path/apel.db``,
``mysql://user@host:3306/apel``, the password from ``config``). Errors are
raised as :class:`~apeltools.errors.ApelError` subclasses; nothing exits.

    >>> from apeltools import api
    >>> api.create_database("sqlite:///tmp/apel.db")           # doctest: +SKIP
    >>> api.load("sqlite:///tmp/apel.db", files=["message.txt"])  # doctest: +SKIP

See ``docs/api.md`` for a worked example of each function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TextIO

from apeltools import db as databases
from apeltools import export, joiner, lifecycle, loader, publisher, query as questions, stats, summariser, tags
from apeltools.clock import parse_now
from apeltools.config import Config
from apeltools.db.base import Database
from apeltools.db.schema import migrate, require_schema
from apeltools.errors import ConfigError
from apeltools.messaging import runs
from apeltools.messaging.sender import SendTally
from apeltools.parsers import run as parsing
from apeltools.reports.status import write_status
from apeltools.values import day_or_month_end, day_or_month_start

__all__ = [
    "Config", "connect", "create_database", "parse", "join", "summarise", "publish", "load", "send", "receive",
    "query", "report_status", "job_statistics", "tag_jobs", "export_jobs",
]

ConfigLike = Config | str | None


def _config(config: ConfigLike) -> Config:
    if isinstance(config, Config):
        return config
    return Config.load(config) if config else Config()


@contextlib.contextmanager
def connect(db_url: str | None = None, config: ConfigLike = None, read_only: bool = False) -> Iterator[Database]:
    """The database at ``db_url`` (else ``[db]`` of ``config``), open for the ``with`` block; its
    schema must be there (see :func:`create_database`). ``read_only`` never writes (nor creates a file).

    >>> with api.connect("sqlite:///tmp/apel.db") as db:     # doctest: +SKIP
    ...     db.count_rows("JobRecords")
    """
    config = _config(config)
    url = db_url or config.db_url()
    if not url:
        raise ConfigError("no database: give a URL or set [db] in the configuration")
    with databases.connect(url, password=config.db_password(), read_only=read_only) as db:
        require_schema(db)
        yield db


def create_database(db_url: str, config: ConfigLike = None) -> list[str]:
    """Create the database at ``db_url`` (a new SQLite file, or the MySQL database) and bring its
    schema up to date, as ``apeltools db init`` does; returns the migrations applied."""
    config = _config(config)
    with databases.connect(db_url, password=config.db_password()) as db:
        db.create_database()
        return migrate(db)


def parse(db_url: str | None, log_type: str | None = None, paths: Sequence[str] = (), *,
          stream: TextIO | None = None, timezone: str | None = None, max_bad: float | None = None,
          config: ConfigLike = None) -> parsing.ParseRun:
    """``apel-parse``: parse ``paths`` (logs of ``log_type``: slurm, pbs, sge, lsf, htcondor, blah),
    or without them every log the configuration describes, into the site database ``db_url``
    (remembering how far each file was read) or, with ``stream`` and no database, as NDJSON.

    Raises ``ApelError`` when a file could not be read, held nothing but
    errors, or more than ``max_bad`` (a fraction) of its lines failed.
    """
    config = _config(config)
    batches = parsing.sources_for(config, log_type, list(paths))
    if stream is not None and db_url is None:
        return parsing.parse(batches, stream=stream, timezone=timezone, max_bad=max_bad)
    with connect(db_url, config) as db:
        return parsing.parse(batches, db=db, timezone=timezone, max_bad=max_bad)


def join(db_url: str | None, site: str | None = None, *, local_jobs: bool | None = None,
         local_submit_host: str | None = None, ce_type: str | None = None, bdii_url: str | None = None,
         no_bdii: bool = False, config: ConfigLike = None) -> joiner.JoinReport:
    """``apel-join``: record the CEs' benchmarks, then join batch and blah records into job records
    of ``site``; returns the report (jobs made, records waiting and why)."""
    config = _config(config)
    settings = joiner.JoinSettings.from_config(config, site, local_jobs, local_submit_host, ce_type, bdii_url,
                                               no_bdii)
    with connect(db_url, config) as db:
        return joiner.run(db, settings)


def summarise(db_url: str | None, full: bool = False, config: ConfigLike = None) -> summariser.SummaryResult:
    """``apel-summarise``: bring the monthly summaries up to date (``full``: recompute them all)."""
    with connect(db_url, config) as db:
        return summariser.summarise(db, full=full)


def publish(db_url: str | None, sources: Sequence[str] = (), *, queue: str | None = None,
            stream: TextIO | None = None, interval: str | None = None, start: str | None = None,
            end: str | None = None, per_message: int = 1000, syntax: str | None = None, car: bool = False,
            include_vos: str | None = None, exclude_vos: str | None = None, local_jobs: bool = False,
            withhold_dns: bool = False, no_sync: bool = False,
            config: ConfigLike = None) -> publisher.PublishResult:
    """``apel-publish``: publish ``sources`` (jobs, summaries, normalised-summaries, sync, ...) as
    messages into the outgoing ``queue`` (a directory) or as text to ``stream``.

    ``interval`` is latest (what changed since the last publish to the same
    destination), gap (``start`` to ``end``, days YYYY-MM-DD or months
    YYYY-MM) or all; ``syntax`` "v0.4" writes benchmark dicts.
    """
    config = _config(config)
    settings = publisher.PublishSettings.from_config(
        config, sources, queue, stream is not None and not queue, interval, start, end, per_message, syntax, car,
        include_vos, exclude_vos, local_jobs, withhold_dns, no_sync)
    with connect(db_url, config) as db:
        return publisher.publish_as_configured(db, settings, stream)


def load(db_url: str | None, files: Sequence[str] = (), *, queue: str | None = None, reject: str | None = None,
         accepted: str | None = None, signer: str | None = None, workers: int | None = None,
         max_wait: float | None = None, check_site: str | None = None, site_map: str | None = None,
         config: ConfigLike = None) -> loader.Tally:
    """``apel-load``: load the messages in ``files`` (each a message or a stream of them), else
    everything waiting in the incoming ``queue``, into the database; bad records go to the
    ``reject`` queue with their reasons. Returns the counts."""
    config = _config(config)
    settings = loader.LoadSettings.from_config(config, bool(files), False, queue, reject, accepted, None, workers,
                                               max_wait, check_site, site_map, signer)
    url = db_url or config.db_url()
    if not url:
        raise ConfigError("no database: give a URL or set [db] in the configuration")
    return loader.load(lambda: databases.connect(url, password=config.db_password()), settings, list(files))


def send(config: ConfigLike = None, queue: str | None = None, dead_letters: str | None = None,
         max_wait: float | None = None) -> SendTally:
    """``apel-send``: sign every message of the outgoing ``queue`` with ``[certificates]``
    certificate and key and send it as ``[broker]`` and ``[messaging]`` say (by default the local
    transport's wire directory); raises ``ApelError`` when not everything was sent."""
    return runs.send(_config(config), queue, dead_letters, max_wait=max_wait)


def receive(config: ConfigLike = None, dn_file: str | None = None, queue: str | None = None,
            reject: str | None = None) -> None:
    """``apel-receive --once`` (local and AMS transports): verify, authorise (signers listed in
    ``dn_file``) and file every message waiting into the incoming ``queue``, the others into ``reject``."""
    runs.receive(_config(config), dn_file, queue, reject, once=True)


def query(db_url: str | None, what: str = "summaries", group_by: Sequence[str] = ("site",), *,
          sites: Sequence[str] = (), vos: Sequence[str] = (), start: str | None = None, end: str | None = None,
          whole_months: bool = False, limit: int | None = None, config: ConfigLike = None) -> questions.Answer:
    """``apel-query``: figures of ``what`` (jobs or summaries) grouped by ``group_by`` (site, vo,
    month, dn, submithost, ...), for ``sites`` and ``vos`` from ``start`` to ``end`` (days or months,
    included); returns the columns and rows. Summaries are monthly: a day inside a month is refused
    unless ``whole_months`` widens the dates to their months."""
    filters = questions.Filters(sites=tuple(sites), vos=tuple(vos),
                                start=day_or_month_start(start) if start else None,
                                end=day_or_month_end(end) if end else None)
    filters = questions.filters_for(what, filters, whole_months)
    with connect(db_url, config, read_only=True) as db:
        return questions.ask(db, what, filters, tuple(group_by), limit)


def report_status(db_url: str | None, out_dir: str, sites: Sequence[str] = (), months: int = 6,
                  now: str | None = None, config: ConfigLike = None) -> list[str]:
    """``apel-report status``: write each site's APEL-Pub and APEL-Sync pages and JSON into
    ``out_dir``; returns the files written."""
    with connect(db_url, config, read_only=True) as db:
        return write_status(db, out_dir, list(sites), parse_now(now), months)


def _jobs(config: Config, dns: Sequence[str], ces: Sequence[str], vos: Sequence[str], start: str | None,
          end: str | None, states: Sequence[str], with_tags: Sequence[str]) -> lifecycle.JobSelection:
    """The jobs of a site database that apel-query's, apel-tag's and apel-export's filters choose."""
    filters = questions.Filters(dns=tuple(dns), submit_hosts=tuple(ces), vos=tuple(vos),
                                start=day_or_month_start(start) if start else None,
                                end=day_or_month_end(end) if end else None)
    return lifecycle.JobSelection(filters=filters, states=tuple(states),
                                  tags=tuple(tags.parse_tag(text) for text in with_tags),
                                  site=config.get("site_info", "site_name") or None)


def job_statistics(db_url: str | None, shape: str = "stats", group_by: Sequence[str] = (), *,
                   dns: Sequence[str] = (), ces: Sequence[str] = (), vos: Sequence[str] = (),
                   start: str | None = None, end: str | None = None, states: Sequence[str] = (),
                   with_tags: Sequence[str] = (), config: ConfigLike = None) -> questions.Answer:
    """``apel-query stats|states|waiting`` on a site database: per group of ``group_by`` (user,
    vo, ce, queue, site, state, day, month, tag:KEY, ...) jobs by final state, failure rate,
    waiting time (median, 90th percentile, max), run time and efficiency (``shape`` stats), or
    the states or waiting figures alone."""
    config = _config(config)
    selection = _jobs(config, dns, ces, vos, start, end, states, with_tags)
    with connect(db_url, config, read_only=True) as db:
        return stats.statistics_of(lifecycle.read_jobs(db, selection), tuple(group_by), shape)


def tag_jobs(db_url: str | None, add: Sequence[str] = (), remove: Sequence[str] = (), *,
             job_ids: Sequence[str] = (), dns: Sequence[str] = (), ces: Sequence[str] = (),
             vos: Sequence[str] = (), start: str | None = None, end: str | None = None,
             states: Sequence[str] = (), with_tags: Sequence[str] = (),
             config: ConfigLike = None) -> tags.TagChange:
    """``apel-tag``: add ``key=value`` tags and remove ``key`` or ``key=value`` ones on the jobs
    ``job_ids`` name, else those the filters choose; all or nothing."""
    config = _config(config)
    adding = [tags.parse_tag(text) for text in add]
    removing = [tags.parse_removal(text) for text in remove]
    selection = None if job_ids else _jobs(config, dns, ces, vos, start, end, states, with_tags)
    with connect(db_url, config) as db:
        return tags.change_tags(db, adding, removing, tuple(job_ids), selection)


def export_jobs(db_url: str | None, fmt: str, output: str, *, dns: Sequence[str] = (),
                ces: Sequence[str] = (), vos: Sequence[str] = (), start: str | None = None,
                end: str | None = None, states: Sequence[str] = (), with_tags: Sequence[str] = (),
                config: ConfigLike = None) -> export.ExportReport:
    """``apel-export``: the chosen jobs' lifecycles as ``fmt`` (xes, mxml or csv) into ``output``
    (a path; ``.gz`` compresses; ``-`` is stdout)."""
    config = _config(config)
    selection = _jobs(config, dns, ces, vos, start, end, states, with_tags)
    with connect(db_url, config, read_only=True) as db, export.open_output(output) as out:
        return export.export(db, selection, fmt, out)
