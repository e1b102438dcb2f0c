"""The ``local`` transport: sender and receiver on one host hand messages over through a directory.

The "wire" is a ``dirq`` Queue with schema ``{"message": "binary", "empaid":
"string?"}`` holding the signed (and possibly encrypted) messages exactly as
they would travel over STOMP. :class:`LocalChannel` is the sender's side
(a write made durable stands for the broker's receipt); :func:`receive_wire` is
the receiver's side (each element goes through the same :class:`Acceptor` as
a STOMP message and is removed only once filed durably). No broker is needed,
while signing, verification, authorisation and the queues stay the same.

:func:`deliver_local` runs both sides once, for ``apeltools demo`` and tests.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os

from apeltools.authz.dnlist import DNList
from apeltools.errors import BrokerError, QueueError
from apeltools.messaging import queues
from apeltools.messaging.acceptor import Acceptor, ReceiveTally, add_durably

log = logging.getLogger(__name__)

WIRE_SCHEMA = {"message": "binary", "empaid": "string?"}


def wire_queue(path):
    """The hand-over directory queue, created (with a safe umask) when missing."""
    from dirq.queue import Queue

    try:
        return Queue(os.fspath(path), umask=queues.SAFE_UMASK, schema=WIRE_SCHEMA)
    except OSError as error:
        raise QueueError(f"cannot open queue {path}: {error.strerror}") from None


class LocalChannel:
    """The sender's :class:`~apeltools.messaging.sender.Channel` into a wire directory."""

    def __init__(self, wire):
        self.wire = wire
        self._ids = itertools.count(1)
        self._done: list[str] = []

    def open(self) -> None:
        pass

    def send(self, message: bytes, empaid: str) -> str:
        token = f"{empaid}#{next(self._ids)}"
        try:
            add_durably(self.wire, {"message": message, "empaid": empaid})
        except QueueError as error:
            # Like a broker gone away: transient, the message stays in the outgoing queue.
            raise BrokerError(f"cannot hand over {empaid}: {error}") from None
        self._done.append(token)
        return token

    def wait(self, timeout, want=1):
        done, self._done = self._done, []
        return done, [], False

    def burst(self):
        return contextlib.nullcontext()

    def close(self, failed: bool = False) -> None:
        pass


def receive_wire(wire, acceptor: Acceptor, stop=None) -> ReceiveTally:
    """File every message now in the wire directory through ``acceptor``; return its tally.

    An element is removed only after it was filed durably. On a write failure
    (disk full) the element is unlocked, left for the next run, and the
    QueueError is raised.
    """
    for name in wire:
        if stop is not None and stop.is_set():
            break
        if not queues.lock(wire, name):
            continue
        try:
            element = wire.get(name)
        except OSError as error:
            log.warning("cannot read %s/%s: %s", wire.path, name, error)
            queues.unlock(wire, name)
            continue
        try:
            acceptor.handle(element["message"], element.get("empaid"))
        except BaseException:
            queues.unlock(wire, name)
            raise
        queues.remove(wire, name)
    return acceptor.tally


def deliver_local(outgoing_dir, wire_dir, incoming_dir, reject_dir, cert, key, capath, dn_file,
                  server_cert=None, dead_letter_dir=None):
    """Send everything in ``outgoing_dir`` and receive it into ``incoming_dir``/``reject_dir``.

    ``cert``, ``key`` (paths) sign on the way out; ``capath`` (hashed CA
    directory) and ``dn_file`` (authorised DNs) check on the way in; with
    ``server_cert`` messages are also encrypted to it (and decrypted with
    ``cert``/``key``, so it must be that certificate). Returns the sender's
    :class:`SendTally` and the receiver's :class:`ReceiveTally`.
    """
    from apeltools.messaging.sender import Sender, signer_for

    with open(cert, "rb") as handle:
        cert_pem = handle.read()
    with open(key, "rb") as handle:
        key_pem = handle.read()
    server_pem = None
    if server_cert:
        with open(server_cert, "rb") as handle:
            server_pem = handle.read()
    wire = wire_queue(wire_dir)
    dead_letters = queues.reject_queue(dead_letter_dir) if dead_letter_dir else None
    sender = Sender(queues.outgoing_queue(outgoing_dir), LocalChannel(wire),
                    signer_for(cert_pem, key_pem, server_pem), dead_letters=dead_letters)
    sent = sender.drain(show_progress=False)
    acceptor = Acceptor(queues.incoming_queue(incoming_dir), queues.reject_queue(reject_dir), capath,
                        DNList(dn_file), cert_pem=cert_pem, key_pem=key_pem)
    received = receive_wire(wire, acceptor)
    return sent, received
