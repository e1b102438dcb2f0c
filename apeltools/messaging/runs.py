"""What ``apel-send`` and ``apel-receive`` do, as library calls: drain the outgoing queue, file what arrives.

Each takes the configuration and the command line's values, builds its
:class:`~apeltools.messaging.settings.MessagingSettings`, and runs once or as
a daemon. ``on_stop(action)`` is told how to stop the run gracefully (the
programs call ``action`` on SIGTERM or Ctrl-C); it may be told again when the
run moves to a part that stops differently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from apeltools import daemon, events
from apeltools.bdii import LDAP_TIMEOUT
from apeltools.config import Config
from apeltools.authz.dnlist import DNList
from apeltools.errors import ApelError, BrokerError, CryptoError, QueueError, UsageError
from apeltools.messaging import crypto, memory, queues
from apeltools.messaging.acceptor import Acceptor
from apeltools.messaging.ams import AmsChannel, AmsReceiver, AmsSettings
from apeltools.messaging.local import LocalChannel, receive_wire, wire_queue
from apeltools.messaging.sender import Sender, SendTally, StompChannel, signer_for
from apeltools.messaging.settings import MessagingSettings, read_file
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

ONE_SHOT_MAX_WAIT = 300.0  # seconds a one-shot apel-send waits for an unreachable broker
SEND_INTERVAL = 10.0
RECEIVE_INTERVAL = 5.0

StopHook = Callable[[Callable[[], None]], None]


def _ignore(_action: Callable[[], None]) -> None:
    """No graceful stop wanted (a caller that stops the run by other means)."""


def make_channel(settings: MessagingSettings, max_wait: float | None = None, ams: AmsSettings | None = None):
    """The sender's channel: a STOMP destination on the configured brokers, an AMS topic
    (with ``ams``), or the local wire.

    The brokers are found (in a BDII, when configured so) on the first
    connection, which the sender retries within ``max_wait`` seconds; one
    question to a silent BDII does not outlast that either.
    """
    if settings.transport == "local":
        return LocalChannel(wire_queue(settings.wire_path))
    if ams is not None:
        return AmsChannel(ams, retry_budget=settings.receipt_timeout)
    from apeltools.messaging.connection import Link

    timeout = LDAP_TIMEOUT if max_wait is None else min(LDAP_TIMEOUT, max_wait)

    def link():
        return Link(settings.resolve_brokers(timeout), username=settings.username, password=settings.password,
                    capath=settings.capath, certificate=settings.certificate, key=settings.key,
                    heartbeat=settings.heartbeat, vhost=settings.vhost)
    return StompChannel(link, settings.destination)


def send(config: Config, queue: str | None = None, dead_letters: str | None = None, daemon_mode: bool = False,
         interval: float | None = None, max_wait: float | None = None, on_stop: StopHook = _ignore,
         event_queue: bool = False) -> SendTally:
    """Sign and send every message of the outgoing queue (``queue``, else as configured); with
    ``daemon_mode`` keep sending as messages arrive, looking every ``interval`` seconds, until stopped.
    With ``event_queue`` the queue, destination and transport are those of ``[events]``
    (:func:`apeltools.events.messaging_config`).

    Waits at most ``max_wait`` seconds for an unreachable broker (one-shot
    default 300, daemon: for ever). Raises ``ApelError`` when a one-shot run
    did not send everything (what was not sent stays queued).
    """
    memory.keep_large_buffers()
    if event_queue:
        config = events.messaging_config(config, "sender")
    settings = MessagingSettings.from_config(config, "sender", queue, dead_letters)
    ams = AmsSettings.from_config(config, settings.destination) if settings.transport == "ams" else None
    if ams is not None:
        # A signed message must fit a publish request alone; the window fills several requests.
        settings.max_message_size = min(settings.max_message_size, ams.max_message_size)
        settings.window = ams.window
    os.umask(queues.SAFE_UMASK)
    interval = interval if interval is not None else config.get_float("messaging", "interval", SEND_INTERVAL)
    if max_wait is None and not daemon_mode:
        max_wait = ONE_SHOT_MAX_WAIT
    backoff = Backoff(initial=1.0, maximum=60.0, give_up_after=max_wait)
    on_stop(backoff.stop.set)

    cert_pem, key_pem = settings.read_identity()
    crypto.check_cert_and_key(cert_pem, key_pem)
    server_pem = read_file(settings.server_cert, "[certificates] server_cert") if settings.server_cert else None
    outgoing = queues.outgoing_queue(settings.path)
    queues.purge(outgoing)
    sender = Sender(outgoing, make_channel(settings, max_wait, ams), signer_for(cert_pem, key_pem, server_pem),
                    dead_letters=queues.reject_queue(settings.reject_path), window=settings.window,
                    receipt_timeout=settings.receipt_timeout, max_message_size=settings.max_message_size,
                    backoff=backoff, daemon=daemon_mode)

    def housekeeping():
        queues.purge(outgoing)
        try:
            crypto.check_cert_and_key(cert_pem, key_pem)
        except CryptoError as error:
            log.error("host certificate problem: %s", error)

    try:
        if daemon_mode:
            daemon.repeat(lambda: sender.drain(show_progress=False), sender.stop, interval,
                          housekeeping=housekeeping)
        else:
            sender.drain()
    except Interrupted as stop:
        log.info(sender.tally.summary())
        left = f"{outgoing.count()} messages left in {settings.path}"
        if str(stop) == "stopped":
            raise ApelError(f"stopped before everything was sent: {left}") from None
        raise ApelError(f"broker unavailable, {left}: {stop}") from None
    finally:
        sender.close()
    tally = sender.tally
    log.info(tally.summary())
    if daemon_mode:
        return tally  # stopped: what was not sent stays queued for the next start
    if tally.unsent or tally.dead_letters:
        raise ApelError(f"not everything was sent: {tally.summary()}"
                        + (f"; see the dead-letter queue {settings.reject_path}" if tally.dead_letters else ""))
    return tally


def receive(config: Config, dn_file: str | None = None, queue: str | None = None, reject: str | None = None,
            once: bool = False, interval: float = RECEIVE_INTERVAL, max_wait: float | None = None,
            on_stop: StopHook = _ignore) -> None:
    """Receive signed messages, verify and authorise them (signers in ``dn_file``, else as configured),
    and file them in the incoming queue (``queue``) or, refused, the reject queue (``reject``), until
    stopped.

    ``once`` (local and AMS transports) files what waits and returns;
    ``interval`` is the pause between looks at an empty wire directory or AMS
    subscription. With STOMP, ``max_wait`` bounds how long unreachable brokers
    (or their BDII) are waited for before an ``ApelError`` (default: for ever).
    """
    memory.keep_large_buffers()
    settings = MessagingSettings.from_config(config, "receiver", queue, reject)
    settings.dn_file = dn_file or settings.dn_file
    if once and settings.transport == "stomp":
        raise UsageError("--once is only for the local and AMS transports")
    ams = AmsSettings.from_config(config, settings.destination) if settings.transport == "ams" else None
    os.umask(queues.SAFE_UMASK)

    identity = settings.read_identity(required=False)
    if identity[0]:
        try:
            crypto.check_cert_and_key(*identity)
        except CryptoError as error:
            log.error("host certificate problem: %s", error)
    acceptor = Acceptor(queues.incoming_queue(settings.path), queues.reject_queue(settings.reject_path),
                        settings.require_capath(), DNList(settings.dn_file), crl_path=settings.crl_path,
                        cert_pem=identity[0], key_pem=identity[1])
    backoff = Backoff(initial=1.0, maximum=300.0, give_up_after=max_wait if settings.transport == "stomp" else None)
    if settings.transport == "local":
        on_stop(backoff.stop.set)
        wire = wire_queue(settings.wire_path)
        daemon.repeat(lambda: receive_wire(wire, acceptor, backoff.stop), backoff.stop, interval, once=once,
                      transient=QueueError, backoff=backoff)
        log.info(acceptor.tally.summary())
        return
    if ams is not None:
        receiver = AmsReceiver(ams, acceptor, backoff=backoff, interval=interval,
                               identity=identity if identity[0] else None)
        on_stop(receiver.request_stop)
        receiver.run(once)
        return

    from apeltools.messaging.connection import Link
    from apeltools.messaging.receiver import Receiver

    on_stop(backoff.stop.set)
    timeout = LDAP_TIMEOUT if max_wait is None else min(LDAP_TIMEOUT, max_wait)  # one silent BDII's question too
    try:
        brokers = backoff.call(lambda: settings.resolve_brokers(timeout), BrokerError, "asking the BDII for brokers")
        link = Link(brokers, username=settings.username, password=settings.password, capath=settings.capath,
                    certificate=settings.certificate, key=settings.key, heartbeat=settings.heartbeat,
                    vhost=settings.vhost)
        receiver = Receiver(link, settings.destination, acceptor, backoff=backoff,
                            identity=identity if identity[0] else None)
        on_stop(receiver.request_stop)
        receiver.run()
    except Interrupted as stop:
        if str(stop) != "stopped":
            raise ApelError(f"broker unavailable: {stop}") from None
