"""Loading messages into the database: parse, store good records, reject bad ones, never lose one.

A message's good records are stored (replacing by natural key) in one
transaction; its bad records go to the reject queue with their reasons. A
database that is down or restarting is waited for with backoff: a message is
never rejected or dropped because of a transient fault. Several loaders may
share a queue (each element is locked by one of them); ``in_processes`` runs
several in parallel, which is how a loader uses more than one core.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import click
from dirq.Exceptions import QueueError as DirqError

from apeltools import collector, daemon, events
from apeltools.authz import sitemap
from apeltools.config import Config
from apeltools.db.base import Database
from apeltools.db.schema import require_schema
from apeltools.errors import (ApelError, DataRejected, MessageError, RecordError, TransientDatabaseError, UsageError,
                              WriteSetTooLarge)
from apeltools.messaging import queues
from apeltools.messaging.settings import SPOOL, queue_path
from apeltools.progress import Progress
from apeltools.records.parsed import ParsedMessage
from apeltools.records.message import describe_errors, parse_message, reject_body
from apeltools.records.text import split_stream
from apeltools.records.types import RecordType, now as current_time
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

DEFAULT_REJECT = f"{SPOOL}/reject"
DEFAULT_INTERVAL = 5.0  # seconds between polls of the queue as a daemon
ONE_SHOT_MAX_WAIT = 600.0  # seconds a one-shot run waits for an unavailable database
# Records (whole messages) a loader parses before storing them in one transaction: a commit is a
# flush to disk on a default-settings server, and the SummaryDeltas of several messages sum into
# fewer rows. Bounded, so that a worker does not keep many messages of a queue it shares to itself.
BATCH_RECORDS = 5000

@dataclass
class Message:
    """One message to load, from a queue element or a file."""

    body: str
    signer: str | None = None
    empaid: str | None = None
    source: str = "-"
    problem: str | None = None  # set when the message could not even be read as text

    @property
    def label(self) -> str:
        """How logs name the message, and the empaid of the elements written for it (always one):
        the sender's empa-id, else where it came from (a file, ``stdin``, a queue element)."""
        return self.empaid or self.source

    @property
    def publisher(self) -> str:
        return self.signer or "no signer"


@dataclass
class Tally:
    """Counts of a run, for the summary line."""

    messages: int = 0
    records: int = 0
    rejected_records: int = 0
    rejected_messages: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-9)
        rate = self.records / seconds
        return (
            f"loaded {self.messages} messages: {self.records} records, "
            f"{self.rejected_records} rejected records, {self.rejected_messages} rejected messages "
            f"in {seconds:.1f} s ({rate:,.0f} records/s)"
        )


# A message to load and what to do with it afterwards: finish(True) once it is loaded or rejected,
# finish(False) when it must stay for a later run.
Item = tuple[Message, Callable[[bool], None]]
# A parsed message waiting to be stored with others, and its finish.
Entry = tuple[Message, ParsedMessage | MessageError, Callable[[bool], None]]
# site_check(signer, records) -> [(record, reason)]: the records the signer may not publish.
SiteCheck = Callable[[str | None, list[Any]], Iterable[tuple[Any, str]]]


class Loader:
    """Loads messages into one database, rejecting what cannot be loaded."""

    def __init__(self, db: Database, rejects: Any = None, accepted: Any = None, backoff: Backoff | None = None,
                 clock: Callable[[], int] = current_time, site_check: SiteCheck | None = None) -> None:
        self.db = db
        # site_check(signer, records) -> [(record, reason)] to refuse (apel-load --check-site).
        self.site_check = site_check
        self.rejects = rejects
        self.accepted = accepted
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.tally = Tally()

    @property
    def stop(self) -> threading.Event:
        return self.backoff.stop

    def parse(self, message: Message) -> ParsedMessage | MessageError:
        """Parse a message: a ParsedMessage, or the MessageError that rejects it whole."""
        if message.problem:
            return MessageError(message.problem)
        try:
            return parse_message(message.body, self.clock())
        except MessageError as error:
            return error

    def _commit(self, entries: list[Entry], progress: Progress | None = None) -> None:
        """Store parsed messages of one record type (or reject a message that could not be parsed),
        reject what was bad in them, and finish each; safe to repeat.

        Several messages are stored in one transaction: one commit (one flush to disk on a
        default-settings server) and one bulk write per table for them all. Each is finished
        only after that commit. When the database refuses the values of one of them, they are
        stored one by one, so that only that message is rejected; so they are when together they
        pass a Galera cluster's write-set limit (one message that passes it alone stays queued).
        """
        done = 0
        try:
            message, parsed, finish = entries[0]
            if isinstance(parsed, MessageError):
                self._reject(message, message.body, str(parsed))
                self._retrying(lambda: self.db.note_rejected_message(message.empaid, message.signer), message.label)
                self._rejected_whole(message, str(parsed))
            else:
                try:
                    self._store([(m, p) for m, p, _ in entries if isinstance(p, ParsedMessage)])
                except (DataRejected, WriteSetTooLarge) as error:
                    if len(entries) == 1:
                        if isinstance(error, WriteSetTooLarge):
                            raise
                        self._reject(message, message.body, str(error))
                        self._rejected_whole(message, str(error))
                        finish(True)
                        done = 1
                        self._progress(progress)
                        return
                    log.info("%s (%d messages): storing them one by one", error, len(entries))
                    for n, entry in enumerate(entries):
                        done = n + 1  # the call finishes its entry, whatever happens
                        self._commit([entry], progress)
                    return
            for message, parsed, finish in entries:
                if not isinstance(parsed, MessageError):
                    self._loaded(message, parsed)
                finish(True)
                done += 1
                self._progress(progress)
        except BaseException:
            for _, _, finish in entries[done:]:
                finish(False)
            raise

    def _store(self, batch: list[tuple[Message, ParsedMessage]]) -> None:
        label = batch[0][0].label + (f" and {len(batch) - 1} more messages" if len(batch) > 1 else "")
        messages = [(parsed.records, message.signer, (message.empaid, parsed.format, len(parsed.errors)), parsed.plain)
                    for message, parsed in batch]
        token, attempts = uuid.uuid4().hex, 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            # A failed attempt may have failed at COMMIT after the server committed: storing the
            # batch again would note its messages twice. Its token in LoadedMessages says which.
            if attempts > 1 and self.db.committed(token):
                log.info("loading %s: the earlier attempt had committed", label)
                return
            self.db.store_messages(batch[0][1].rtype, messages, token)

        self._retrying(attempt, label)

    def _rejected_whole(self, message: Message, reason: str) -> None:
        self.tally.rejected_messages += 1
        log.warning("rejected message %s from %s: %s", message.label, message.publisher, reason)
        events.emit("message.rejected", stage="load", empaid=message.label, signer=message.signer, reason=reason)

    def _loaded(self, message: Message, parsed: ParsedMessage) -> None:
        """What follows the commit of a message: its bad records rejected, the copy kept, the counts."""
        stored = len(parsed.records)
        if parsed.errors:
            self._reject(message, reject_body(parsed), describe_errors(parsed, limit=1000))
        if self.accepted is not None:
            self._save_accepted(message)
        self.tally.messages += 1
        self.tally.records += stored
        self.tally.rejected_records += len(parsed.errors)
        log.info(
            "loaded %s from %s: %d %s records (%s), %d rejected",
            message.label, message.publisher, stored, parsed.rtype.name, parsed.format, len(parsed.errors),
        )
        for record_error in parsed.errors[:5]:
            log.warning("message %s: rejected %s", message.label, record_error)
        events.records_loaded(parsed.rtype.name, parsed.records, message.label, message.signer)

    def _progress(self, progress: Progress | None) -> None:
        if progress is not None:
            progress.update(self.tally.records, self.tally.messages)

    def _refuse_other_sites(self, message: Message, parsed: ParsedMessage) -> None:
        """Move the records the signer may not publish (their Site) to the message's rejected ones."""
        assert self.site_check is not None
        refused = self.site_check(message.signer, parsed.records)
        parsed.refuse([(record, RecordError(reason, field="Site")) for record, reason in refused])

    def _retrying(self, action: Callable[[], Any], label: str) -> Any:
        return self.backoff.call(action, TransientDatabaseError, f"loading {label}")

    def _reject(self, message: Message, body: str, reason: str) -> None:
        if self.rejects is None:  # loading files by hand: the warnings are the report
            return
        queues.add(self.rejects, {
            "body": body,
            "signer": message.signer or "None",
            "empaid": message.label,
            "error": f"message {message.label}: {reason}",
        })

    def _save_accepted(self, message: Message) -> None:
        element = {"body": message.body, "signer": message.signer or "None", "empaid": message.label}
        try:
            queues.add(self.accepted, element)
        except Exception as error:  # the data is loaded; a failed copy must not undo that
            log.warning("cannot keep a copy of %s: %s", message.label, error)

    def run(self, items: Iterable[Item], progress: Progress | None = None) -> Tally:
        """Load ``items``: (Message, finish) pairs; ``finish(True)`` after the message is
        loaded or rejected, ``finish(False)`` when it must stay for a later run.

        Messages of one record type are parsed until they hold ``BATCH_RECORDS`` records (or no
        more come) and then stored together; a message of another type, or one rejected whole,
        first commits those before it, so that records replace each other in queue order.

        Returns the tally; raises ``Interrupted`` when stopped while waiting
        for the database (everything not finished stays queued).
        """
        batch: list[Entry] = []
        batch_kind: RecordType | None = None
        records = 0
        # No garbage collection while a batch is parsed and stored (collector.py): its records
        # are all alive, so a collection would walk them and free nothing.
        pause = collector.Pause()
        try:
            for message, finish in items:
                if self.stop.is_set():
                    finish(False)
                    break
                pause.hold()
                try:
                    parsed = self.parse(message)
                    if isinstance(parsed, ParsedMessage) and self.site_check is not None and parsed.records:
                        self._refuse_other_sites(message, parsed)
                except BaseException:
                    finish(False)
                    raise
                kind = parsed.rtype if isinstance(parsed, ParsedMessage) else None  # None: on its own
                if batch and (kind is None or kind is not batch_kind):
                    batch, records, full = [], 0, batch
                    self._commit(full, progress)  # which finishes them, whatever happens
                batch.append((message, parsed, finish))
                batch_kind = kind
                records += len(parsed.records) if isinstance(parsed, ParsedMessage) else BATCH_RECORDS
                if records >= BATCH_RECORDS:
                    batch, records, full = [], 0, batch
                    self._commit(full, progress)
                    del full, parsed  # the batch's records go before collection resumes
                    pause.release()
            if batch:  # the messages in hand are loaded, also when stopping
                batch, full = [], batch
                self._commit(full, progress)
        except BaseException:
            for _, _, finish in batch:  # parsed, never given to _commit
                finish(False)
            raise
        finally:
            pause.release()
        return self.tally


@dataclass
class LoaderQueues:
    """Where apel-load reads messages, and where it puts those it rejects and (optionally) those it
    loaded; built by :meth:`from_config`."""

    incoming: str | None  # None when loading files with no queue configured
    reject: str | None
    accepted: str | None

    @classmethod
    def from_config(cls, config: Config, incoming: str | None = None, reject: str | None = None,
                    accepted: str | None = None, files: bool = False) -> "LoaderQueues":
        """The queues from the command line's ``incoming``, ``reject`` and ``accepted``, else the
        configuration: our ``[loader] msg_dir``, ``reject_dir`` and ``accepted_dir``, else the
        deployed loader.cfg's spool directory ``[loader] msgpath`` (holding ``incoming``,
        ``reject`` and, with ``save_messages``, ``accept``), else apel-receive's incoming queue from
        the same file and the defaults. Loading ``files`` rejects to a queue only when one is
        given or configured."""
        spool = config.get("loader", "msgpath")
        incoming = incoming or config.get("loader", "msg_dir") or (os.path.join(spool, "incoming") if spool else None)
        if incoming is None and not files:  # else [messaging] path is not this program's matter
            incoming = queue_path(config, "receiver")
        reject = (reject or config.get("loader", "reject_dir")
                  or (os.path.join(spool, "reject") if spool else None)
                  or (None if files else DEFAULT_REJECT))
        if accepted is None and config.get_bool("loader", "save_messages", False):
            # The deployed loader keeps them in "accept" beside its incoming queue.
            accepted = (config.get("loader", "accepted_dir")
                        or os.path.join(os.path.dirname(os.path.abspath(incoming)) if incoming else SPOOL, "accept"))
        if config.get("loader", "pidfile"):
            log.debug("[loader] pidfile is ignored: apel-load keeps no pidfile (a stale one must never "
                      "block a restart; several loaders may share a queue)")
        return cls(incoming, reject, accepted)


@dataclass
class LoadSettings:
    """What ``apel-load`` does besides the data: its queues, how it polls, how many processes, how
    long it waits for the database, and the site check; built by :meth:`from_config`."""

    queues: LoaderQueues
    interval: float = DEFAULT_INTERVAL
    workers: int = 1
    max_wait: float | None = ONE_SHOT_MAX_WAIT
    check_site: str = "off"
    site_map: str | None = None
    signer: str | None = None  # the publisher DN recorded for messages loaded from files

    @classmethod
    def from_config(cls, config: Config, files: bool = False, daemon: bool = False, queue: str | None = None,
                    reject: str | None = None, accepted: str | None = None, interval: float | None = None,
                    workers: int | None = None, max_wait: float | None = None, check_site: str | None = None,
                    site_map: str | None = None, signer: str | None = None) -> LoadSettings:
        """Settings from the command line's values, else ``[loader] interval``, ``workers`` and
        ``check_site``, ``[auth] site-map`` (else beside ``[auth] dn-file``), the queues of
        :meth:`LoaderQueues.from_config`; ``max_wait`` is 600 s for a one-shot run, for ever for a
        ``daemon``. ``files``: messages come from files, not the queue."""
        if daemon and files:
            raise UsageError("--daemon loads the queue; it takes no FILE arguments")
        if max_wait is None and not daemon:
            max_wait = ONE_SHOT_MAX_WAIT
        return cls(
            queues=LoaderQueues.from_config(config, queue, reject, accepted, files=files),
            interval=interval if interval is not None else config.get_float("loader", "interval", DEFAULT_INTERVAL),
            workers=workers or int(config.get_float("loader", "workers", 1)),
            max_wait=max_wait,
            check_site=(check_site or config.get("loader", "check_site") or "off").strip().lower(),
            site_map=(site_map or config.get("auth", "site-map")
                      or sitemap.default_path(config.get("auth", "dn-file") or "/etc/apel/dns")),
            signer=signer,
        )


def load(connect: Callable[[], Database], settings: LoadSettings, files: Sequence[str] = (),
         daemon_mode: bool = False, on_stop: Callable[[Callable[[], None]], None] = lambda action: None) -> Tally:
    """What ``apel-load`` does: load ``files`` (``-`` is stdin), else the incoming queue once or, with
    ``daemon_mode``, until stopped; in ``settings.workers`` processes for a queue. ``connect()`` opens
    the database (once per process). ``on_stop(action)`` is told how to stop gracefully.

    Returns the tally. Raises ``ApelError`` when the database stayed unavailable
    for ``settings.max_wait`` seconds, or when files had rejects and no reject queue keeps them.
    """
    backoff = Backoff(give_up_after=settings.max_wait)
    on_stop(backoff.stop.set)
    paths = settings.queues
    rejects = queues.reject_queue(paths.reject) if paths.reject else None
    accepted = queues.incoming_queue(paths.accepted) if paths.accepted else None
    site_check = sitemap.site_check(settings.check_site, settings.site_map)

    def check(db: Database) -> None:
        backoff.call(lambda: require_schema(db), TransientDatabaseError, "checking the database")

    def work() -> Tally:
        with connect() as db:
            loader = Loader(db, rejects=rejects, accepted=accepted, backoff=backoff, site_check=site_check)
            try:
                check(db)
                if files:
                    loader.run(file_items(files, settings.signer, read_message_file))
                elif daemon_mode:
                    run_daemon(loader, queues.incoming_queue(paths.incoming), settings.interval)
                else:
                    load_queue(loader, queues.incoming_queue(paths.incoming),
                               show_progress=settings.workers == 1 and None)
            except Interrupted as stop:
                return _stopped(stop, loader.tally)
            return loader.tally

    if settings.workers > 1 and not files:
        # Checked here first: a database without the schema says so once, and the database driver
        # is imported once, before the workers fork (each would import it again: about a tenth
        # of a second of CPU on a start-up that counts when the queue is short).
        with connect() as db:
            try:
                check(db)
            except Interrupted as stop:
                return _stopped(stop, Tally())
        tally = in_processes(settings.workers, work)
    else:
        tally = work()
    log.info(tally.summary())
    if files and rejects is None and (tally.rejected_records or tally.rejected_messages):
        raise ApelError(
            f"{tally.rejected_records} records and {tally.rejected_messages} messages were rejected "
            "(see above; give --reject DIR to keep them)"
        )
    return tally


def _stopped(stop: Interrupted, tally: Tally) -> Tally:
    """The tally of a run stopped by a signal while waiting for the database; ApelError when it
    stopped because the database stayed unavailable."""
    if str(stop) != "stopped":
        log.info(tally.summary())
        raise ApelError(f"database unavailable, stopped loading: {stop}") from None
    return tally


def read_message_file(path: str) -> tuple[str, str | None]:
    """(text, problem) of a file holding one message; ``-`` is stdin."""
    try:
        with click.open_file(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ApelError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return data.decode("utf-8", errors="backslashreplace"), f"message is not UTF-8 text: {error}"


def queue_items(incoming: Any, removals: Removals | None = None) -> Iterator[Item]:
    """(Message, finish) pairs for the elements of an incoming queue this process can lock; with
    ``removals``, the loaded ones are removed by its thread."""
    for name, element, problem in queues.locked_elements(incoming):
        message = Message(
            body=element.get("body", ""),
            signer=element.get("signer"),
            empaid=element.get("empaid"),
            source=f"{incoming.path}/{name}",
            problem=problem,
        )

        def finish(done: bool, name: str = name) -> None:
            if done and removals is not None:
                removals.put(name)
            else:
                _finish_element(incoming, name, done)

        yield message, finish


def _finish_element(incoming: Any, name: str, done: bool) -> None:
    try:
        if done:
            queues.remove(incoming, name)
        else:
            queues.unlock(incoming, name)
    except (OSError, DirqError) as error:  # dirq: "not locked" when another process unlocked it
        log.warning("cannot %s %s: %s", "remove" if done else "unlock", name, error)


class Removals:
    """Removes loaded queue elements in a thread of its own, while the loader goes on.

    A removal is a rename and a few unlinks whose wait on the file system (5 ms an element on the
    development machine's ext4, a tenth of that on a quiet disk) the loader would otherwise spend
    after each commit. An element is still removed only after the commit that holds its records;
    ``close`` waits for every removal asked for. Use as a context manager.
    """

    def __init__(self, incoming: Any) -> None:
        self.incoming = incoming
        self.names: queue_module.SimpleQueue[str | None] = queue_module.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="queue removals", daemon=True)
        self.thread.start()

    def put(self, name: str) -> None:
        self.names.put(name)

    def _run(self) -> None:
        while (name := self.names.get()) is not None:
            _finish_element(self.incoming, name, True)

    def __enter__(self) -> Removals:
        return self

    def __exit__(self, *exc: object) -> None:
        self.names.put(None)
        self.thread.join()


def file_items(paths: Iterable[str], signer: str | None = None,
               read: Callable[[str], tuple[str, str | None]] = read_message_file) -> Iterator[Item]:
    """(Message, finish) pairs for files (``-`` is stdin), each holding a message or a stream
    of text messages one after another (as ``apel-publish --stdout`` writes them)."""
    for path in paths:
        body, problem = read(path)
        parts = [body] if problem else split_stream(body)
        name = "stdin" if path == "-" else path
        for n, part in enumerate(parts):
            source = name if len(parts) == 1 else f"{name}#{n + 1}"
            yield Message(body=part, signer=signer, source=source, problem=problem), lambda done: None


def load_queue(loader: Loader, incoming: Any, show_progress: bool | None = False) -> Tally:
    """Load everything that is in an incoming queue now; returns the tally."""
    queues.purge(incoming)
    with Progress("loading", enabled=show_progress) as progress, Removals(incoming) as removals:
        return loader.run(queue_items(incoming, removals), progress)


def run_daemon(loader: Loader, incoming: Any, interval: float) -> Tally:
    """Load the queue every ``interval`` seconds until ``loader.stop`` is set (SIGTERM)."""
    log.info("loader daemon started on %s, polling every %s s", incoming.path, interval)

    def step() -> None:
        before = loader.tally.messages + loader.tally.rejected_messages
        with Removals(incoming) as removals:
            loader.run(queue_items(incoming, removals))
        if loader.tally.messages + loader.tally.rejected_messages != before:
            log.info(loader.tally.summary())
        queues.purge(incoming)

    daemon.repeat(step, loader.stop, interval, ends=Interrupted)
    log.info("loader daemon stopping: %s", loader.tally.summary())
    return loader.tally


def in_processes(workers: int, work: Callable[[], Tally]) -> Tally:
    """Run ``work()`` (which returns a Tally) in ``workers`` forked processes; combine the tallies.

    ``work`` runs in each child and must open its own database connection.
    SIGTERM or SIGINT to this process is passed on to the children, which
    finish their current message and stop. Raises ``ApelError`` with the
    first child's error if any child failed.
    """
    context = multiprocessing.get_context("fork")
    results = context.SimpleQueue()

    def child() -> None:
        try:
            tally = work()
            results.put(("ok", tally.messages, tally.records, tally.rejected_records, tally.rejected_messages))
        except BaseException as error:  # reported to the parent, which decides the exit code
            results.put(("error", str(error) or type(error).__name__))
            os._exit(1)

    processes = [context.Process(target=child, name=f"apel-load-{n}") for n in range(workers)]
    for process in processes:
        process.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:  # started, so it has one
                os.kill(process.pid, signal.SIGTERM)
        handler = previous[signum]
        if callable(handler):  # the program's own stop, which decides how it exits
            handler(signum, frame)

    previous: dict[int, Any] = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    total, errors = Tally(), list[str]()
    while not results.empty():
        outcome = results.get()
        if outcome[0] == "error":
            errors.append(outcome[1])
            continue
        total.messages += outcome[1]
        total.records += outcome[2]
        total.rejected_records += outcome[3]
        total.rejected_messages += outcome[4]
    if errors:
        raise ApelError(errors[0])
    return total
