#!/usr/bin/env python3
"""What events cost the loader: apel-load of the same messages with events off, queued, and undeliverable.

Each run loads ``--messages`` messages of 100 job records of a site each (one
records.loaded event per message) into a new SQLite database through the
loader library, in this process:

* off: no ``[events] queue`` (the baseline);
* queued: the events go into a writable queue (what a repository with events runs);
* unwritable: the queue lies below a file, so that every write fails (an events
  destination that is down in the worst way: the broker being down does not
  reach the loader at all, it only leaves the queue to grow).

Figures are CPU seconds of this process (the best of ``--repeat`` runs), so
that other load on the machine weighs less; the ratios to "off" are what to
compare. ``emit`` alone is timed too, per event.

    python benchmarks/events.py
    python benchmarks/events.py --messages 500 --repeat 5
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools import db as databases  # noqa: E402
from apeltools import events  # noqa: E402
from apeltools.db.schema import migrate  # noqa: E402
from apeltools.demo import sample  # noqa: E402
from apeltools.loader import Loader, load_queue  # noqa: E402
from apeltools.messaging import queues  # noqa: E402
from apeltools.records import text  # noqa: E402

PER_MESSAGE = 100


def fill(path: str, messages: int) -> None:
    rng = sample.rng_for(2026)
    incoming = queues.incoming_queue(path)
    site = sample.SITES[0]
    for number in range(messages):
        jobs = sample.jobs(site, 2026, 9, PER_MESSAGE, rng, first_id=number * PER_MESSAGE + 1)
        incoming.add({"body": text.write_message(text.JOB_V04, jobs), "signer": "/CN=bench", "empaid": str(number)})


def load(directory: str, messages: int, queue: str | None) -> float:
    """CPU seconds of loading ``messages`` messages with events into ``queue`` (None: off)."""
    incoming = os.path.join(directory, f"incoming-{random.getrandbits(32)}")
    fill(incoming, messages)
    url = f"sqlite:///{directory}/{random.getrandbits(32)}.db"
    with databases.connect(url) as db, events.emitting_to(queue, "benchmark"):
        migrate(db)
        started = time.process_time()
        tally = load_queue(Loader(db, rejects=queues.reject_queue(os.path.join(directory, "reject"))),
                           queues.incoming_queue(incoming))
        seconds = time.process_time() - started
    assert tally.messages == messages, tally.summary()
    return seconds


def emit_cost(queue: str | None, count: int = 2000) -> float:
    with events.emitting_to(queue, "benchmark"):
        started = time.process_time()
        for number in range(count):
            events.emit("records.loaded", "SITE", record_type="job", records=100, empaid=str(number), signer="/CN=x")
        return (time.process_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.getLogger("apeltools").setLevel(logging.ERROR)  # the unwritable queue's one warning per 30 s
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "file").write_text("")
        cases = {"off": None, "queued": os.path.join(directory, "events"),
                 "unwritable": os.path.join(directory, "file", "events")}
        load(directory, args.messages, None)  # warming up: imports, caches, the file system
        best = {case: min(load(directory, args.messages, queue) for _ in range(args.repeat))
                for case, queue in cases.items()}
        records = args.messages * PER_MESSAGE
        for case, seconds in best.items():
            print(f"load {args.messages} messages ({records:,} records), events {case:<10} "
                  f"{seconds:6.2f} CPU s  {records / seconds:9,.0f} records/s  x{seconds / best['off']:.2f} of off")
        for case, queue in cases.items():
            print(f"emit one event, events {case:<10} {emit_cost(queue) * 1e6:8.1f} CPU µs")


if __name__ == "__main__":
    main()
