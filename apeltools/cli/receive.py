"""``apel-receive``: receive signed messages, verify and authorise them, and queue them for apel-load."""

import logging
import os

import click

from apeltools.authz.dnlist import DNList
from apeltools.bdii import LDAP_TIMEOUT
from apeltools.cli.common import command
from apeltools.errors import ApelError, BrokerError, CryptoError, QueueError
from apeltools.messaging import crypto, memory, queues
from apeltools.messaging.acceptor import Acceptor
from apeltools.messaging.ams import AmsReceiver, AmsSettings
from apeltools.messaging.local import receive_wire, wire_queue
from apeltools.messaging.settings import MessagingSettings
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)


@command(
    "apel-receive",
    epilog="""\b
Examples:
  apel-receive --config /etc/apel/receiver.cfg --dn-file /etc/apel/dns
  APELTOOLS_BROKER_HOSTS=mq1.example.org:6162,mq2.example.org:6162 \\
  APELTOOLS_BROKER_USE_SSL=true apel-receive --config receiver.cfg --dn-file dns -v
  apel-receive --config local.cfg --dn-file dns --once    # local transport: file what waits
""",
)
@click.option("--dn-file", metavar="FILE",
              help="Authorised signer DNs, one a line [default: [messaging] dn_file, else /etc/apel/dns].")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Incoming queue [default: [messaging] incoming_path, else 'incoming' in [messaging] path "
                   "(as in the existing receiver.cfg), else /var/spool/apel/incoming].")
@click.option("--reject", "reject_dir", metavar="DIR",
              help="Reject queue [default: [messaging] reject_path, else 'reject' next to the incoming queue].")
@click.option("--once", is_flag=True,
              help="Local and AMS transports: file the messages waiting in the wire directory or the "
                   "AMS subscription, then exit.")
@click.option("--interval", type=float, metavar="SECONDS", default=5.0, show_default=True,
              help="Local and AMS transports: seconds between looks at the wire directory or pulls "
                   "from an empty AMS subscription.")
@click.option("--max-wait", type=float, metavar="SECONDS",
              help="STOMP transport: how long to go on asking a BDII or brokers that do not answer (at "
                   "start and after a lost connection) before giving up with an error [default: for ever].")
def main(ctx, dn_file, queue_dir, reject_dir, once, interval, max_wait):
    """Receive signed accounting messages and queue them for apel-load.

    Subscribes to [messaging] destination on the first broker of [broker]
    hosts that answers (or of those a [broker] bdii lists for [broker]
    network), acknowledging each message individually. Each message is
    decrypted when it is encrypted (with [certificates] certificate and key),
    its signature and the signer's certificate chain are verified against
    [certificates] capath (and its CRLs with check_crls = true), and the
    signer's DN must be in the DN list. Accepted messages go to the incoming
    queue with their signer and empa-id; the others go to the reject queue
    with the reason and the original message, as received. A message is
    acknowledged only once it is on disk; when the disk is full the broker
    keeps it and the receiver retries with backoff. Messages of 256 KiB and
    more are verified and filed by a helper process (forked on the first
    one, replaced if it dies) while the receiver files the others.

    The DN list file is re-read when it changes; an empty or unreadable new
    list keeps the previous one. Runs until SIGTERM; no pidfile ([daemon]
    pidfile is ignored). With [messaging] transport = local, reads the wire
    directory that apel-send writes on the same host.

    With [receiver] protocol = AMS (or [messaging] transport = ams) it pulls
    from the subscription [messaging] destination of project [messaging]
    ams_project at [broker] host (the ARGO Messaging Service), with
    [messaging] token or a token for the host certificate, and acknowledges
    each batch once it is on disk.
    """
    config = ctx.config
    memory.keep_large_buffers()
    settings = MessagingSettings.from_config(config, "receiver", queue_dir, reject_dir)
    settings.dn_file = dn_file or settings.dn_file
    if once and settings.transport == "stomp":
        raise click.UsageError("--once is only for the local and AMS transports")
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
        ctx.stop_on_signals(backoff.stop.set, daemon=not once)
        _receive_local(acceptor, settings, backoff, once, interval)
        return
    if ams is not None:
        receiver = AmsReceiver(ams, acceptor, backoff=backoff, interval=interval,
                               identity=identity if identity[0] else None)
        ctx.stop_on_signals(receiver.request_stop, daemon=not once)
        receiver.run(once)
        return

    from apeltools.messaging.connection import Link
    from apeltools.messaging.receiver import Receiver

    ctx.stop_on_signals(backoff.stop.set, daemon=True)
    timeout = LDAP_TIMEOUT if max_wait is None else min(LDAP_TIMEOUT, max_wait)  # one silent BDII's question too
    try:
        brokers = backoff.call(lambda: settings.resolve_brokers(timeout), BrokerError, "asking the BDII for brokers")
        link = Link(brokers, username=settings.username, password=settings.password, capath=settings.capath,
                    certificate=settings.certificate, key=settings.key, heartbeat=settings.heartbeat,
                    vhost=settings.vhost)
        receiver = Receiver(link, settings.destination, acceptor, backoff=backoff,
                            identity=identity if identity[0] else None)
        ctx.stop_on_signals(receiver.request_stop, daemon=True)
        receiver.run()
    except Interrupted as stop:
        if str(stop) != "stopped":
            raise ApelError(f"broker unavailable: {stop}") from None


def _receive_local(acceptor, settings, backoff, once, interval):
    stop = backoff.stop
    wire = wire_queue(settings.wire_path)
    failures = 0
    while not stop.is_set():
        try:
            receive_wire(wire, acceptor, stop)
            failures = 0
        except QueueError as error:
            failures += 1
            delay = min(backoff.initial * 2 ** (failures - 1), backoff.maximum)
            log.error("%s; retrying in %.0f s", error, delay)
            if once:
                raise
            stop.wait(delay)
            continue
        if once:
            break
        stop.wait(interval)
    log.info(acceptor.tally.summary())

