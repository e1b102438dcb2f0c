"""``apel-send``: sign the messages of the outgoing queue and send them to a broker (or hand them over locally)."""

import logging
import os
import time

import click

from apeltools.bdii import LDAP_TIMEOUT
from apeltools.cli.common import command
from apeltools.errors import ApelError, CryptoError
from apeltools.messaging import crypto, memory, queues
from apeltools.messaging.ams import AmsChannel, AmsSettings
from apeltools.messaging.local import LocalChannel, wire_queue
from apeltools.messaging.sender import Sender, StompChannel, signer_for
from apeltools.messaging.settings import MessagingSettings, read_file
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

ONE_SHOT_MAX_WAIT = 300.0
HOUSEKEEPING_INTERVAL = 3600.0


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


@command(
    "apel-send",
    epilog="""\b
Examples:
  apel-send --config /etc/apel/sender.cfg            # cron: send what is queued, then exit
  apel-send --config /etc/apel/sender.cfg --daemon   # keep sending as messages arrive
  APELTOOLS_BROKER_HOSTS=mq1.example.org:6162,mq2.example.org:6162 \\
  APELTOOLS_BROKER_USE_SSL=true apel-send --config sender.cfg -v
""",
)
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Outgoing queue [default: [messaging] outgoing_path, else [messaging] path (as in the "
                   "existing sender.cfg), else /var/spool/apel/outgoing].")
@click.option("--dead-letters", "dead_letter_dir", metavar="DIR",
              help="Dead-letter queue for messages that can never be sent [default: [messaging] "
                   "dead_letter_path, else 'outgoing-reject' next to the outgoing queue].")
@click.option("--daemon", is_flag=True, help="Keep running and send new messages as they are queued, until SIGTERM.")
@click.option("--interval", type=float, metavar="SECONDS",
              help="Seconds between looks at the queue as a daemon [default: [messaging] interval, else 10].")
@click.option("--max-wait", type=float, metavar="SECONDS",
              help=f"How long to wait for an unreachable broker before giving up [default: "
                   f"{ONE_SHOT_MAX_WAIT:.0f}; as a daemon: for ever].")
def main(ctx, queue_dir, dead_letter_dir, daemon, interval, max_wait):
    """Sign the messages waiting in the outgoing queue and send them.

    Each message is signed with the host certificate (S/MIME, as "openssl smime
    -sign -text" does), encrypted to [certificates] server_cert when that is
    set, and sent persistently to [messaging] destination with its queue name
    as "empa-id". A message leaves the queue only when the broker's receipt
    for it arrives; up to [messaging] window messages await receipts at once.
    Without a receipt within [messaging] receipt_timeout seconds the connection
    is dropped and the messages are sent again, to the next broker of
    [broker] hosts (or of those a [broker] bdii lists for [broker] network).
    A message larger than [messaging] max_message_size, or one the broker
    keeps refusing, goes to the dead-letter queue with the reason.

    With [messaging] transport = local (the default when no broker is
    configured) messages are handed over through the directory [messaging]
    wire_path to an apel-receive on the same host.

    Exits 0 when every queued message was sent, 1 otherwise.
    """
    config = ctx.config
    memory.keep_large_buffers()
    settings = MessagingSettings.from_config(config, "sender", queue_dir, dead_letter_dir)
    ams = AmsSettings.from_config(config, settings.destination) if settings.transport == "ams" else None
    if ams is not None:
        # A signed message must fit a publish request alone; the window fills several requests.
        settings.max_message_size = min(settings.max_message_size, ams.max_message_size)
        settings.window = ams.window
    os.umask(queues.SAFE_UMASK)
    interval = interval if interval is not None else config.get_float("messaging", "interval", 10.0)
    if max_wait is None and not daemon:
        max_wait = ONE_SHOT_MAX_WAIT
    backoff = Backoff(initial=1.0, maximum=60.0, give_up_after=max_wait)
    ctx.stop_on_signals(backoff.stop.set, daemon=daemon)

    cert_pem, key_pem = settings.read_identity()
    identity = (cert_pem, key_pem)
    crypto.check_cert_and_key(*identity)
    server_pem = read_file(settings.server_cert, "[certificates] server_cert") if settings.server_cert else None
    outgoing = queues.outgoing_queue(settings.path)
    dead_letters = queues.reject_queue(settings.reject_path)
    queues.purge(outgoing)
    sender = Sender(outgoing, make_channel(settings, max_wait, ams), signer_for(cert_pem, key_pem, server_pem),
                    dead_letters=dead_letters, window=settings.window,
                    receipt_timeout=settings.receipt_timeout, max_message_size=settings.max_message_size,
                    backoff=backoff, daemon=daemon)
    try:
        if daemon:
            _run_daemon(sender, outgoing, identity, interval)
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
    if daemon:
        return  # stopped by SIGTERM: what was not sent stays queued for the next start
    if tally.unsent or tally.dead_letters:
        raise ApelError(f"not everything was sent: {tally.summary()}"
                        + (f"; see the dead-letter queue {settings.reject_path}" if tally.dead_letters else ""))


def _run_daemon(sender, outgoing, identity, interval):
    checked = time.monotonic()
    while not sender.stop.is_set():
        sender.drain(show_progress=False)
        if time.monotonic() - checked >= HOUSEKEEPING_INTERVAL:
            checked = time.monotonic()
            queues.purge(outgoing)
            try:
                crypto.check_cert_and_key(*identity)
            except CryptoError as error:
                log.error("host certificate problem: %s", error)
        sender.stop.wait(interval)
