"""What ``apel-events`` does: receive events from their topic, or read a queue of them, and hand each on.

Events arrive as any other message does: signed by the emitting host's
``apel-send --events``, verified and authorised (DN list) by the same receiving
code as records (:func:`apeltools.messaging.runs.receive`, over STOMP, AMS or
the local transport, as :func:`apeltools.events.messaging_config` sets it up),
and filed in an incoming queue of this watcher's own (``spool``). The watcher
takes each element from that queue, keeps the events whose type and site match
the filters, and hands them to a consumer: :class:`NdjsonWriter` prints one
JSON line per event, :class:`CommandRunner` runs a command per event with the
JSON on its stdin. With ``queue`` it reads an incoming queue that an
``apel-receive`` fills instead.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from apeltools import events
from apeltools.config import Config
from apeltools.errors import ApelError
from apeltools.messaging import queues, runs

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 60.0  # seconds one --exec command may take before it is killed
STOP_TIMEOUT = 60.0  # seconds the receiver gets to finish once asked to stop

Consumer = Callable[[dict], None]


class NdjsonWriter:
    """Writes each event as one line of JSON to ``stream`` (flushed: a pipe sees it at once)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def __call__(self, event: dict) -> None:
        self.stream.write(json.dumps(event, sort_keys=True) + "\n")
        self.stream.flush()


class CommandRunner:
    """Runs ``command`` (a shell command line) for each event, the event's JSON on its stdin.

    A command that fails or outlasts :data:`COMMAND_TIMEOUT` is logged; the
    watcher goes on with the next event (a chat hook that is down must not stop it).
    """

    def __init__(self, command: str):
        self.command = command

    def __call__(self, event: dict) -> None:
        try:
            done = subprocess.run(["/bin/sh", "-c", self.command], input=json.dumps(event).encode() + b"\n",
                                  timeout=COMMAND_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            log.warning("command for event %s killed after %.0f s: %s", event.get("type"), COMMAND_TIMEOUT,
                        self.command)
            return
        if done.returncode != 0:
            log.warning("command for event %s exited %d: %s", event.get("type"), done.returncode, self.command)


def matches(event: dict, types: Sequence[str] = (), sites: Sequence[str] = ()) -> bool:
    """Whether ``event`` passes the filters: its type matches one of ``types`` (shell patterns such
    as ``message.*``) and its site is one of ``sites``; an empty filter passes everything."""
    if types and not any(fnmatch.fnmatchcase(str(event.get("type")), pattern) for pattern in types):
        return False
    return not sites or event.get("site") in sites


def drain(incoming: Any, consume: Consumer, types: Sequence[str] = (), sites: Sequence[str] = ()) -> int:
    """Hand every matching event now in the incoming queue to ``consume`` and remove its element;
    returns how many were handed on. An element that is no event is logged and removed."""
    handed = 0
    for name, element, problem in queues.locked_elements(incoming):
        try:
            event = None if problem else json.loads(element["body"])
        except ValueError as error:
            problem = f"not JSON: {error}"
        if problem or not isinstance(event, dict):
            log.warning("skipping %s/%s from %s: not an event (%s)", incoming.path, name,
                        element.get("signer") if element else None, problem or "not a JSON object")
        elif matches(event, types, sites):
            try:
                consume(event)
            except BaseException:
                incoming.unlock(name)
                raise
            handed += 1
        queues.remove(incoming, name)
    return handed


def watch(config: Config, consume: Consumer, types: Sequence[str] = (), sites: Sequence[str] = (),
          queue: str | None = None, spool: str | None = None, dn_file: str | None = None, once: bool = False,
          interval: float = 1.0, max_wait: float | None = None,
          on_stop: runs.StopHook | None = None) -> None:
    """Hand the events that arrive to ``consume`` until stopped (``on_stop`` is told how), or with
    ``once`` those waiting now (local and AMS transports, or ``queue``).

    Without ``queue``, events are received as ``[events]`` configures them
    (authorised signers in ``dn_file``, else as configured) into ``spool``
    (default: a temporary directory, removed at the end).
    """
    if queue:
        incoming = queues.incoming_queue(queue)
        stop = threading.Event()
        if on_stop:
            on_stop(stop.set)
        while True:
            drain(incoming, consume, types, sites)
            if once or stop.wait(interval):
                return
    own_spool = spool is None
    spool = spool or tempfile.mkdtemp(prefix="apel-events-")
    try:
        incoming_path = os.path.join(spool, "incoming")
        receiving = events.messaging_config(config, "receiver", incoming=incoming_path)
        incoming = queues.incoming_queue(incoming_path)
        if once:
            runs.receive(receiving, dn_file, once=True, interval=interval)
            drain(incoming, consume, types, sites)
            return
        _receive_while_draining(receiving, dn_file, incoming, consume, types, sites, interval, max_wait, on_stop)
    finally:
        if own_spool:
            shutil.rmtree(spool, ignore_errors=True)


def _receive_while_draining(receiving: Config, dn_file: str | None, incoming: Any, consume: Consumer,
                            types: Sequence[str], sites: Sequence[str], interval: float, max_wait: float | None,
                            on_stop: runs.StopHook | None) -> None:
    """The receiver in a thread of its own files events; this one hands them on, until a stop."""
    stop = threading.Event()
    if on_stop:
        on_stop(stop.set)
    stop_receiver: list[Callable[[], None]] = []
    failure: list[BaseException] = []

    def receive() -> None:
        try:
            runs.receive(receiving, dn_file, interval=interval, max_wait=max_wait, on_stop=stop_receiver.append)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            failure.append(error)
        finally:
            stop.set()

    receiver = threading.Thread(target=receive, name="apel-events-receiver", daemon=True)
    receiver.start()
    try:
        while not stop.wait(interval):
            drain(incoming, consume, types, sites)
    finally:
        for _ in range(int(STOP_TIMEOUT * 10)):
            if stop_receiver:
                stop_receiver[-1]()  # the receiver may have moved on to a part that stops differently
            receiver.join(0.1)
            if not receiver.is_alive():
                break
    drain(incoming, consume, types, sites)
    if failure:
        error = failure[0]
        raise error if isinstance(error, ApelError) else ApelError(f"receiving events failed: {error!r}")
