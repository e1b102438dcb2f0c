"""``apel-send``: sign the messages of the outgoing queue and send them to a broker (or hand them over locally)."""

import click

from apeltools.cli.common import command
from apeltools.messaging import runs


@command(
    "apel-send",
    epilog="""\b
Examples:
  apel-send --config /etc/apel/sender.cfg            # cron: send what is queued, then exit
  apel-send --config /etc/apel/sender.cfg --daemon   # keep sending as messages arrive
  apel-send --config /etc/apeltools/apeltools.cfg --events --daemon   # carry [events] to their topic
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
                   f"{runs.ONE_SHOT_MAX_WAIT:.0f}; as a daemon: for ever].")
@click.option("--events", "event_queue", is_flag=True,
              help="Send the events queue ([events] queue) to [events] destination over [events] transport "
                   "instead of the records (see apel-events).")
def main(ctx, queue_dir, dead_letter_dir, daemon, interval, max_wait, event_queue):
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
    runs.send(ctx.config, queue_dir, dead_letter_dir, daemon, interval, max_wait,
              lambda action: ctx.stop_on_signals(action, daemon=daemon), event_queue=event_queue)
