"""Draining the outgoing queue: sign, send with a window of messages awaiting receipts, remove on receipt.

Each element of the outgoing ``QueueSimple`` is locked, read, signed (and
encrypted to the server's certificate when one is configured), and sent with
``persistent: true``, ``empa-id`` = the element's name, and a receipt request.
Up to ``window`` messages (and ``max_bytes_in_air`` bytes) wait for their
receipts at once; the sender wakes when a quarter of them are receipted and
signs the refill on a few threads, then sends it in queue order as one burst.
An element is removed only when its receipt arrives. When no receipt comes within
``receipt_timeout`` seconds, or the connection breaks, the connection is
dropped and every unacknowledged message is sent again on a new connection
(to the next broker of the list): delivery is at least once. A message that
can never be sent (larger than ``max_message_size``, or refused by brokers
``MAX_STRIKES`` times) goes to a dead-letter queue with the reason instead of
blocking the queue behind it.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ContextManager, Protocol

from apeltools.errors import ApelError, BrokerError, CryptoError, QueueError
from apeltools.messaging import queues
from apeltools.progress import Progress
from apeltools.retry import Backoff, Interrupted

if TYPE_CHECKING:
    from apeltools.messaging.connection import Link

log = logging.getLogger(__name__)

MAX_STRIKES = 3
# Threads that sign a burst of messages at once (cryptography releases the GIL while it signs).
SIGNING_THREADS = max(1, min(4, os.cpu_count() or 1))
# Messages awaiting receipts hold at most this many bytes (and at least one message),
# so that a window of large messages does not pile up hundreds of megabytes at the broker.
DEFAULT_MAX_BYTES_IN_AIR = 16 << 20
MAX_FAILURES_ONE_SHOT = 5


class Channel(Protocol):
    """Where signed messages go: a broker (:class:`StompChannel`) or a directory (``local``)."""

    def open(self) -> None: ...

    def send(self, message: bytes, empaid: str) -> str:
        """Send and return a token that :meth:`wait` later reports as receipted or failed."""

    def wait(self, timeout: float, want: int = 1) -> tuple[list[str], list[tuple[str | None, str]], bool]:
        """Block until ``want`` receipts, an error or loss: (receipted tokens, (token, reason) errors, lost)."""

    def burst(self) -> ContextManager:
        """Messages sent inside may be held back and leave together when it ends."""

    def close(self, failed: bool = False) -> None:
        """Disconnect; ``failed`` says the destination misbehaved (try another broker next)."""


class StompChannel:
    """A :class:`Channel` to a STOMP destination over a :class:`~apeltools.messaging.connection.Link`.

    ``link`` may also be a function that makes the link on the first
    :meth:`open`: finding the brokers (asking a BDII) then fails, and is
    retried, like connecting to them.
    """

    def __init__(self, link: Link | Callable[[], Link], destination: str):
        self._make_link = link if callable(link) else None
        self.link = None if callable(link) else link
        self.destination = destination
        self._ids = itertools.count(1)

    def open(self) -> None:
        if self.link is None:
            self.link = self._make_link()
        self.link.open()

    def send(self, message: bytes, empaid: str) -> str:
        token = f"{empaid}#{next(self._ids)}"
        self.link.send(self.destination, message,
                       {"persistent": "true", "empa-id": empaid, "receipt": token})
        return token

    def wait(self, timeout, want=1):
        events = self.link.events
        events.wait(timeout, want)
        receipts, errors = events.take()
        return receipts, errors, events.lost.is_set()

    def burst(self):
        return self.link.burst()

    def close(self, failed: bool = False) -> None:
        if self.link is not None:
            self.link.close(failed)


@dataclass
class SendTally:
    """Counts of one run, for the summary line."""

    sent: int = 0
    bytes: int = 0
    dead_letters: int = 0
    unsent: int = 0
    resent: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (f"sent {self.sent} messages ({self.bytes / 1e6:.1f} MB) in {elapsed:.1f} s "
                f"({self.sent / elapsed:.0f} messages/s), {self.resent} resent, "
                f"{self.dead_letters} dead-lettered, {self.unsent} left unsent")


@dataclass
class _Flight:
    token: str | None = None
    sent_at: float = 0.0
    strikes: int = 0
    size: int = 0  # bytes on the wire while awaiting its receipt


class Sender:
    """Sends everything in an outgoing queue through a channel; see the module docstring."""

    def __init__(self, outgoing, channel: Channel, sign: Callable[[bytes], bytes], *,
                 dead_letters=None, window: int = 100, receipt_timeout: float = 30.0,
                 max_message_size: int | None = None, backoff: Backoff | None = None,
                 daemon: bool = False, max_bytes_in_air: int = DEFAULT_MAX_BYTES_IN_AIR):
        self.outgoing = outgoing
        self.channel = channel
        self.sign = sign
        self.dead_letters = dead_letters
        self.window = window
        self.receipt_timeout = receipt_timeout
        self.max_message_size = max_message_size
        self.backoff = backoff or Backoff()
        self.daemon = daemon
        self.max_bytes_in_air = max_bytes_in_air
        self._bytes_in_air = 0
        self._signers: ThreadPoolExecutor | None = None
        self.tally = SendTally()
        self._flights: dict[str, _Flight] = {}
        self._tokens: dict[str, str] = {}
        self._connected = False
        self._failures = 0  # connections lost in a row without a receipt

    @property
    def stop(self):
        return self.backoff.stop

    def drain(self, show_progress=None) -> SendTally:
        """Send every element now in the queue; return when all are receipted or sending must stop.

        Raises ``Interrupted`` (after unlocking what was not sent) when stopped
        or when the brokers stay unreachable past the backoff's budget.
        """
        names = iter(self.outgoing)
        exhausted = False
        with Progress("sending", show_progress) as progress:
            try:
                while not self.stop.is_set():
                    self._ensure_connected()
                    # After a failure one message at a time, so that a broker error names its cause.
                    limit = 1 if self._failures else self.window
                    with self.channel.burst():
                        for name in [n for n, f in self._flights.items() if f.token is None]:
                            if not self._room(limit) or not self._connected:
                                break
                            self._transmit(name)
                        burst, burst_bytes = [], 0  # (name, body) read, to be signed together
                        # (every message on the wire is a flight, so this also bounds those in the air)
                        while not exhausted and len(self._flights) < limit and self._connected \
                                and self._bytes_in_air + burst_bytes < self.max_bytes_in_air \
                                and not self.stop.is_set():
                            name = next(names, None)
                            if name is None:
                                exhausted = True
                            elif self._lock(name):
                                self._flights[name] = _Flight()
                                body = self._read(name)
                                if body is not None:
                                    burst.append((name, body))
                                    burst_bytes += len(body)
                        self._send_burst(burst)
                    if exhausted and not self._flights:
                        break
                    self._await_receipts(exhausted)
                    progress.update(self.tally.sent)
            finally:
                self._release_all()
        if self.stop.is_set() and not self.daemon:
            raise Interrupted("stopped")
        return self.tally

    # -- one message -------------------------------------------------------------------

    def _lock(self, name) -> bool:
        # False when removed or locked by another sender meanwhile; a lock whose owner is gone is taken over.
        return queues.lock(self.outgoing, name)

    def _read(self, name) -> bytes | None:
        """The body of a locked element, or None when it cannot be sent (unlocked or dead-lettered)."""
        try:
            body = self.outgoing.get(name)
        except OSError as error:
            log.warning("cannot read outgoing message %s: %s", name, error)
            self._forget(name, unlock=True)
            self.tally.unsent += 1
            return None
        if isinstance(body, str):
            body = body.encode("utf-8")
        if self.max_message_size and len(body) > self.max_message_size:
            self._dead_letter(name, body, f"message of {len(body)} bytes exceeds max_message_size "
                                          f"{self.max_message_size}")
            return None
        return body

    def _sign(self, name, body: bytes) -> bytes:
        try:
            return self.sign(body)
        except CryptoError as error:
            # The identity is unusable (expired, key mismatch): nothing can be sent.
            raise ApelError(f"cannot sign message {name}: {error}") from None

    def _send_burst(self, burst) -> None:
        """Sign new messages on several threads (the private-key operation runs outside the
        GIL), then send them in queue order."""
        if len(burst) > 1:
            if self._signers is None:
                self._signers = ThreadPoolExecutor(SIGNING_THREADS, thread_name_prefix="signer")
            signed = self._signers.map(self._sign, *zip(*burst))  # in order, as they are ready
        else:
            signed = (self._sign(name, body) for name, body in burst)
        for (name, body), message in zip(burst, signed):
            self._send(name, body, message)

    def _transmit(self, name) -> None:
        """Read, check, sign and send one locked element (again, after a reconnection)."""
        if not self._connected:
            return  # sent after the reconnection
        body = self._read(name)
        if body is not None:
            self._send(name, body, self._sign(name, body))

    def _send(self, name, body: bytes, message: bytes) -> None:
        if not self._connected:
            return  # the connection broke during this burst: sent again after the reconnection
        flight = self._flights[name]
        if self.max_message_size and len(message) > self.max_message_size:
            self._dead_letter(name, body, f"signed message of {len(message)} bytes exceeds "
                                          f"max_message_size {self.max_message_size}")
            return
        try:
            token = self.channel.send(message, name)
        except BrokerError as error:
            self._lost(f"sending {name} failed: {error}")
            return
        if flight.token is not None or flight.sent_at:
            self.tally.resent += 1
        flight.token, flight.sent_at, flight.size = token, time.monotonic(), len(message)
        self._tokens[token] = name
        self._bytes_in_air += flight.size
        self.tally.bytes += len(message)

    def _dead_letter(self, name, body: bytes, reason: str) -> None:
        log.error("outgoing message %s can never be sent: %s", name, reason)
        if self.dead_letters is None:
            log.error("no dead-letter queue configured: message %s stays in the outgoing queue", name)
            self._forget(name, unlock=True)
            self.tally.unsent += 1
            return
        try:
            queues.add(self.dead_letters, {"body": body.decode("utf-8", "backslashreplace"),
                                           "empaid": name, "error": reason})
        except QueueError as error:
            log.error("cannot dead-letter %s: %s", name, error)
            self._forget(name, unlock=True)
            self.tally.unsent += 1
            return
        self._forget(name, remove=True)
        self.tally.dead_letters += 1

    def _forget(self, name, unlock=False, remove=False) -> None:
        flight = self._flights.pop(name, None)
        if flight and flight.token:
            self._tokens.pop(flight.token, None)
            self._bytes_in_air -= flight.size
        try:
            if remove:
                queues.remove(self.outgoing, name)
            elif unlock:
                queues.unlock(self.outgoing, name)
        except OSError as error:
            log.warning("cannot %s outgoing message %s: %s", "remove" if remove else "unlock", name, error)

    # -- receipts, timeouts and reconnection ---------------------------------------------

    def _in_air(self) -> int:
        return len(self._tokens)  # a token for each message on the wire

    def _room(self, limit: int) -> bool:
        """Whether one more message may go on the wire (always, when none is)."""
        return self._in_air() < limit and self._bytes_in_air < self.max_bytes_in_air

    def _await_receipts(self, exhausted: bool) -> None:
        # Flights go on the wire in the order of self._flights, so the first one in the
        # air is the oldest.
        oldest = next((f.sent_at for f in self._flights.values() if f.token), None)
        if oldest is None:
            return  # nothing on the wire: the connection was lost before sending
        # With a full window, wake up for a quarter of it rather than for each receipt:
        # the refill is then signed and sent as one burst; at the end, for all of them.
        in_air = len(self._tokens)
        want = in_air if exhausted else max(1, in_air // 4)
        receipts, errors, lost = self.channel.wait(max(0.0, oldest + self.receipt_timeout - time.monotonic()),
                                                   want)
        for token in receipts:
            name = self._tokens.pop(token, None)
            if name is not None and name in self._flights:
                self._forget(name, remove=True)
                self.tally.sent += 1
                self._failures = 0
        for token, reason in errors:
            self._strike(token, reason)
        if lost or errors:
            reason = "; ".join(r for _, r in errors) or "connection lost"
            self._lost(f"{reason}; sending {len(self._flights)} unacknowledged messages again")
            return
        oldest = next((f.sent_at for f in self._flights.values() if f.token), None)
        if oldest is not None and time.monotonic() - oldest >= self.receipt_timeout:
            self._lost(f"no receipt within {self.receipt_timeout:g} s; reconnecting and sending "
                       f"{len(self._flights)} messages again")

    def _strike(self, token, reason) -> None:
        """Count a broker error against the message it names, or the only one in the air."""
        name = self._tokens.get(token) if token else None
        if name is None:
            in_air = [n for n, f in self._flights.items() if f.token]
            if len(in_air) != 1:
                return
            name = in_air[0]
        flight = self._flights[name]
        flight.strikes += 1
        if flight.strikes >= MAX_STRIKES:
            try:
                body = self.outgoing.get(name)
            except OSError:
                return
            body = body if isinstance(body, bytes) else body.encode("utf-8")
            self._dead_letter(name, body, f"refused by the broker {flight.strikes} times: {reason}")

    def _lost(self, why: str) -> None:
        """Drop the connection; every message awaiting a receipt will be sent again."""
        log.warning("%s", why)
        self._connected = False
        self.channel.close(failed=True)
        self._tokens.clear()
        self._bytes_in_air = 0
        for flight in self._flights.values():
            flight.token = None
        self._failures += 1
        if not self.daemon and self._failures >= MAX_FAILURES_ONE_SHOT:
            raise Interrupted(f"gave up after {self._failures} failed attempts: {why}")
        # A broker that accepts the connection and then fails must not be hammered.
        self.stop.wait(self.backoff.delay(self._failures))

    def _ensure_connected(self) -> None:
        if self._connected:
            return
        self.backoff.call(self.channel.open, BrokerError, "connecting to the broker")
        self._connected = True

    def _release_all(self) -> None:
        for name in list(self._flights):
            self._forget(name, unlock=True)
            self.tally.unsent += 1

    def close(self) -> None:
        self._connected = False
        self.channel.close()
        if self._signers is not None:
            self._signers.shutdown()
            self._signers = None


def signer_for(cert_pem: bytes, key_pem: bytes, server_cert_pem: bytes | None = None,
               cipher: str = "aes128") -> Callable[[bytes], bytes]:
    """The function that turns a body into what goes on the wire: signed, then maybe encrypted."""
    from apeltools.messaging import crypto

    if server_cert_pem is None:
        return lambda body: crypto.sign(body, cert_pem, key_pem)
    return lambda body: crypto.encrypt(crypto.sign(body, cert_pem, key_pem), server_cert_pem, cipher)
