"""The import itself: every table in pages with its progress, then the site's extras and the verification."""

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable

from apeltools.db import apel_source as sql
from apeltools.db.base import Database
from apeltools.db import site as site_sql
from apeltools.errors import ApelError, RecordError, TransientDatabaseError
from apeltools.importer import jobs
from apeltools.importer.logs import FileCount, adopt_logs
from apeltools.importer.report import ImportReport, TableCount, compare_months
from apeltools.importer.rows import RowReader, ahead, public_id, storable_as_is
from apeltools.importer.tables import REPOSITORY_TABLES, SITE_TABLES, kind_of
from apeltools.progress import Progress
from apeltools.records.build import finish
from apeltools.records.fields import month_of
from apeltools.records.types import JOB, now as current_time
from apeltools.retry import Backoff

log = logging.getLogger(__name__)

POLICIES = ("hold", "import")
PUBLISHED = "(published)"  # the ImportProgress row of the publishing state
# What the deployed unloader publishes: a site's client its jobs or summaries, a repository its
# super-summaries (normalised or not) to the portal.
PUBLISHED_SOURCES = {"site": ("summaries", "jobs"), "repository": ("summaries", "normalised-summaries", "jobs")}
DEFAULT_BATCH = 20000


class Importer:
    """Imports one source database into one target database (see the module's docstring)."""

    def __init__(self, source: Database, target: Database, *, site: bool | None = None, invalid: str = "hold",
                 dry_run: bool = False, batch: int = DEFAULT_BATCH, backoff: Backoff | None = None,
                 clock: Callable[[], int] = current_time, show_progress: bool = False,
                 log_dirs: Iterable[tuple[str, str]] = (), destination: str | None = None, verify: bool = True,
                 workers: int = 1):
        """``site``: the source's layout (None: detected); ``log_dirs``: (parser name, directory) of a
        site's logs; ``destination``: the resolved outgoing queue apel-publish uses, whose publishing
        state is set from the source's; ``verify``: summarise and compare at the end; ``workers``:
        processes importing the job records (a dry run uses one)."""
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
        self.log_dirs = tuple(log_dirs)
        self.destination = destination
        self.verify = verify
        self.workers = 1 if dry_run else workers

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
            report.tables[spec.name] = TableCount(source_rows=self.source.count_rows(spec.name))
        for spec in specs:
            if self.workers > 1 and spec.rtype is JOB:
                self._import_in_workers(spec, report)
            else:
                self.backoff.call(lambda spec=spec: self._import_table(spec, report), TransientDatabaseError,
                                  f"importing {spec.name}")
        if not self.dry_run:
            if report.layout == "site":
                self.backoff.call(self._join_marks, TransientDatabaseError, "setting apel-join's marks")
            if self.verify:
                self.backoff.call(lambda: self._verify(report), TransientDatabaseError, "verifying the import")
            report.issues = sql.issues(self.target, self.source_id)
            for name, count in report.tables.items():  # workers counted theirs in other processes
                count.marked = sum(1 for issue in report.issues if issue[0] == name and issue[4] == "imported")
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

    def _import_in_workers(self, spec, report):
        """Import a table in ``workers`` processes, each a range of its keys holding about as many
        rows as the others, each with its own progress (``<table> range k/n``); their counts make
        the table's. The ranges are cut once and kept (``<table> ranges/n``), so that a rerun
        continues every range where it stopped even if the source changed meanwhile."""
        count, n = report.tables[spec.name], self.workers
        parts = [f"{spec.name} range {k + 1}/{n}" for k in range(n)]
        if not self._progress_done(spec.name):
            cuts = self._cuts(spec, count.source_rows, n)
            ranges = list(zip([None] + cuts, cuts + [None]))
            self.source.close()  # each process opens its own connections
            self.target.close()
            context = multiprocessing.get_context("fork")
            workers = [context.Process(target=self._worker, args=(spec, part, bounds), name=f"import-{part}")
                       for part, bounds in zip(parts, ranges)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if any(worker.exitcode for worker in workers):
                raise ApelError(f"importing {spec.name}: a worker failed (see the log above); run again to continue")
        progress = sql.get_progress(self.target, self.source_id)
        count.read, count.imported, count.held = (sum(progress[p][i] for p in parts if p in progress)
                                                  for i in (1, 2, 3))
        with self.target.transaction():
            sql.save_progress(self.target, self.source_id, spec.name, None, count.read, count.imported, count.held,
                              True)

    def _cuts(self, spec, rows, n):
        """The keys cutting ``spec``'s table into ``n`` ranges: those kept by an earlier run, else
        new ones (kept, flattened, as the LastKey of ``<table> ranges/n``)."""
        name, width = f"{spec.name} ranges/{n}", len(spec.key)
        saved = self._progress(name)
        if saved is None:
            cuts = sql.split_keys(self.source, spec.name, spec.key, rows, n)
            with self.target.transaction():
                sql.save_progress(self.target, self.source_id, name, [v for cut in cuts for v in cut], 0, 0, 0, True)
            saved = self._progress(name)
        flat = saved[0] or []
        return [flat[i:i + width] for i in range(0, len(flat), width)]

    def _progress_done(self, table):
        saved = self._progress(table)
        return bool(saved and saved[4])

    def _worker(self, spec, part, bounds):
        """One worker process of ``_import_in_workers``: its range of keys (``bounds``: after, up
        to), then exit (0: done)."""
        code = 1
        try:
            self.show_progress = False
            report = ImportReport(self.layout, self.dry_run, {spec.name: TableCount()})
            self.backoff.call(lambda: self._import_table(spec, report, part, bounds), TransientDatabaseError,
                              f"importing {part}")
            code = 0
        except BaseException:  # reported here; the parent sees the exit code
            log.exception("importing %s failed", part)
        finally:
            logging.shutdown()
            os._exit(code)

    def _import_table(self, spec, report, part=None, bounds=(None, None)):
        """Import one table (or, in a worker, its range ``part`` of keys after ``bounds[0]`` up to
        ``bounds[1]``) from where it stopped."""
        count = report.tables[spec.name]
        name = part or spec.name
        saved = self._progress(name)
        after, count.read, count.imported, count.held, done = saved or (bounds[0], 0, 0, 0, False)
        upto = bounds[1]
        if done:
            return
        names = self._lookups(spec)
        types = self.tables[spec.name]
        kinds = {column: kind_of(spec, name) for name, column, _ in spec.fields}
        expressions = [sql.read_expression(c, kinds.get(c, "int"), types.get(c, "")) for c in spec.columns]
        reader = RowReader(spec, names, types)
        key_at = range(len(spec.columns), len(spec.columns) + len(spec.key))
        now = self.clock()
        fast = not self.dry_run and jobs.usable(spec, types) and self.target.takes_lines(spec.rtype)

        def pages(after):
            """(rows read, last key, records by publisher, refused rows) of each page."""
            while True:
                rows = sql.read_page(self.source, spec.name, expressions, spec.key, after, self.batch, upto)
                if not rows:
                    return
                after = [rows[-1][i] for i in key_at]
                yield (len(rows), after, *self._records(spec, rows, reader, key_at, now))

        def raw_pages(after):
            """(rows read, last key, the rows as the server sent them, typed) of each page; checked
            by the calling thread, which alone may use the target (lookup ids)."""
            while True:
                rows, typed = sql.read_raw_page(self.source, spec.name, expressions, spec.key, after, self.batch,
                                                upto)
                if not rows:
                    return
                last = typed(rows[-1])
                after = [last[i] for i in key_at]
                yield len(rows), after, rows, typed

        # Closed on the way out, so that the reader thread has stopped using the source connection
        # before an error is retried (a generator left to the collector would keep it running).
        with Progress(f"importing {spec.name}", enabled=self.show_progress) as progress, \
                contextlib.closing(ahead(raw_pages(after) if fast else pages(after))) as ready:
            lines = None
            for page in ready:
                text, deltas = "", ()
                if fast:
                    read, after, rows, typed = page
                    if lines is None:
                        lines = jobs.JobLines(spec, reader, self.target, now, typed)
                    text, deltas, others = lines.page(rows)
                    by_publisher, issues = self._records(spec, others, reader, key_at, now)
                    stored = read - len(others)
                else:
                    read, after, by_publisher, issues = page
                    stored = 0
                stored += sum(len(records) for records in by_publisher.values())
                count.read += read
                count.imported += stored
                count.held += sum(1 for issue in issues if issue[4] == "held")
                count.marked += sum(1 for issue in issues if issue[4] == "imported")
                self._commit(spec, name, by_publisher, issues, after, count, False, report, text, deltas)
                progress.update(count.read)
        self._commit(spec, name, {}, [], after, count, True, report)

    def _commit(self, spec, name, by_publisher, issues, after, count, done, report, text="", deltas=()):
        """Store a page's records (and its jobs already made LOAD DATA ``text`` with their summary
        ``deltas``), refused rows and progress (under ``name``) in one transaction (a dry run keeps
        the progress and the refused rows in memory)."""
        progress = (after, count.read, count.imported, count.held, done)
        if self.dry_run:
            self._memory[name] = progress
            report.issues.extend((t, sql.key_text(k), f, r, a) for t, k, f, r, a in issues)
            return
        with self.target.transaction():
            if text:
                self.target.store_lines(spec.rtype, text, deltas)
            for publisher, records in by_publisher.items():
                if spec.rtype is None:
                    spec.write(self.target, records)
                else:
                    self.target.store(spec.rtype, records, publisher)
            sql.save_issues(self.target, self.source_id, issues)
            sql.save_progress(self.target, self.source_id, name, *progress)

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
                    record = storable_as_is(rtype, values, now)
                action = "imported" if record is not None else "held"
                issues.append((spec.name, key, problem.field, problem.reason, action))
                if record is None:
                    continue
            publisher = dns.get(public_id(row[publisher_at]), "None") if publisher_at is not None else "None"
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
        """Register in ParsedFiles the logs the deployed parser had read (see ``apeltools.importer.logs``)."""
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
            report.tables[spec.name].target_rows = self.target.count_rows(table)
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


def _source_id(url):
    """How the import's state names its source: the URL (which never holds a password)."""
    return url[:255]
