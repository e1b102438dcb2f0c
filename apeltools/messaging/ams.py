"""The ``ams`` transport: signed messages as bytes over the ARGO Messaging Service's HTTPS API.

AMS (``formats.md`` §10) is a publish/subscribe service after Google Pub/Sub:
apel-send publishes to a topic, apel-receive pulls from a subscription and
acknowledges. This module only moves bytes; the sender's and receiver's logic
(queues, signing, verification, authorisation, filing with fsync before the
acknowledgement, dead letters) is the same as for STOMP and local:
:class:`AmsChannel` is a :class:`~apeltools.messaging.sender.Channel` for the
:class:`~apeltools.messaging.sender.Sender`, and :class:`AmsReceiver` feeds
what it pulls to the same :class:`~apeltools.messaging.acceptor.Acceptor`.

Sending: messages go several to a publish request (at most ``batch`` messages
and ``max_request_bytes`` bytes), up to ``requests_in_flight`` requests at once;
the "receipt" of a message is its id in AMS's answer, so an element leaves
the outgoing queue only once AMS has the message. Receiving: pull up to
``pull_batch`` messages, file them all, make them durable with one sync, then
acknowledge the last one (AMS acknowledges by offset); what is not
acknowledged within the subscription's ack deadline comes again, and filing
it again is harmless (the loader replaces by key).

Errors: 401 and 403 end the run with a clear message (an X.509-made token is
fetched again once first, in case it expired), never a retry storm; 404 names
the project, topic or subscription that is missing; 409, 429, 5xx, timeouts and
broken connections are retried with exponential backoff and jitter (honouring
``Retry-After``) and lose nothing.

The HTTP client is urllib3 (installed with requests), not ``argo-ams-library``:
the library opens a new TCP and TLS connection for every request (module-level
``requests`` calls), retries with ``time.sleep`` that a stop cannot interrupt,
without jitter and without telling 429 from other errors, and knows no
X.509 exchange on another port than ``host:authn_port``. One urllib3 pool
keeps connections alive across requests and threads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import logging
import random
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import urllib3

from apeltools.config import Config
from apeltools.errors import ApelError, BrokerError, ConfigError, QueueError
from apeltools.messaging.acceptor import Acceptor, make_durable
from apeltools.messaging.connection import ca_bundle
from apeltools.messaging.settings import read_file
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

DEFAULT_PORT = 443
DEFAULT_AUTHN_PORT = 8443
HOUSEKEEPING_INTERVAL = 3600.0
MAX_ACK_DEADLINE = 600.0  # seconds: AMS's longest ack deadline
# Bytes of JSON around a message's base64 data in a publish request (attributes, quotes, braces).
ENVELOPE = 512


class AmsError(ApelError):
    """AMS refused the request for good: credentials (401/403), a missing resource (404), a bad request."""


class AmsAuthError(AmsError):
    """The token (or the certificate it was made from) is not accepted: 401 or 403."""


class AmsTransient(BrokerError):
    """AMS is busy, failing or unreachable (409, 429, 5xx, a timeout, a dropped connection): retry later."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AmsTooLarge(AmsError):
    """AMS refused a publish request as too large (413)."""


class AmsAckTimeout(AmsError):
    """An acknowledgement came after the ack deadline (408): those messages come again."""


@dataclass
class AmsSettings:
    """Where AMS is and how to talk to it; built by :meth:`from_config`.

    Existing keys (the existing messenger's): ``[broker] host`` (the AMS host,
    optionally ``host:port``), ``[messaging] ams_project``, ``token``; the
    topic or subscription is ``[messaging] destination``. Ours: ``[messaging]
    token_file``, ``ams_port`` (443), ``ams_authn_port`` (8443, where the X.509
    certificate is exchanged for a token), ``ams_batch`` (messages per publish
    request, 100), ``ams_max_request_bytes`` (4 MiB), ``ams_requests`` (publish
    requests in flight, 4), ``ams_pull`` (messages per pull, 100),
    ``ams_timeout`` (seconds for one HTTP request, 30); ``window`` defaults to
    ``ams_batch`` × ``ams_requests``. Without a token the
    host certificate (``[certificates] certificate``, ``key``) is exchanged for
    one. TLS is verified against ``[certificates] capath``. ``[broker] port``
    is not used: in the existing files it is the STOMP port.
    """

    host: str
    project: str
    destination: str
    capath: str | None = None
    token: str | None = None
    certificate: str | None = None
    key: str | None = None
    port: int = DEFAULT_PORT
    authn_port: int = DEFAULT_AUTHN_PORT
    batch: int = 100
    max_request_bytes: int = 4 << 20
    requests_in_flight: int = 4
    pull_batch: int = 100
    timeout: float = 30.0
    window: int = 400  # messages awaiting their ids at once: requests_in_flight full requests

    @classmethod
    def from_config(cls, config: Config, destination: str) -> AmsSettings:
        get = config.get
        host = get("broker", "host")
        if not host:
            raise ConfigError("[broker] host (the AMS host) is required for the AMS transport")
        host, _, port = host.partition(":")
        project = get("messaging", "ams_project")
        if not project:
            raise ConfigError("[messaging] ams_project is required for the AMS transport")
        token = get("messaging", "token") or None
        token_file = get("messaging", "token_file")
        if not token and token_file:
            token = read_file(token_file, "[messaging] token_file").decode().strip() or None

        def number(key, default, kind=int):
            value = config.get_float("messaging", key, default)
            if value <= 0:
                raise ConfigError(f"[messaging] {key} must be positive")
            return kind(value)

        settings = cls(
            host=host, project=project, destination=destination, capath=get("certificates", "capath"),
            token=token, certificate=get("certificates", "certificate"), key=get("certificates", "key"),
            port=int(port) if port.isdigit() else number("ams_port", DEFAULT_PORT),
            authn_port=number("ams_authn_port", DEFAULT_AUTHN_PORT),
            batch=number("ams_batch", 100), max_request_bytes=number("ams_max_request_bytes", 4 << 20),
            requests_in_flight=number("ams_requests", 4), pull_batch=number("ams_pull", 100),
            timeout=number("ams_timeout", 30.0, float),
        )
        settings.window = number("window", settings.batch * settings.requests_in_flight)
        if not settings.token and not (settings.certificate and settings.key):
            raise ConfigError("the AMS transport needs [messaging] token (or token_file), or [certificates] "
                              "certificate and key to exchange for a token")
        if not settings.capath:
            raise ConfigError("[certificates] capath is needed to verify AMS over TLS")
        return settings

    @property
    def max_message_size(self) -> int:
        """The largest signed message that fits a publish request alone (base64 grows it by a third)."""
        return (self.max_request_bytes - ENVELOPE) * 3 // 4

    def client(self) -> AmsClient:
        return AmsClient(self)


class AmsClient:
    """AMS's HTTP API: requests with the token, answers decoded, errors sorted into our exceptions.

    Thread-safe: one connection pool serves every thread.
    """

    def __init__(self, settings: AmsSettings):
        self.settings = settings
        self.base = f"https://{settings.host}:{settings.port}"
        self.token = settings.token
        self._token_lock = threading.Lock()
        bundle = ca_bundle(settings.capath)
        context = ssl.create_default_context(cafile=bundle)
        timeout = urllib3.Timeout(connect=min(10.0, settings.timeout), read=settings.timeout)
        self.pool = urllib3.PoolManager(num_pools=2, maxsize=settings.requests_in_flight + 2, ssl_context=context,
                                        retries=False, timeout=timeout)
        self._bundle = bundle

    def _authx509(self) -> str:
        """A token for the host certificate from the authentication service."""
        settings = self.settings
        try:
            context = ssl.create_default_context(cafile=self._bundle)
            context.load_cert_chain(settings.certificate, settings.key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"cannot use the host certificate for AMS: {error}") from None
        url = f"https://{settings.host}:{settings.authn_port}/v1/service-types/ams/hosts/{settings.host}:authx509"
        with urllib3.PoolManager(ssl_context=context, retries=False,
                                 timeout=urllib3.Timeout(connect=10.0, read=settings.timeout)) as pool:
            answer = self._exchange(pool, "GET", url, None, {}, "the token for the host certificate")
        token = answer.get("token")
        if not token:
            raise AmsAuthError(f"the AMS authentication service at {settings.host}:{settings.authn_port} "
                               f"gave no token for the host certificate")
        return token

    def ensure_token(self) -> None:
        """Fetch a token for the host certificate when none is configured (or the last one was refused)."""
        with self._token_lock:
            if not self.token:
                self.token = self._authx509()
                log.info("AMS token obtained for the host certificate")

    def call(self, method: str, path: str, body: dict | None = None, what: str = "") -> dict:
        """One request to ``/v1/projects/{project}/{path}``; raises AmsError or AmsTransient.

        A token made from the certificate that AMS refuses is made again once (it may have expired).
        """
        self.ensure_token()
        url = f"{self.base}/v1/projects/{self.settings.project}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        token = self.token
        try:
            return self._exchange(self.pool, method, url, data, {"x-api-key": token}, what)
        except AmsAuthError:
            if self.settings.token:
                raise
            with self._token_lock:
                if self.token == token:
                    self.token = None
            log.warning("AMS refused the token made from the host certificate; asking for a new one")
            self.ensure_token()
            return self._exchange(self.pool, method, url, data, {"x-api-key": self.token}, what)

    def _exchange(self, pool, method, url, data, headers, what) -> dict:
        headers = {**headers, "Content-Type": "application/json"}
        try:
            response = pool.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.SSLError as error:
            raise AmsError(f"AMS at {self.settings.host} not trusted: {error}") from None
        except urllib3.exceptions.HTTPError as error:
            raise AmsTransient(f"AMS at {self.base} unreachable or silent: {_reason(error)}") from None
        status = response.status
        try:
            answer = json.loads(response.data) if response.data else {}
        except ValueError:
            answer = {}
        if status == 200 and isinstance(answer, dict):
            return answer
        detail = _detail(answer, response)
        if status in (401, 403):
            raise AmsAuthError(f"AMS refused our credentials for {what} ({status}: {detail}); check "
                               f"[messaging] token or the host certificate's AMS user")
        if status == 404:
            raise AmsError(f"AMS has no {what} ({detail})")
        if status == 408:
            raise AmsAckTimeout(f"AMS: too late for {what} ({detail})")
        if status == 413:
            raise AmsTooLarge(f"AMS refused {what} as too large ({detail})")
        if status in (409, 429) or status >= 500:
            raise AmsTransient(f"AMS answered {status} to {what} ({detail})", _retry_after(response))
        raise AmsError(f"AMS refused {what} ({status}: {detail})")


def _reason(error) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)


def _detail(answer, response) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message") or answer["error"])
    return response.data[:200].decode("utf-8", "replace") or response.reason or "no reason given"


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def retrying(action, stop: threading.Event, budget: float, describe: str, initial: float = 0.5,
             maximum: float = 30.0):
    """``action()`` until it does not raise AmsTransient, for at most ``budget`` seconds.

    Waits grow exponentially with full jitter (so that many clients do not
    come back at once), at least what ``Retry-After`` asks. Raises the last
    AmsTransient when the budget is spent, ``Interrupted`` when stopped.
    """
    started, delay = time.monotonic(), initial
    while True:
        try:
            return action()
        except AmsTransient as error:
            wait = max(random.uniform(delay / 2, delay), error.retry_after or 0.0)
            if time.monotonic() + wait - started > budget:
                raise
            log.info("%s: %s; retrying in %.1f s", describe, error, wait)
            if stop.wait(wait):
                raise Interrupted("stopped") from None
            delay = min(delay * 2, maximum)


class AmsChannel:
    """The sender's :class:`~apeltools.messaging.sender.Channel` to an AMS topic; see the module docstring."""

    def __init__(self, settings: AmsSettings, retry_budget: float = 30.0):
        self.settings = settings
        self.retry_budget = retry_budget
        self.client: AmsClient | None = None
        self._ids = itertools.count(1)
        self._batch: list[tuple[str, dict]] = []  # (token, message) not yet in a request
        self._batch_bytes = 0
        self._changed = threading.Condition()
        self._receipts: list[str] = []
        self._errors: list[tuple[str | None, str]] = []
        self._lost: str | None = None
        self._fatal: ApelError | None = None
        self._generation = 0  # requests of an earlier connection report nothing
        self._closed = threading.Event()  # set when the generation ends: its retries stop
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight = threading.BoundedSemaphore(settings.requests_in_flight)

    @property
    def path(self) -> str:
        return f"topics/{self.settings.destination}"

    def open(self) -> None:
        """Get a token when the host certificate is to be exchanged for one (a missing topic or a
        refused token show in the first answer to a publish: a publisher may not read topics)."""
        self._raise_fatal()
        if self.client is None:
            self.client = self.settings.client()
        self.client.ensure_token()
        with self._changed:
            self._lost = None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.requests_in_flight, thread_name_prefix="ams-publish")

    def _what(self) -> str:
        return f"topic {self.settings.destination} in project {self.settings.project}"

    def send(self, message: bytes, empaid: str) -> str:
        self._raise_fatal()
        token = f"{empaid}#{next(self._ids)}"
        data = base64.b64encode(message).decode("ascii")
        size = len(data) + len(empaid) + ENVELOPE
        if self._batch and (len(self._batch) >= self.settings.batch
                            or self._batch_bytes + size > self.settings.max_request_bytes):
            self._flush()
        self._batch.append((token, {"attributes": {"empaid": empaid}, "data": data}))
        self._batch_bytes += size
        return token

    @contextlib.contextmanager
    def burst(self):
        try:
            yield
        finally:
            if self._batch:
                self._flush()

    def _flush(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        # At most requests_in_flight requests at once: a full pipeline holds the sender back here.
        self._in_flight.acquire()
        self._pool.submit(self._publish, batch, self._generation, self._closed)

    def _publish(self, batch, generation, closed) -> None:
        try:
            self._publish_split(batch, generation, closed)
        except ApelError as error:
            with self._changed:
                if generation == self._generation:
                    if isinstance(error, AmsTransient):
                        self._lost = str(error)
                    else:
                        self._fatal = error
                self._changed.notify_all()
        except Interrupted:
            pass
        except Exception as error:  # noqa: BLE001 - a worker thread must report, not vanish
            log.exception("unexpected failure publishing to AMS")
            with self._changed:
                self._lost = f"unexpected failure publishing: {error!r}"
                self._changed.notify_all()
        finally:
            self._in_flight.release()

    def _publish_split(self, batch, generation, closed) -> None:
        """Publish a batch; a batch AMS finds too large is halved, a single message too large is refused."""
        if closed.is_set():
            return
        try:
            answer = retrying(lambda: self.client.call("POST", f"{self.path}:publish",
                                                       {"messages": [m for _, m in batch]}, self._what()),
                              closed, self.retry_budget, f"publishing {len(batch)} messages")
        except AmsTooLarge as error:
            if len(batch) == 1:
                with self._changed:
                    if generation == self._generation:
                        self._errors.append((batch[0][0], str(error)))
                    self._changed.notify_all()
                return
            half = len(batch) // 2
            self._publish_split(batch[:half], generation, closed)
            self._publish_split(batch[half:], generation, closed)
            return
        ids = answer.get("messageIds")
        if not isinstance(ids, list) or len(ids) != len(batch):
            raise AmsTransient(f"AMS answered {len(ids) if isinstance(ids, list) else 'no'} message ids "
                               f"for {len(batch)} messages")
        with self._changed:
            if generation == self._generation:
                self._receipts.extend(token for token, _ in batch)
            self._changed.notify_all()

    def wait(self, timeout, want=1):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (len(self._receipts) >= want or self._errors or self._lost or self._fatal):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            receipts, errors = self._receipts, self._errors
            self._receipts, self._errors = [], []
            lost = self._lost is not None
            if lost and not errors:
                errors = [(None, self._lost)]
        if self._fatal and not receipts:
            self._raise_fatal()
        return receipts, errors, lost

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def close(self, failed: bool = False) -> None:
        with self._changed:
            self._generation += 1
            self._receipts, self._errors, self._lost = [], [], None
        self._closed.set()
        self._closed = threading.Event()
        self._batch, self._batch_bytes = [], 0
        if not failed and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class AmsReceiver:
    """Pulls from an AMS subscription, files through an :class:`Acceptor`, syncs, then acknowledges.

    Three things overlap: while a batch is filed, the next one is pulled, and
    the previous one's acknowledgement is on its way (acknowledgements leave
    one at a time, in order). Acknowledgement goes by offset, so acknowledging
    a message also acknowledges every earlier one, including any that AMS
    delivered in an answer we never read (a dropped connection) or that we
    could not file (disk full). So the receiver keeps the offset it expects
    next and never files, let alone acknowledges, past a gap: it leaves the
    subscription alone until the ack deadline has passed and AMS delivers
    again from the first unacknowledged message. An acknowledgement that fails
    loses nothing: its messages are on disk, and the next one covers them (or
    AMS delivers them again, and filing them twice is harmless).

    Runs until :meth:`request_stop` (or, with ``once``, until the subscription is empty).
    """

    def __init__(self, settings: AmsSettings, acceptor: Acceptor, *, backoff: Backoff | None = None,
                 interval: float = 1.0, identity: tuple[bytes, bytes] | None = None):
        self.settings = settings
        self.acceptor = acceptor
        self.backoff = backoff or Backoff(initial=1.0, maximum=300.0)
        self.stop = self.backoff.stop
        self.interval = interval
        self.identity = identity
        self.client = settings.client()
        self.acknowledged = 0
        self.ack_deadline: float | None = None  # the subscription's, when AMS tells it
        self._next: int | None = None  # offset of the next message we expect from a pull
        self._gap_wait = 0.0  # seconds without pulling so that a gap's deadline passes
        self._delivered_at: float | None = None  # when a pull last brought messages
        self._ack_failed = False  # since the last look: some messages filed may come again

    @property
    def path(self) -> str:
        return f"subscriptions/{self.settings.destination}"

    def _what(self) -> str:
        return f"subscription {self.settings.destination} in project {self.settings.project}"

    def request_stop(self) -> None:
        self.stop.set()

    def run(self, once: bool = False) -> None:
        """Receive until stopped; transient trouble (AMS, the disk) waits with backoff and jitter."""
        failures = 0
        last_housekeeping = time.monotonic()
        self.acceptor.housekeeping(self.identity)
        puller = ThreadPoolExecutor(1, thread_name_prefix="ams-pull")
        acker = ThreadPoolExecutor(1, thread_name_prefix="ams-ack")
        prefetched = None  # the next pull, made while a batch is filed
        last_ack = None
        try:
            self.backoff.call(self._start, AmsTransient, f"asking AMS about {self._what()}")
            while not self.stop.is_set():
                was_prefetched = prefetched is not None
                try:
                    received = prefetched.result() if was_prefetched else self._pull()
                    prefetched = None
                    if received:
                        prefetched = puller.submit(self._pull)
                        self._file(received)
                        last_ack = acker.submit(self._acknowledge, received)
                    failures = 0
                except (AmsTransient, QueueError) as error:
                    prefetched = self._discard(prefetched)
                    if isinstance(error, QueueError):
                        self._next = _offset(received[0])  # these must come again before anything later
                    failures += 1
                    delay = self.backoff.delay(failures)
                    log.error("%s; not acknowledged, trying again in %.1f s", error, delay)
                    if once and isinstance(error, QueueError):
                        raise
                    self.stop.wait(delay)
                    continue
                if not received and not was_prefetched:  # one made meanwhile may be out of date
                    if once and not self._gap_wait:
                        if last_ack is not None:
                            last_ack.result()
                        if not self._ack_failed:
                            break
                        self._ack_failed = False  # pull what comes again
                        continue
                    self.stop.wait(self._gap_wait or self.interval)
                if time.monotonic() - last_housekeeping >= HOUSEKEEPING_INTERVAL:
                    self.acceptor.housekeeping(self.identity)
                    last_housekeeping = time.monotonic()
        except Interrupted:
            pass
        finally:
            self._discard(prefetched)
            puller.shutdown()
            acker.shutdown()  # the acknowledgements of what was filed leave first
            log.info(self.acceptor.tally.summary())

    @staticmethod
    def _discard(prefetched) -> None:
        """Wait for a pull made ahead and drop what it brought: AMS delivers it again."""
        if prefetched is not None:
            try:
                prefetched.result()
            except Exception:  # noqa: BLE001 - whatever it was, its messages come again
                pass

    def _start(self) -> None:
        """The subscription's ack deadline and first unacknowledged offset (404 names it when missing)."""
        try:
            self.ack_deadline = float(self.client.call("GET", self.path, what=self._what())["ackDeadlineSeconds"])
        except AmsAuthError:
            if self.settings.token:
                log.debug("AMS does not show us the subscription; its ack deadline is unknown")
            else:
                raise
        except (KeyError, TypeError, ValueError):
            pass
        try:
            self._next = int(self.client.call("GET", f"{self.path}:offsets", what=self._what())["current"])
        except (AmsAuthError, KeyError, TypeError, ValueError):
            pass  # learnt from the first pull instead

    def _pull(self) -> list:
        """The next batch, or nothing while a gap waits for redelivery."""
        answer = self.client.call("POST", f"{self.path}:pull",
                                  {"maxMessages": str(self.settings.pull_batch), "returnImmediately": "true"},
                                  self._what())
        received = answer.get("receivedMessages") or []
        if not isinstance(received, list):
            raise AmsTransient("AMS answered a pull without a list of messages")
        if not received:
            return []
        first, end = _offset(received[0]), _offset(received[-1])
        now = time.monotonic()
        previous, self._delivered_at = self._delivered_at, now
        if self._next is not None and first is not None and first > self._next:
            # Messages from self._next on were delivered in an answer we lost, or not filed:
            # leave the subscription alone until their deadline has passed (every pull that
            # brings messages starts it again), so that AMS delivers them again. A pull a full
            # deadline after the one before starts at the first unacknowledged message: what
            # lies before it was acknowledged after all (by an acknowledgement whose answer we lost).
            enough = (self.ack_deadline if self.ack_deadline is not None else MAX_ACK_DEADLINE) + 1.0
            if previous is None or now - previous < enough:
                self._gap_wait = enough
                log.warning("AMS delivered from offset %d, expected %d: waiting %.0f s for the messages "
                            "in between to come again", first, self._next, enough)
                return []
        self._gap_wait = 0.0
        self._next = end + 1 if end is not None else None
        return received

    def _file(self, received: list) -> None:
        """File a batch through the acceptor and make it durable; QueueError when the disk fails."""
        paths = []
        for item in received:
            message = item.get("message") or {}
            attributes = message.get("attributes") or {}
            data = message.get("data") or ""
            try:
                body = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                body = data.encode("utf-8", "replace")  # not verifiable: rejected with the reason
            empaid = attributes.get("empaid") if isinstance(attributes, dict) else None
            paths.append(self.acceptor.handle(body, empaid, durable=False).path)
        make_durable(paths)

    def _acknowledge(self, received: list) -> None:
        """Acknowledge a filed batch (on the acknowledging thread); a failure only means it may come again."""
        last = received[-1].get("ackId")
        try:
            retrying(lambda: self.client.call("POST", f"{self.path}:acknowledge", {"ackIds": [last]}, self._what()),
                     self.stop, self.settings.timeout, f"acknowledging {len(received)} messages")
        except (AmsAckTimeout, AmsTransient, Interrupted) as error:
            self._ack_failed = True
            log.warning("%s: %d messages filed may come again (filing them twice is harmless)",
                        error or "stopped", len(received))
            return
        except AmsError as error:
            self._ack_failed = True
            log.error("%s", error)
            return
        self.acknowledged += len(received)


def _offset(received: dict) -> int | None:
    """The offset at the end of an ackId (``projects/p/subscriptions/s:OFFSET``)."""
    tail = str(received.get("ackId", "")).rpartition(":")[2]
    return int(tail) if tail.isdigit() else None
