"""check_apel_queue: backlog and age of the oldest element of a directory queue.

Reads the queue's directories without opening it as a dirq queue (a probe
only reads, and must not create or lock anything). Works for outgoing
(QueueSimple: one file per element) and incoming/reject queues (one directory
per element): both name elements with 14 hex digits, the first 8 of which
are the creation time in epoch seconds.
"""

from __future__ import annotations

import os
import re

import click
import nagiosplugin

from apeltools.errors import QueueError
from apeltools.probes.runtime import execute, outcome, parse_range, probe

BUCKET = re.compile(r"^[0-9a-f]{8}$")
ELEMENT = re.compile(r"^[0-9a-f]{14}$")


def scan(path: str) -> tuple[int, int | None, int]:
    """(elements, creation time of the oldest in epoch seconds or None, locked elements)."""
    try:
        buckets = [name for name in os.listdir(path) if BUCKET.match(name)]
    except OSError as error:
        raise QueueError(f"cannot read queue {path}: {error.strerror}") from None
    count, oldest, locked = 0, None, 0
    for bucket in buckets:
        try:
            names = os.listdir(os.path.join(path, bucket))
        except FileNotFoundError:  # removed by a consumer meanwhile
            continue
        except OSError as error:
            raise QueueError(f"cannot read queue {path}/{bucket}: {error.strerror}") from None
        for name in names:
            if ELEMENT.match(name):
                count += 1
                created = int(name[:8], 16)
                oldest = created if oldest is None else min(oldest, created)
                if name + ".lck" in names or os.path.isdir(os.path.join(path, bucket, name, "locked")):
                    locked += 1
    return count, oldest, locked


class QueueResource(nagiosplugin.Resource):
    def __init__(self, path, now):
        self.path, self.now = path, now
        self.locked = 0

    @property
    def name(self):
        return "APEL-Queue"

    def probe(self):
        count, oldest, self.locked = scan(self.path)
        age = 0 if oldest is None else max(0, int(self.now.timestamp()) - oldest)
        return [
            nagiosplugin.Metric("elements", count, min=0, context="elements"),
            nagiosplugin.Metric("oldest", age, uom="s", min=0, context="oldest"),
        ]


class QueueSummary(nagiosplugin.Summary):
    def __init__(self, resource):
        self.resource = resource

    def _text(self, results):
        count, age = results["elements"].metric.value, results["oldest"].metric.value
        text = f"[ {count} elements in {self.resource.path}"
        if count:
            text += f", oldest {_duration(age)} old"
        return text + " ]"

    ok = problem = _text


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"


def _range(ctx, param, value):
    if value is not None:
        parse_range(value, "/".join(param.opts))
    return value


@probe("check_apel_queue", epilog="""\b
Examples:
  check_apel_queue --queue /var/spool/apel/outgoing
  check_apel_queue --queue /var/spool/apel/incoming -w 5000 -c 50000 --age-warning 3600 --age-critical 86400
  check_apel_queue --queue /var/spool/apel/reject -w 0 -c 100        # any reject is a WARNING
""")
@click.option("--queue", "queue_dir", required=True, metavar="DIR",
              help="Queue directory (outgoing, incoming or reject).")
@click.option("-w", "--warning", default="1000", show_default=True, metavar="RANGE", callback=_range,
              help="Number of elements that is still OK (Nagios range).")
@click.option("-c", "--critical", default="10000", show_default=True, metavar="RANGE", callback=_range,
              help="Number of elements above which the queue is CRITICAL.")
@click.option("--age-warning", default="21600", show_default=True, metavar="RANGE", callback=_range,
              help="Age in seconds of the oldest element that is still OK.")
@click.option("--age-critical", default="86400", show_default=True, metavar="RANGE", callback=_range,
              help="Age in seconds of the oldest element above which the queue is CRITICAL.")
def main(settings, queue_dir, warning, critical, age_warning, age_critical):
    """Backlog of an apeltools directory queue.

    Counts the elements waiting in an outgoing, incoming or reject queue and
    measures the age of the oldest one, without locking or changing
    anything. A growing outgoing queue means apel-send cannot deliver, a
    growing incoming queue that apel-load is not keeping up, and elements in
    the reject queue that messages or records were refused. Perfdata:
    elements, oldest (seconds). Any usage error, failure or timeout is UNKNOWN.
    """

    def run():
        resource = QueueResource(queue_dir, settings.now)
        check = nagiosplugin.Check(
            resource,
            nagiosplugin.ScalarContext("elements", warning, critical),
            nagiosplugin.ScalarContext("oldest", age_warning, age_critical),
            QueueSummary(resource),
        )
        return outcome(check, lambda c: [str(r) for r in c.results] + [f"locked now: {resource.locked}"])

    return execute(settings, run)
