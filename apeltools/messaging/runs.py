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

from apeltools import daemon
from apeltools.bdii import LDAP_TIMEOUT
from apeltools.config import Config
from apeltools.errors import ApelError, CryptoError
from apeltools.messaging import crypto, memory, queues
from apeltools.messaging.ams import AmsChannel, AmsSettings
from apeltools.messaging.local import LocalChannel, wire_queue
from apeltools.messaging.sender import Sender, SendTally, StompChannel, signer_for
from apeltools.messaging.settings import MessagingSettings, read_file
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

ONE_SHOT_MAX_WAIT = 300.0  # seconds a one-shot apel-send waits for an unreachable broker
SEND_INTERVAL = 10.0

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
         interval: float | None = None, max_wait: float | None = None, on_stop: StopHook = _ignore) -> SendTally:
    """Sign and send every message of the outgoing queue (``queue``, else as configured); with
    ``daemon_mode`` keep sending as messages arrive, looking every ``interval`` seconds, until stopped.

    Waits at most ``max_wait`` seconds for an unreachable broker (one-shot
    default 300, daemon: for ever). Raises ``ApelError`` when a one-shot run
    did not send everything (what was not sent stays queued).
    """
    memory.keep_large_buffers()
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
