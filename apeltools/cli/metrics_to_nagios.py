"""``apel-metrics-to-nagios``: turn received metricOutput messages into Nagios passive check results."""

import errno
import logging
import os
import sys

import click

from apeltools.cli.common import command
from apeltools.errors import ApelError
from apeltools.messaging import queues
from apeltools.probes.metrics import MetricError, nagios_commands

log = logging.getLogger(__name__)


class CommandFile:
    """Where the external commands go: Nagios's command file (a FIFO) or stdout (``-``)."""

    def __init__(self, path):
        self.path = path

    def write(self, lines):
        if not lines:
            return
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if self.path == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            # Non-blocking: with no Nagios reading the FIFO this fails at once instead of hanging.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except OSError as error:
            if error.errno == errno.ENXIO:
                raise ApelError(f"nobody reads the command file {self.path} (is Nagios running?)") from None
            raise ApelError(f"cannot open the command file {self.path}: {error.strerror}") from None
        try:
            os.set_blocking(fd, True)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as error:
            raise ApelError(f"cannot write to the command file {self.path}: {error.strerror}") from None
        finally:
            os.close(fd)


def _from_queue(queue_dir, reject_dir, out):
    """Each element of the incoming queue → commands; removed once written, bad ones rejected."""
    incoming = queues.incoming_queue(queue_dir)
    rejects = queues.reject_queue(reject_dir) if reject_dir else None
    done = bad = 0
    for name, element, problem in queues.locked_elements(incoming):
        try:
            if problem:
                raise MetricError(problem)
            lines = nagios_commands(element.get("body", ""))
        except MetricError as error:
            if rejects is None:
                log.warning("metric message %s left in the queue: %s (give --reject DIR)", name, error)
                incoming.unlock(name)
                continue
            queues.add(rejects, {"body": element.get("body", ""), "signer": element.get("signer") or "None",
                                 "empaid": element.get("empaid") or name, "error": f"metric message: {error}"})
            queues.remove(incoming, name)
            bad += 1
            log.warning("metric message %s rejected: %s", name, error)
            continue
        try:
            out.write(lines)
        except ApelError:
            incoming.unlock(name)
            raise
        queues.remove(incoming, name)
        done += len(lines)
    queues.purge(incoming)
    return done, bad


@command(
    "apel-metrics-to-nagios",
    epilog="""\b
Examples:
  apel-metrics-to-nagios --queue /var/spool/apel/metrics --command-file /var/lib/nagios4/rw/nagios.cmd
  apel-metrics-to-nagios --queue /var/spool/apel/metrics --reject /var/spool/apel/metrics-reject
  apel-metrics-to-nagios message.txt            # print the commands for a file
""",
)
@click.argument("files", nargs=-1, metavar="[FILE|-]...")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Incoming queue of received metric messages (as apel-receive writes it).")
@click.option("--reject", "reject_dir", metavar="DIR",
              help="Reject queue for messages that are not metric messages [default: leave them queued].")
@click.option("--command-file", default="-", show_default=True, metavar="FIFO|-",
              help="Nagios external command file to write to; - is stdout.")
def main(ctx, files, queue_dir, reject_dir, command_file):
    """Turn metricOutput messages into Nagios passive check results.

    Reads metric messages (key: value lines ended by EOT, as check_apel_pub
    --all --emit metric writes them) from the incoming queue apel-receive
    fills, or from files, and writes one
    "[<epoch>] PROCESS_SERVICE_CHECK_RESULT;<host>;<service>;<code>;<output>"
    line per message to the Nagios command file. A queued message is removed
    only once its line is written; when Nagios is not reading the command
    file, everything stays queued and the run fails. A FILE that cannot be
    read or holds a bad message is named with its reason on stderr and
    skipped: the other files are still written, and the run exits 1.
    """
    if bool(files) == bool(queue_dir):
        raise click.UsageError("give --queue DIR or FILE arguments")
    out = CommandFile(command_file)
    if queue_dir:
        done, bad = _from_queue(queue_dir, reject_dir, out)
        log.info("%d check results written, %d messages rejected", done, bad)
        return
    rejected = []
    for path in files:
        try:
            lines = nagios_commands(_read(path))
        except MetricError as error:
            # One bad file must not keep the results of the others from Nagios.
            log.error("%s rejected: %s", path, error)
            rejected.append(path)
            continue
        out.write(lines)  # a command file nobody reads stops the run: every later file would fail too
    if rejected:
        raise ApelError(f"{len(rejected)} of {len(files)} files rejected: {', '.join(rejected)}")


def _read(path):
    """The text of a message file, or of stdin for ``-``; MetricError when it cannot be read."""
    try:
        with click.open_file(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise MetricError(f"cannot read it: {error.strerror}") from None
    except UnicodeDecodeError:
        raise MetricError("cannot read it: not UTF-8 text") from None


if __name__ == "__main__":
    main()
