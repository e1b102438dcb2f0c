"""The receiving daemon: subscribe with client acknowledgement, file each message durably, then ACK.

Messages arrive on stomp.py's thread and are handed to a few worker threads,
which run the :class:`~apeltools.messaging.acceptor.Acceptor` (decrypt, verify,
authorise, write to the incoming or reject queue) without syncing. A committer
thread takes every message filed since its last round, fsyncs them together
(group commit: one journal commit covers the whole batch, and the batch grows
by itself while the disk is slow) and only then acknowledges each of them on
the connection it came from. When a write or a sync fails
(disk full, read-only) the message is not acknowledged: RabbitMQ gets a NACK
and requeues it; ActiveMQ would move a NACKed message to its dead-letter queue,
so there the message is simply left unacknowledged. Either way the receiver
drops the connection, waits with exponential backoff and reconnects, and the
broker delivers the unacknowledged messages again. Broker loss is handled the
same way, with failover to the next broker of the list.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from apeltools.errors import BrokerError, CryptoError, QueueError
from apeltools.messaging import crypto, queues
from apeltools.messaging.acceptor import Acceptor, make_durable
from apeltools.messaging.connection import Link
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0
DEFAULT_WORKERS = 2
DEFAULT_PREFETCH = 200


class Receiver:
    """Runs until :meth:`request_stop`; see the module docstring."""

    def __init__(self, link: Link, destination: str, acceptor: Acceptor, *, backoff: Backoff | None = None,
                 workers: int = DEFAULT_WORKERS, prefetch: int = DEFAULT_PREFETCH,
                 identity: tuple[bytes, bytes] | None = None):
        self.link = link
        self.destination = destination
        self.acceptor = acceptor
        self.backoff = backoff or Backoff()
        self.stop = self.backoff.stop
        self.prefetch = prefetch
        self.identity = identity
        self._work: queue.Queue = queue.Queue(maxsize=prefetch)
        self._wake = threading.Event()
        self._trouble: str | None = None
        self._stored = 0  # messages filed and acknowledged, so a reconnection knows it made progress
        self._workers = [threading.Thread(target=self._worker, name=f"receiver-{i}", daemon=True)
                         for i in range(workers)]
        self._filed: list = []  # (frame, events, element path) written, awaiting sync and ACK
        self._filed_changed = threading.Condition()
        self._committer = threading.Thread(target=self._commit_loop, name="receiver-commit", daemon=True)
        link.on_message = self._arrived
        link.on_lost = self._connection_lost

    def request_stop(self) -> None:
        """Stop soon (a signal handler may call this)."""
        self.stop.set()
        self._wake.set()

    def run(self) -> None:
        """Receive until stopped; reconnect with backoff and failover whenever something breaks."""
        for worker in self._workers:
            worker.start()
        self._committer.start()
        failures, stored = 0, 0
        self._housekeeping()
        last_housekeeping = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    self.backoff.call(self._subscribe, BrokerError, "connecting to the broker")
                except Interrupted:
                    break
                # Wait for trouble, loss of the connection or a stop; wake-ups from a
                # connection we closed ourselves are ignored.
                while not (self.stop.is_set() or self._trouble or self.link.events.lost.is_set()):
                    self._wake.wait(HOUSEKEEPING_INTERVAL)
                    self._wake.clear()
                    if time.monotonic() - last_housekeeping >= HOUSEKEEPING_INTERVAL:
                        self._housekeeping()
                        last_housekeeping = time.monotonic()
                if self.stop.is_set():
                    break
                trouble, self._trouble = self._trouble, None
                self.link.close(failed=not trouble)
                if trouble:
                    failures = 1 if self._stored != stored else failures + 1
                    stored = self._stored
                    delay = min(self.backoff.initial * 2 ** (failures - 1), self.backoff.maximum)
                    log.error("%s; not acknowledging, reconnecting in %.0f s", trouble, delay)
                    self.stop.wait(delay)
                else:
                    log.warning("connection to %s lost; reconnecting", self.link.broker)
                    failures = 0
        finally:
            self.link.close()
            for _ in self._workers:
                self._work.put(None)
            for worker in self._workers:
                worker.join(timeout=60)
            with self._filed_changed:
                self._filed.append(None)
                self._filed_changed.notify()
            self._committer.join(timeout=60)
            log.info(self.acceptor.tally.summary())

    def _subscribe(self) -> None:
        self.link.open()
        self.link.subscribe(self.destination, {"prefetch-count": str(self.prefetch),
                                               "activemq.prefetchSize": str(self.prefetch)})
        log.info("receiving from %s on %s", self.destination, self.link.broker)

    def _connection_lost(self, events) -> None:
        if events is self.link.events:  # not an old connection we closed ourselves
            self._wake.set()

    def _arrived(self, frame, events) -> None:
        # stomp.py's thread: a full work queue holds it, and so the broker, back.
        self._work.put((frame, events))

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            frame, events = item
            if events is not self.link.events or self.stop.is_set():
                continue  # its connection is gone: the broker delivers it again
            try:
                self._file(frame, events)
            except Exception:  # noqa: BLE001 - a worker must outlive any one message
                log.exception("unexpected failure on message %s; not acknowledged",
                              frame.headers.get("message-id"))

    def _file(self, frame, events) -> None:
        body = frame.body if isinstance(frame.body, bytes) else frame.body.encode("utf-8")
        empaid = frame.headers.get("empa-id")
        try:
            outcome = self.acceptor.handle(body, empaid, durable=False)
        except QueueError as error:
            self._refuse([frame], events, f"cannot store message {empaid or frame.headers.get('message-id')}: "
                                          f"{error}")
            return
        with self._filed_changed:
            self._filed.append((frame, events, outcome.path))
            self._filed_changed.notify()

    def _commit_loop(self) -> None:
        while True:
            with self._filed_changed:
                while not self._filed:
                    self._filed_changed.wait()
                batch, self._filed = self._filed, []
            done = batch[-1] is None
            batch = [item for item in batch if item is not None]
            if batch:
                try:
                    self._commit(batch)
                except Exception:  # noqa: BLE001 - the committer must outlive any one batch
                    log.exception("unexpected failure committing %d messages; not acknowledged", len(batch))
            if done:
                return

    def _commit(self, batch) -> None:
        """Make a batch of filed messages durable, then acknowledge each; NACK them all if that fails."""
        try:
            make_durable(path for _, _, path in batch)
        except QueueError as error:
            by_connection: dict = {}
            for frame, events, _ in batch:
                by_connection.setdefault(id(events), (events, []))[1].append(frame)
            for events, frames in by_connection.values():
                self._refuse(frames, events, f"cannot store {len(batch)} messages: {error}")
            return
        for frame, events, _ in batch:
            if self.link.ack(frame, events):
                self._stored += 1
            else:
                log.info("message %s was filed but its connection is gone; it will come again",
                         frame.headers.get("empa-id") or frame.headers.get("message-id"))

    def _refuse(self, frames, events, trouble: str) -> None:
        """Leave messages with the broker (NACK on RabbitMQ) and have the main loop reconnect later."""
        self._trouble = trouble
        if self.link.is_rabbitmq:
            for frame in frames:
                self.link.nack(frame, events)
        self._wake.set()

    def _housekeeping(self) -> None:
        queues.purge(self.acceptor.incoming)
        queues.purge(self.acceptor.rejects)
        if self.identity:
            try:
                crypto.check_cert_and_key(*self.identity)
            except CryptoError as error:
                log.error("host certificate problem: %s", error)
