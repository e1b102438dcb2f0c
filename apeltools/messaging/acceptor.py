"""Where a received message is decrypted, verified, authorised and stored durably.

The one piece of receiving logic shared by the STOMP receiver and the local
transport. :meth:`Acceptor.handle` stores each message either in the incoming
queue (body, signer, empaid) or in the reject queue with the reason, and
returns only once the element's files and directories are on disk (fsync), so
that the caller may acknowledge it. A write failure (disk full, read-only)
raises :class:`QueueError` and the caller must *not* acknowledge: the message
stays with the broker (or in the wire directory) for a later attempt.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field

from apeltools.errors import CryptoError, QueueError
from apeltools.messaging import crypto, queues

log = logging.getLogger(__name__)

# Control characters other than tab, LF and CR have no place in a text message.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Outcome:
    """What happened to one message: stored in ``queue`` ("incoming"/"reject") as ``name``."""

    accepted: bool
    name: str
    signer: str | None = None
    reason: str | None = None


def sync_element(queue, name: str) -> None:
    """fsync an element's files, its directory, and the directories above it."""
    element = os.path.join(queue.path, name)
    paths = [os.path.join(element, field) for field in os.listdir(element)] if os.path.isdir(element) \
        else []
    paths += [element, os.path.dirname(element), queue.path]
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def add_durably(queue, element: dict) -> str:
    """Add an element and fsync it; QueueError when it cannot be made durable."""
    name = queues.add(queue, element)
    try:
        sync_element(queue, name)
    except OSError as error:
        raise QueueError(f"cannot sync {queue.path}/{name} to disk: {error.strerror}") from None
    return name


def _as_text(data: bytes) -> tuple[str, str | None]:
    """The text of a payload, or its escaped form and why it is not acceptable text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data.decode("utf-8", "backslashreplace"), f"message is not UTF-8 text ({error})"
    bad = FORBIDDEN.search(text)
    if bad:
        return text, f"message contains the control character {bad.group()!r}"
    return text, None


@dataclass
class ReceiveTally:
    """Counts of a receiver's run, for the summary line."""

    accepted: int = 0
    rejected: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        total = self.accepted + self.rejected
        return (f"received {total} messages in {elapsed:.1f} s ({total / elapsed:.0f} messages/s): "
                f"{self.accepted} accepted, {self.rejected} rejected")


class Acceptor:
    """Verifies messages against ``capath`` and ``dns`` and files them in ``incoming`` or ``rejects``."""

    def __init__(self, incoming, rejects, capath: str, dns, crl_path: str | None = None,
                 cert_pem: bytes | None = None, key_pem: bytes | None = None):
        self.incoming = incoming
        self.rejects = rejects
        self.capath = capath
        self.crl_path = crl_path
        self.dns = dns
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.tally = ReceiveTally()
        self._count = threading.Lock()

    def handle(self, raw: bytes, empaid: str | None = None) -> Outcome:
        """File one message as received from the transport; raises QueueError on a write failure."""
        label = empaid or "(no empa-id)"
        signed = raw
        try:
            if crypto.is_enveloped(raw):
                if not (self.cert_pem and self.key_pem):
                    return self._reject(raw, None, empaid, "message is encrypted but no certificate "
                                        "and key are configured to decrypt it")
                signed = crypto.decrypt(raw, self.cert_pem, self.key_pem)
            payload, signer = crypto.verify(signed, self.capath, self.crl_path)
        except CryptoError as error:
            return self._reject(raw, None, empaid, f"signature not verified: {error}")
        except Exception as error:  # noqa: BLE001 - a malformed message must never stop the receiver
            log.exception("unexpected failure verifying message %s", label)
            return self._reject(raw, None, empaid, f"message could not be verified: {error!r}")
        if signer not in self.dns:
            return self._reject(signed, signer, empaid, f"signer {signer} is not in the DN list")
        text, problem = _as_text(payload)
        if problem:
            return self._reject(signed, signer, empaid, problem)
        element = {"body": text, "signer": signer}
        if empaid:
            element["empaid"] = empaid
        name = add_durably(self.incoming, element)
        with self._count:
            self.tally.accepted += 1
        log.debug("accepted message %s from %s as %s", label, signer, name)
        return Outcome(True, name, signer)

    def _reject(self, original: bytes, signer, empaid, reason) -> Outcome:
        body, _ = _as_text(original)
        element = {"body": body, "error": reason}
        if signer:
            element["signer"] = signer
        if empaid:
            element["empaid"] = empaid
        name = add_durably(self.rejects, element)
        with self._count:
            self.tally.rejected += 1
        log.warning("rejected message %s%s: %s", empaid or "(no empa-id)",
                    f" from {signer}" if signer else "", reason)
        return Outcome(False, name, signer, reason)
