"""A STOMP connection to one broker of a list: TLS verified against the CA directory, failover, events.

stomp.py delivers frames on its own thread; :class:`Events` turns them into
things the sender and receiver can wait on (receipts, errors, the connection
going away) instead of sleeping. TLS uses a bundle of the CA directory's
certificates, because stomp.py only takes a CA *file*: the broker's
certificate chain and its host name are both checked, and the client presents
the host certificate when one is configured.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import glob
import logging
import os
import socket
import ssl
import tempfile
import threading
import uuid
from collections import deque

import stomp
import stomp.exception

from apeltools.errors import BrokerError, ConfigError
from apeltools.messaging.brokers import Broker

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0


def _not_our_business(record) -> bool:
    # stomp.py logs a traceback when a frame cannot be written to a socket that just
    # closed; we see the same failure as an exception and handle it (reconnect, resend).
    # It also warns when closing a socket that its reading thread closed a moment before
    # (EBADF): the socket is closed either way.
    message = record.getMessage()
    if message.startswith("unable to issue SHUT_RDWR"):
        return f"[Errno {errno.EBADF}]" not in message
    return message != "error sending frame"


logging.getLogger("stomp.py").addFilter(_not_our_business)


class Events(stomp.ConnectionListener):
    """What happened on a connection, for a thread that waits: receipts, errors, loss, messages."""

    def __init__(self, on_message=None, on_lost=None):
        self.changed = threading.Condition()
        self.receipts: deque[str] = deque()
        self.errors: deque[tuple[str | None, str]] = deque()
        self.lost = threading.Event()
        self.server = ""
        self.connection = None  # the stomp.py connection these events come from
        self._on_message = on_message
        self._on_lost = on_lost
        self._want = 1  # receipts a waiter needs before it is worth waking

    def on_connected(self, frame):
        self.server = frame.headers.get("server", "")

    def on_receipt(self, frame):
        with self.changed:
            self.receipts.append(frame.headers.get("receipt-id", ""))
            if len(self.receipts) >= self._want:
                self.changed.notify_all()

    def on_error(self, frame):
        body = frame.body.decode("utf-8", "replace") if isinstance(frame.body, bytes) else frame.body
        reason = (frame.headers.get("message", "") + " " + (body or "")).strip()
        log.warning("broker error: %s", reason or "(no reason given)")
        with self.changed:
            self.errors.append((frame.headers.get("receipt-id"), reason))
            self.changed.notify_all()

    def on_disconnected(self):
        with self.changed:
            self.lost.set()
            self.changed.notify_all()
        if self._on_lost is not None:
            self._on_lost(self)

    def on_heartbeat_timeout(self):
        log.warning("broker heartbeat timed out")

    def on_message(self, frame):
        if self._on_message is not None:
            self._on_message(frame, self)

    def wait(self, timeout: float, want: int = 1) -> None:
        """Block until ``want`` receipts, an error or loss arrive, or ``timeout`` seconds pass.

        A sender with many messages in the air asks for several receipts at
        once, so that it wakes once per batch rather than once per message.
        """
        with self.changed:
            self._want = max(want, 1)
            try:
                if not (len(self.receipts) >= self._want or self.errors or self.lost.is_set()):
                    self.changed.wait(timeout)
            finally:
                self._want = 1

    def take(self) -> tuple[list[str], list[tuple[str | None, str]]]:
        """The receipts and errors that arrived since the last call."""
        with self.changed:
            receipts, errors = list(self.receipts), list(self.errors)
            self.receipts.clear()
            self.errors.clear()
        return receipts, errors


def ca_bundle(capath: str) -> str:
    """A PEM file holding every certificate of a hashed CA directory (or the file itself).

    Written once per process into a private temporary file, which the TLS
    layer reads at each connection.
    """
    if os.path.isfile(capath):
        return capath
    pems = []
    for name in sorted(glob.glob(os.path.join(capath, "*"))):
        base = os.path.basename(name)
        stem, _, suffix = base.rpartition(".")
        # Hashed names (<hash>.0, .1 ...) and *.pem; CRLs (<hash>.r0) are not certificates.
        if not (suffix.isdigit() or suffix in ("pem", "crt")) or not stem:
            continue
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if b"-----BEGIN CERTIFICATE-----" in data:
            pems.append(data if data.endswith(b"\n") else data + b"\n")
    if not pems:
        raise ConfigError(f"no CA certificates in {capath}")
    handle = tempfile.NamedTemporaryFile(prefix="apeltools-ca-", suffix=".pem", delete=False)
    with handle:
        handle.write(b"".join(pems))
    _bundles.append(handle.name)
    return handle.name


_bundles: list[str] = []


def _remove_bundles():
    for name in _bundles:
        try:
            os.unlink(name)
        except OSError:
            pass


atexit.register(_remove_bundles)


def tls_context(ca_file: str, certificate: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """The TLS settings used for brokers: chain and host name verified, optional client certificate.

    stomp.py builds its own context from the same inputs (``ssl.PROTOCOL_TLS_CLIENT``
    verifies the chain and the host name by default); this function is what the
    tests use to check those settings.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_file)
    if certificate:
        context.load_cert_chain(certificate, key)
    return context


class Link:
    """One connected STOMP session to the first broker of a list that answers."""

    def __init__(self, brokers: list[Broker], *, username=None, password=None, capath=None,
                 certificate=None, key=None, heartbeat=10.0, vhost="/", on_message=None,
                 on_lost=None):
        if not brokers:
            raise ConfigError("no broker to connect to")
        self.brokers = list(brokers)
        self.username = username
        self.password = password
        self.capath = capath
        self.certificate = certificate
        self.key = key
        self.heartbeat_ms = int(heartbeat * 1000)
        self.vhost = vhost
        self.on_message = on_message
        self.on_lost = on_lost
        self.connection = None
        self.events = Events()
        self.broker: Broker | None = None
        self._next = 0
        self._ca_file = None

    def open(self) -> Broker:
        """Connect to the next broker that answers, starting after the last one used.

        Raises BrokerError (transient: the caller retries with backoff) when
        none answers.
        """
        self.close()
        failures = []
        for _ in range(len(self.brokers)):
            broker = self.brokers[self._next % len(self.brokers)]
            try:
                self._connect(broker)
                self.broker = broker
                log.info("connected to %s (%s)", broker, self.events.server or "unknown broker")
                return broker
            except BrokerError as error:
                failures.append(f"{broker}: {error}")
                self._next += 1
        raise BrokerError("no broker reachable: " + "; ".join(failures))

    def _connect(self, broker: Broker) -> None:
        address = (broker.host, broker.port)
        connection = stomp.StompConnection12(
            [address], prefer_localhost=False, try_loopback_connect=False,
            reconnect_attempts_max=1, reconnect_sleep_initial=0.0, reconnect_sleep_jitter=0.0,
            timeout=CONNECT_TIMEOUT, heartbeats=(self.heartbeat_ms, self.heartbeat_ms),
            auto_decode=False, keepalive=True, vhost=self.vhost,
        )
        if broker.ssl:
            if not self.capath:
                raise ConfigError("[certificates] capath is needed to verify the broker over TLS")
            if self._ca_file is None:
                self._ca_file = ca_bundle(self.capath)
            connection.set_ssl(for_hosts=[address], ca_certs=self._ca_file, cert_file=self.certificate,
                               key_file=self.key, ssl_version=ssl.PROTOCOL_TLS_CLIENT)
        events = Events(self.on_message, self.on_lost)
        events.connection = connection
        connection.set_listener("apeltools", events)
        try:
            connection.connect(self.username, self.password, wait=True,
                               headers={"client-id": f"apeltools-{uuid.uuid4().hex[:12]}"})
        except (stomp.exception.StompException, OSError, ssl.SSLError) as error:
            self._drop(connection)
            _, errors = events.take()
            raise BrokerError("; ".join(reason for _, reason in errors) or _describe(error)) from None
        if not connection.is_connected():
            self._drop(connection)
            raise BrokerError("connection refused")
        self.connection, self.events = connection, events

    def send(self, destination: str, body: bytes, headers: dict) -> None:
        try:
            self.connection.send(destination, body, headers=headers)
        except (stomp.exception.StompException, OSError, AttributeError) as error:
            self.events.lost.set()
            raise BrokerError(f"cannot send to {self.broker}: {_describe(error)}") from None

    @contextlib.contextmanager
    def burst(self):
        """Frames sent inside leave in as few packets as possible (Linux TCP_CORK), all at the end.

        The broker then reads many frames at once instead of waking for each.
        Where the option does not exist the frames simply leave one by one.
        """
        sock = _socket_of(self.connection)
        corked = sock is not None and _set_cork(sock, True)
        try:
            yield
        finally:
            if corked:
                _set_cork(sock, False)

    def subscribe(self, destination: str, headers: dict) -> None:
        try:
            self.connection.subscribe(destination, id="apeltools-1", ack="client-individual", headers=headers)
        except (stomp.exception.StompException, OSError) as error:
            raise BrokerError(f"cannot subscribe to {destination}: {_describe(error)}") from None

    def ack(self, frame, events: Events) -> bool:
        """Acknowledge a message on the connection it came from; False when that connection is gone."""
        return self._answer("ack", frame, events)

    def nack(self, frame, events: Events) -> bool:
        return self._answer("nack", frame, events)

    def _answer(self, verb, frame, events):
        connection = events.connection
        if events is not self.events or connection is None or not connection.is_connected():
            return False
        ident = frame.headers.get("ack") or frame.headers.get("message-id")
        try:
            getattr(connection, verb)(ident)
            return True
        except Exception:  # noqa: BLE001 - stomp.py fails in many ways when its socket just closed
            return False

    @property
    def is_rabbitmq(self) -> bool:
        return self.events.server.lower().startswith("rabbitmq")

    def socket_fds(self) -> list[int]:
        """The file descriptor of the broker connection, if any (a forked helper closes it)."""
        sock = _socket_of(self.connection) if self.connection is not None else None
        try:
            return [sock.fileno()] if sock is not None and sock.fileno() >= 0 else []
        except OSError:
            return []

    def close(self, failed: bool = False) -> None:
        """Disconnect; with ``failed`` the next :meth:`open` starts with the next broker of the list."""
        if failed:
            self._next += 1
        if self.connection is not None:
            connection, self.connection = self.connection, None
            # Fresh events first, so that the closing connection's last callbacks look stale.
            self.events = Events()
            self._drop(connection)

    @staticmethod
    def _drop(connection) -> None:
        """Close without waiting for the broker: a broker that stopped answering must not hang us."""
        try:
            if connection.is_connected():
                connection.disconnect()
        except (stomp.exception.StompException, OSError):
            pass
        try:
            # Closing the socket ends stomp.py's reading thread even when the peer is silent.
            connection.transport.disconnect_socket()
        except Exception:  # noqa: BLE001 - a half-open stomp.py transport may fail in many ways
            pass


def _socket_of(connection):
    try:
        return connection.transport.socket
    except AttributeError:
        return None


def _set_cork(sock, on: bool) -> bool:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
        return True
    except (AttributeError, OSError):  # not Linux, or the socket just closed
        return False


def _describe(error) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"broker certificate not accepted: {error.verify_message}"
    if isinstance(error, stomp.exception.ConnectFailedException):
        return "connection failed (refused, TLS handshake failed, or login rejected)"
    text = str(error)
    return text or type(error).__name__
