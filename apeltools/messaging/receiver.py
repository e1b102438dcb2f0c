"""The receiving daemon: subscribe with client acknowledgement, file each message durably, then ACK.

Messages arrive on stomp.py's thread, which only appends them to a list. One
processing thread takes everything that has arrived since its last round and
handles it as a batch: each message is decrypted, verified, authorised and
written to the incoming or reject queue by the
:class:`~apeltools.messaging.acceptor.Acceptor` without syncing; then one
sync makes the whole batch durable (group commit: one journal commit covers
it, and batches grow by themselves while the disk or the verification is
slow) and only then is each message acknowledged on the connection it came
from. A message costs no thread hand-off of its own, which matters more than
parallel verification in threads: the work is CPU-bound Python, so threads
would only take turns. Large messages are the exception (a megabyte takes
milliseconds to verify): a few at a time go to a helper process (see
:mod:`~apeltools.messaging.large_message_filer`) that files them on another core while
this thread files the rest. When a write or a sync fails (disk full, read-only) the message
is not acknowledged: RabbitMQ gets a NACK and requeues it; ActiveMQ would
move a NACKed message to its dead-letter queue, so there the message is
simply left unacknowledged. Either way the receiver drops the connection,
waits with exponential backoff and reconnects, and the broker delivers the
unacknowledged messages again. Broker loss is handled the same way, with
failover to the next broker of the list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from apeltools.errors import BrokerError, QueueError
from apeltools.messaging.acceptor import Acceptor, make_durable
from apeltools.messaging.connection import Link
from apeltools.messaging.large_message_filer import LargeMessageFiler
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0
DEFAULT_PREFETCH = 200
# Seconds a batch gathers after its first message arrives: a few milliseconds of
# latency buy one sync and one burst of ACKs for many messages.
COMMIT_DELAY = 0.01
# Bytes of received messages waiting to be filed before the receiver stops reading.
MAX_WAITING_BYTES = 64 << 20


class Receiver:
    """Runs until :meth:`request_stop`; see the module docstring."""

    def __init__(self, link: Link, destination: str, acceptor: Acceptor, *, backoff: Backoff | None = None,
                 prefetch: int = DEFAULT_PREFETCH, identity: tuple[bytes, bytes] | None = None,
                 helper: bool = True):
        self.link = link
        self.destination = destination
        self.acceptor = acceptor
        self.backoff = backoff or Backoff()
        self.stop = self.backoff.stop
        self.prefetch = prefetch
        self.identity = identity
        self._wake = threading.Event()
        self._trouble: str | None = None
        self._stored = 0  # messages filed and acknowledged, so a reconnection knows it made progress
        # (frame, events) as they arrive; the broker sends at most ``prefetch`` unacknowledged
        # messages per connection, which bounds it. None asks the processor to finish.
        self._arrivals: deque = deque()
        self._arrived = threading.Event()
        self._waiting_bytes = 0  # bodies in _arrivals: beyond MAX_WAITING_BYTES, reading pauses
        self._room = threading.Condition()
        self._processor = threading.Thread(target=self._process_loop, name="receiver", daemon=True)
        self._helper = LargeMessageFiler(acceptor, self._file_here, enabled=helper, foreign_fds=link.socket_fds)
        link.on_message = self._on_message
        link.on_lost = self._connection_lost

    def request_stop(self) -> None:
        """Stop soon (a signal handler may call this)."""
        self.stop.set()
        self._wake.set()

    def run(self) -> None:
        """Receive until stopped; reconnect with backoff and failover whenever something breaks.

        Raises ``Interrupted`` when no broker answers within the backoff's ``give_up_after``.
        """
        self._processor.start()
        failures, stored = 0, 0
        self.acceptor.housekeeping(self.identity)
        last_housekeeping = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    self.backoff.call(self._subscribe, BrokerError, "connecting to the broker")
                except Interrupted as stop:
                    if str(stop) != "stopped":
                        raise  # out of time (a backoff with give_up_after): the caller says why
                    break
                # Wait for trouble, loss of the connection or a stop; wake-ups from a
                # connection we closed ourselves are ignored.
                while not (self.stop.is_set() or self._trouble or self.link.events.lost.is_set()):
                    self._wake.wait(HOUSEKEEPING_INTERVAL)
                    self._wake.clear()
                    if time.monotonic() - last_housekeeping >= HOUSEKEEPING_INTERVAL:
                        self.acceptor.housekeeping(self.identity)
                        last_housekeeping = time.monotonic()
                if self.stop.is_set():
                    break
                trouble, self._trouble = self._trouble, None
                self.link.close(failed=not trouble)
                if trouble:
                    failures = 1 if self._stored != stored else failures + 1
                    stored = self._stored
                    delay = self.backoff.delay(failures)
                    log.error("%s; not acknowledging, reconnecting in %.1f s", trouble, delay)
                    self.stop.wait(delay)
                else:
                    log.warning("connection to %s lost; reconnecting", self.link.broker)
                    failures = 0
        finally:
            self.link.close()
            self._arrivals.append(None)
            self._arrived.set()
            self._processor.join(timeout=60)
            self._helper.close()
            log.info(self.acceptor.tally.summary())

    def _subscribe(self) -> None:
        self.link.open()
        self.link.subscribe(self.destination, {"prefetch-count": str(self.prefetch),
                                               "activemq.prefetchSize": str(self.prefetch)})
        log.info("receiving from %s on %s", self.destination, self.link.broker)

    def _connection_lost(self, events) -> None:
        if events is self.link.events:  # not an old connection we closed ourselves
            self._wake.set()

    def _on_message(self, frame, events) -> None:
        # stomp.py's thread: hand over and return to reading at once, unless large messages
        # already wait (the prefetch window counts messages, not bytes): then stop reading
        # for a while, and TCP holds the broker back.
        size = len(frame.body)
        with self._room:
            while self._waiting_bytes >= MAX_WAITING_BYTES and events is self.link.events \
                    and not self.stop.is_set():
                self._room.wait(1.0)
            self._waiting_bytes += size
        self._arrivals.append((frame, events))
        self._arrived.set()

    def _process_loop(self) -> None:
        arrivals = self._arrivals
        done = False
        while not done:
            self._arrived.wait()
            # Let a batch gather: one round of filing, one sync and one burst of ACKs for
            # everything that arrives meanwhile, instead of a wake-up, a sync and an ACK
            # packet per message (the broker's prefetch window keeps the rest coming).
            self.stop.wait(COMMIT_DELAY)
            self._arrived.clear()  # an arrival after this sets it again: nothing is missed
            batch = []
            while arrivals:
                item = arrivals.popleft()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if not batch:
                continue
            with self._room:
                self._waiting_bytes -= sum(len(frame.body) for frame, _ in batch)
                self._room.notify_all()
            try:
                filed = self._process(batch)
                if filed:
                    self._commit(filed)
            except Exception:  # noqa: BLE001 - the processor must outlive any one batch
                log.exception("unexpected failure on %d messages; not acknowledged", len(batch))

    def _process(self, batch) -> list:
        """File a batch of messages; return (frame, events, element path) of those filed.

        Large messages go to the helper process while there is room there; the
        rest are filed here meanwhile. After a write failure the remaining
        messages of that connection are not tried.
        """
        done: dict = {}  # position in batch → Outcome, the QueueError that kept it off the disk, or None
        failed: dict = {}  # id(events) → the QueueError that stopped filing for that connection
        for n, (frame, events) in enumerate(batch):
            if events is not self.link.events or self.stop.is_set():
                continue  # its connection is gone: the broker delivers it again
            if id(events) in failed:  # the disk failed a moment ago: do not try the rest
                done[n] = failed[id(events)]
                continue
            body = frame.body if isinstance(frame.body, bytes) else frame.body.encode("utf-8")
            empaid = frame.headers.get("empa-id")
            if not (self._helper.takes(body) and self._helper.send(n, body, empaid)):
                done[n] = self._file_here(body, empaid)
                if isinstance(done[n], QueueError):
                    failed[id(events)] = done[n]
            self._helper.collect(done)
        self._helper.collect(done, wait=True)
        filed = []  # (frame, events, element path)
        refused: dict = {}  # id(events) → (events, frames, reason) not filed for want of disk
        for n, (frame, events) in enumerate(batch):
            result = done.get(n)
            if isinstance(result, QueueError):
                label = frame.headers.get("empa-id") or frame.headers.get("message-id")
                refused.setdefault(id(events), (events, [], f"cannot store message {label}: {result}"))[1].append(frame)
            elif result is not None:
                filed.append((frame, events, result.path))
        for events, frames, reason in refused.values():
            self._refuse(frames, events, reason)
        return filed

    def _file_here(self, body: bytes, empaid: str | None):
        """File one message in this process: its Outcome, the QueueError, or None (logged)."""
        try:
            return self.acceptor.handle(body, empaid, durable=False)
        except QueueError as error:
            return error
        except Exception:  # noqa: BLE001 - one message must never stop the others
            log.exception("unexpected failure on message %s; not acknowledged", empaid or "(no empa-id)")
            return None

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
        with self.link.burst():  # the ACKs leave together
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

