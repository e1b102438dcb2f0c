"""Events: small JSON notes of what the programs did, queued for ``apel-send`` to carry to a topic.

An event is one JSON object (``schemas/events.json``): ``type`` (one of
:data:`EVENT_TYPES`), ``time`` (UTC, ISO 8601), ``host``, ``program``,
``site`` (or null) and ``fields`` (what the type says). The loader, receiver,
summariser, publisher and probes call :func:`emit`; it writes the event into
the directory queue ``[events] queue`` (one file per event, as ``apel-publish``
writes messages) and returns. ``apel-send --events`` signs and sends that
queue to ``[events] destination`` over ``[events] transport``, and
``apel-events`` subscribes and shows them (:mod:`apeltools.event_watch`).

Emitting never fails or holds up the work it reports on: without ``[events]
queue`` it does nothing, and when the queue cannot be written (unwritable,
full) the event is dropped with one warning, and no write is tried for
:data:`PAUSE_AFTER_FAILURE` seconds (the next warning says how many were
dropped meanwhile). Events are written without fsync: they are notices, not
records, and a crash may lose the last few.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from apeltools.authz.sitemap import site_of
from apeltools.config import Config
from apeltools.errors import ConfigError
from apeltools.messaging import queues
from apeltools.messaging.settings import SPOOL
from apeltools.quoting import quote

if TYPE_CHECKING:  # only for the annotation: the receiver has no database
    from apeltools.db.base import Database

log = logging.getLogger(__name__)

# Every event type, and what its fields are. schemas/events.json lists the same names.
EVENT_TYPES = {
    "message.accepted": "apel-receive filed a verified message from an authorised signer in the incoming "
                        "queue. Fields: empaid, signer.",
    "message.rejected": "A message went to a reject queue. Fields: stage (receive: not verified or not "
                        "authorised; load: not loadable), empaid, signer (null when unknown), reason.",
    "records.loaded": "apel-load stored the records of one site and type from one message (site: the "
                      "records' Site). Fields: record_type, records, empaid, signer.",
    "site_month.summarised": "apel-summarise brought up to date a site-month that had new or changed "
                             "records. Fields: kind (jobs, cloud, accelerator), year, month.",
    "sync.difference": "check_apel_sync found a month whose job counts differ between the site and the "
                       "repository beyond the threshold. Fields: month (YYYY-MM), state, repository, "
                       "site_count, difference (percent).",
    "publication.done": "apel-publish finished a run. Fields: destination, messages, records "
                        "({record type: count}).",
    "certificate.expiring": "check_apel_cert found the host certificate within its warning days of "
                            "expiry (or expired). Fields: subject, not_after, days_left.",
}

# apel-events files what it receives through the receiver's acceptor: were it to emit, it would
# report each event it shows as an accepted message, to itself.
SILENT_PROGRAMS = {"apel-events"}
PAUSE_AFTER_FAILURE = 30.0  # seconds without write attempts after one failed
DEFAULT_DESTINATION = "/topic/apel.events"


class Emitter:
    """Writes events of one program into an outgoing directory queue."""

    def __init__(self, queue_path: str, program: str, host: str | None = None):
        self.queue_path = queue_path
        self.program = program
        self.host = host or socket.getfqdn()
        self.dropped = 0
        self._queue: Any = None  # a dirq QueueSimple, opened on the first event
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def emit(self, event_type: str, site: str | None = None, **fields: Any) -> None:
        """Queue one event; never raises (see the module docstring)."""
        if event_type not in EVENT_TYPES:
            log.warning("not emitting an event of unknown type %s", quote(event_type))
            return
        with self._lock:
            if time.monotonic() < self._paused_until:
                self.dropped += 1
                return
            try:
                body = json.dumps(event(event_type, self.program, self.host, site, fields), default=str)
                if self._queue is None:
                    self._queue = queues.outgoing_queue(self.queue_path)
                self._queue.add(body)
            except Exception as error:  # noqa: BLE001 - an event must never fail the work it reports on
                self.dropped += 1
                self._queue = None
                self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
                log.warning("cannot queue events in %s (%s): %d dropped, none written for %.0f s",
                            self.queue_path, error, self.dropped, PAUSE_AFTER_FAILURE)
                self.dropped = 0


def event(event_type: str, program: str, host: str, site: str | None, fields: dict,
          now: datetime | None = None) -> dict:
    """One event as the schema has it."""
    now = now or datetime.now(timezone.utc)
    return {"type": event_type, "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "host": host,
            "program": program, "site": site, "fields": fields}


_emitter: Emitter | None = None


def _fresh_lock_in_child() -> None:
    """A forked child (the receiver's large-message filer) gets a free lock: another thread of
    the parent may have held it at the fork, and nobody in the child would ever release it."""
    if _emitter is not None:
        _emitter._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def configure(config: Config, program: str) -> Emitter | None:
    """Emit this process's events as ``[events] queue`` says (nothing when unset); returns the emitter."""
    global _emitter
    queue = config.get("events", "queue")
    _emitter = Emitter(queue, program) if queue and program not in SILENT_PROGRAMS else None
    return _emitter


@contextlib.contextmanager
def emitting_to(queue_path: str | None, program: str = "") -> Iterator[Emitter | None]:
    """Emit this process's events into ``queue_path`` (none with None) within the block, as
    the demo does; the previous emitter is back afterwards."""
    global _emitter
    previous, _emitter = _emitter, Emitter(queue_path, program) if queue_path else None
    try:
        yield _emitter
    finally:
        _emitter = previous


def emit(event_type: str, site: str | None = None, **fields: Any) -> None:
    """Queue an event of ``event_type`` (a key of :data:`EVENT_TYPES`) if events are configured.

    Cheap when they are not, so hooks need no check of their own.
    """
    if _emitter is not None:
        _emitter.emit(event_type, site, **fields)


def records_loaded(record_type: str, records: list, empaid: str | None, signer: str | None) -> None:
    """Emit ``records.loaded`` per site of ``records`` (one message's, of one type)."""
    if _emitter is None:
        return  # no counting for nobody
    per_site = Counter(site_of(record) for record in records)
    for site, count in sorted(per_site.items(), key=lambda item: item[0] or ""):
        _emitter.emit("records.loaded", site, record_type=record_type, records=count, empaid=empaid, signer=signer)


def site_months_summarised(db: Database, dirty: list, deltas: list) -> None:
    """Emit ``site_month.summarised`` for the SummaryDirty marks (kind, site id, year, month, version)
    and the deltas (id, site id, year, month) a summariser run consumed."""
    if _emitter is None:
        return  # no question to the database for nobody
    months = {mark[:4] for mark in dirty} | {("jobs", *delta[1:]) for delta in deltas}
    try:
        names = db.lookup_names("Sites", [month[1] for month in months])
    except Exception as error:  # noqa: BLE001 - the summaries are committed; only their notice is lost
        log.warning("cannot name the sites of summarised months for events: %s", error)
        return
    for kind, site, year, month in sorted(months):
        _emitter.emit("site_month.summarised", names.get(site), kind=kind, year=year, month=month)


def messaging_config(config: Config, role: str, incoming: str | None = None) -> Config:
    """``config`` with ``[messaging]`` pointed at the events: what ``apel-send --events`` (``role``
    "sender") and ``apel-events`` ("receiver", filing into ``incoming``) run on.

    ``[events]`` keys: ``queue`` (the outgoing queue, required to send),
    ``destination`` (topic; :data:`DEFAULT_DESTINATION`), ``subscription``
    (what ``apel-events`` reads on AMS, else ``destination``), ``transport``
    (else as ``[messaging]``), ``wire_path`` (local transport; default
    ``events-wire`` next to the queue, else in /var/spool/apel), and
    ``dead_letter_path``. Brokers, certificates and the DN list stay as
    configured for the records.
    """
    get = config.get
    queue = get("events", "queue")
    messaging = {"destination": get("events", "destination") or DEFAULT_DESTINATION}
    if role == "sender":
        if not queue:
            raise ConfigError("[events] queue is not set: there are no events to send")
        messaging["outgoing_path"] = queue
        messaging["dead_letter_path"] = get("events", "dead_letter_path") or _beside(queue, "events-reject")
    else:
        if not incoming:
            raise ValueError("receiving events needs an incoming queue")
        messaging["destination"] = get("events", "subscription") or messaging["destination"]
        messaging["incoming_path"] = incoming
        messaging["reject_path"] = _beside(incoming, "reject")
    if get("events", "transport"):
        messaging["transport"] = get("events", "transport")
    # Never the records' wire, even where no [events] queue is set (a host that only watches).
    messaging["wire_path"] = (get("events", "wire_path")
                              or (_beside(queue, "events-wire") if queue else f"{SPOOL}/events-wire"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(config.parser)
    if not parser.has_section("messaging"):
        parser.add_section("messaging")
    for key, value in messaging.items():
        parser.set("messaging", key, value)
    # The environment's [messaging] values for these keys are the records', not the events'.
    environ = {name: value for name, value in config.environ.items()
               if name.upper() not in {f"APELTOOLS_MESSAGING_{key.upper()}" for key in messaging}}
    return Config(parser, None, environ)


def _beside(path: str, name: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), name)
