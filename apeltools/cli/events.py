"""``apel-events``: watch a repository's (or a site's) events live, as JSON lines or through a command per event."""

import sys

import click

from apeltools.cli.common import command
from apeltools.cli.selection import site_option
from apeltools.event_watch import CommandRunner, NdjsonWriter, watch
from apeltools.events import EVENT_TYPES


@command(
    "apel-events",
    epilog="""\b
Examples:
  apel-events --config /etc/apeltools/apeltools.cfg              # every event, one JSON line each
  apel-events --type 'message.rejected' --type 'sync.*' --site UKI-LT2-QMUL
  apel-events --type message.rejected --exec 'mail -s "APEL reject" ops@example.org'
  apel-events --queue /var/spool/apel/events-in --once | jq -r .type   # what an apel-receive filed

\b
Event types:
""" + "\n".join(f"  {name}" for name in EVENT_TYPES),
)
@click.option("--type", "types", multiple=True, metavar="PATTERN",
              help="Only events of this type (a shell pattern such as 'message.*'); repeat for several.")
@site_option("Only events of these sites.", name="sites")
@click.option("--exec", "command_line", metavar="CMD",
              help="Run the shell command CMD for each event, with its JSON on stdin, instead of printing it.")
@click.option("--dn-file", metavar="FILE",
              help="Hosts whose events are believed, one DN a line [default: [messaging] dn_file, else "
                   "/etc/apel/dns].")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Read the events an apel-receive files in this incoming queue, instead of subscribing.")
@click.option("--spool", metavar="DIR",
              help="Where received events wait to be shown [default: a temporary directory, removed at the end].")
@click.option("--once", is_flag=True,
              help="Show the events waiting now (local and AMS transports, or --queue), then exit.")
@click.option("--interval", type=float, default=1.0, show_default=True, metavar="SECONDS",
              help="Seconds between looks for new events.")
@click.option("--max-wait", type=float, metavar="SECONDS",
              help="STOMP transport: how long to wait for brokers that do not answer [default: for ever].")
def main(ctx, types, sites, command_line, dn_file, queue_dir, spool, once, interval, max_wait):
    """Show the events of apeltools programs as they happen.

    The loader, receiver, summariser, publisher and probes write small JSON
    events into the queue [events] queue when it is set; "apel-send --events"
    sends them, signed, to [events] destination (default /topic/apel.events)
    over [events] transport (stomp, ams or local; default as [messaging]).
    apel-events subscribes there ([events] subscription on AMS), verifies each
    event's signature and its host's DN as apel-receive does, and prints one
    JSON object a line on stdout: type, time (UTC), host, program, site and
    fields. With --exec it runs a command per event instead (a chat or mail
    hook); a failing command is logged and the next event goes on.

    On a STOMP topic, events sent while no apel-events listens are not kept
    (use a /queue/ destination to keep them). Runs until Ctrl-C or SIGTERM.
    """
    consume = CommandRunner(command_line) if command_line else NdjsonWriter(sys.stdout)
    watch(ctx.config, consume, types, sites, queue=queue_dir, spool=spool, dn_file=dn_file, once=once,
          interval=interval, max_wait=max_wait,
          on_stop=lambda action: ctx.stop_on_signals(action, daemon=not once))
