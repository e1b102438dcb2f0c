"""``apel-receive``: receive signed messages, verify and authorise them, and queue them for apel-load."""

import click

from apeltools.cli.common import command
from apeltools.messaging import runs


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
@click.option("--interval", type=float, metavar="SECONDS", default=runs.RECEIVE_INTERVAL, show_default=True,
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
    runs.receive(ctx.config, dn_file, queue_dir, reject_dir, once, interval, max_wait,
                 lambda action: ctx.stop_on_signals(action, daemon=not once))
