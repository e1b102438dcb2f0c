"""A process that files large messages beside the receiver's processing thread (the receiver's helper).

Verifying a message of megabytes (its digest, its line ends, the check for
control characters) costs milliseconds of CPU-bound Python, and the
receiver's processing thread shares one interpreter lock with stomp.py's
reading thread, so on its own the receiver keeps about one core busy. The
helper is a forked copy of the receiver's filing half (its
:class:`~apeltools.messaging.acceptor.Acceptor`: trust settings, DN list,
queues, logging) that files the messages handed to it without syncing and
answers with each outcome; the receiver meanwhile reads, files other messages
itself, and makes the whole batch durable before it acknowledges anything.
A message travels in a memfd passed over a Unix socket (one copy in, one copy
out, and no pipe that blocks while the helper is busy); each answer is one
datagram. Messages below :data:`LARGE_MESSAGE` cost less to file than to hand
over and never leave the receiver; at most :data:`DEPTH` wait for the helper,
so the receiver files the rest of a batch of large ones itself.

When the helper dies or stops answering, the receiver files the messages it
held itself and starts a new helper after :data:`RESTART_PAUSE` seconds.
Linux only (memfd); elsewhere, and when started with ``enabled=False``, every
message is filed in the receiver.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import socket
import time
from collections import deque
from typing import Callable

from apeltools.errors import QueueError
from apeltools.messaging.acceptor import Acceptor

log = logging.getLogger(__name__)

LARGE_MESSAGE = 256 << 10  # bytes: smaller ones are filed by the receiver itself
DEPTH = 3  # messages handed over and not yet answered
ANSWER_TIMEOUT = 120.0  # seconds the receiver waits for an answer before giving the helper up
RESTART_PAUSE = 10.0  # seconds between a helper's failure and the start of the next one
_ANSWER_SIZE = 1 << 18


class LargeMessageFiler:
    """The receiver's side: hand over, collect answers, replace a helper that failed.

    ``file_here(raw, empaid)`` files a message in the receiver; it is used for
    the messages a failed helper held; ``foreign_fds()`` lists descriptors the
    helper must not keep open (the broker connection: a copy held by the helper
    would keep it alive after the receiver closed it). :meth:`collect` fills ``done``
    (a message's number → its Outcome, the QueueError that kept it off the
    disk, or None after an unexpected failure that was logged).
    """

    def __init__(self, acceptor: Acceptor, file_here: Callable, enabled: bool = True,
                 foreign_fds: Callable[[], list] = list):
        self.acceptor = acceptor
        self.file_here = file_here
        self.foreign_fds = foreign_fds
        self.enabled = enabled and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._pending: deque = deque()  # (number, raw, empaid) in the order handed over
        self._broken: str | None = None  # why handing over failed, until collect() gives the helper up
        self._failed_at = -RESTART_PAUSE

    def takes(self, raw: bytes) -> bool:
        """Whether to hand ``raw`` over now (large, room in the helper's queue, a helper running)."""
        if not self.enabled or self._broken or len(raw) < LARGE_MESSAGE or len(self._pending) >= DEPTH:
            return False
        return self._sock is not None or self._start()

    def send(self, number: int, raw: bytes, empaid: str | None) -> bool:
        """Hand a message over; False when the helper is gone (then file it here)."""
        try:
            fd = os.memfd_create("apel-receive-message", os.MFD_CLOEXEC)
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view):]
                socket.send_fds(self._sock, [pickle.dumps((number, empaid))], [fd])
            finally:
                os.close(fd)
        except OSError as error:  # the messages it holds are filed here by the next collect()
            self._broken = f"cannot hand a message to helper process {self.pid}: {error}"
            return False
        self._pending.append((number, raw, empaid))
        return True

    def collect(self, done: dict, wait: bool = False) -> None:
        """Take in the answers that are there; with ``wait``, every answer still to come."""
        if self._broken:
            self._give_up(self._broken, done)
            return
        while self._pending:
            if not wait and not select.select([self._sock], [], [], 0)[0]:
                return
            try:
                data = self._sock.recv(_ANSWER_SIZE)
            except OSError as error:  # including the timeout
                self._give_up(f"helper process {self.pid} did not answer: {error or 'timed out'}", done)
                return
            if not data:
                self._give_up(f"helper process {self.pid} stopped", done)
                return
            number, answer = pickle.loads(data)
            expected = self._pending.popleft()[0]
            if number != expected:
                self._give_up(f"helper process {self.pid} answered for message {number}, "
                              f"not {expected}", done)
                return
            if answer is not None and not isinstance(answer, QueueError):
                self.acceptor.count(answer.accepted)
            done[number] = answer

    def close(self) -> None:
        """Stop the helper (it finishes the message in hand) and reap it."""
        self._pending.clear()
        self._broken = None
        self._stop()

    def _start(self) -> bool:
        if time.monotonic() - self._failed_at < RESTART_PAUSE:
            return False
        foreign = self.foreign_fds()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError as error:
            ours.close()
            theirs.close()
            self._failed_at = time.monotonic()
            log.error("cannot start a helper process: %s; filing every message here", error)
            return False
        if pid == 0:  # the helper: never returns into the receiver's code
            status = 1
            try:
                ours.close()
                for fd in foreign:
                    _close(fd)
                _serve(theirs, self.acceptor)
                status = 0
            except BaseException:  # noqa: BLE001 - reported, then the receiver takes over
                log.exception("helper process failed")
            finally:
                os._exit(status)
        theirs.close()
        ours.settimeout(ANSWER_TIMEOUT)
        self._sock, self.pid = ours, pid
        log.debug("helper process %d started", pid)
        return True

    def _give_up(self, problem: str, done: dict) -> None:
        log.error("%s; filing its messages here", problem)
        held = list(self._pending)
        self._pending.clear()
        self._broken = None
        self._stop(kill=True)
        self._failed_at = time.monotonic()
        for number, raw, empaid in held:
            done[number] = self.file_here(raw, empaid)

    def _stop(self, kill: bool = False) -> None:
        if self._sock is not None:
            self._sock.close()  # the helper reads the end of its input and exits
            self._sock = None
        if self.pid is None:
            return
        if kill:
            _signal(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while not _reaped(self.pid):
            if time.monotonic() > deadline:
                _signal(self.pid, signal.SIGKILL)
                _reaped(self.pid, wait=True)
                break
            time.sleep(0.01)
        self.pid = None


def _reaped(pid: int, wait: bool = False) -> bool:
    try:
        return os.waitpid(pid, 0 if wait else os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _serve(sock: socket.socket, acceptor: Acceptor) -> None:
    """The helper's loop: file each message handed over, answer, until the receiver hangs up."""
    # The receiver stops on SIGTERM or Ctrl-C and then closes the socket; the helper
    # finishes the message in hand and leaves when it reads the end of its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    acceptor.use_other_names()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _ANSWER_SIZE, 1)
        except OSError:
            return
        if not data:
            return
        try:
            raw = _read_all(fds[0])
        finally:
            for fd in fds:
                os.close(fd)
        number, empaid = pickle.loads(data)
        try:
            answer = acceptor.handle(raw, empaid, durable=False)
        except QueueError as error:
            answer = error
        except Exception:  # noqa: BLE001 - one message must never stop the others
            log.exception("unexpected failure on message %s; not acknowledged", empaid or "(no empa-id)")
            answer = None
        sock.send(pickle.dumps((number, answer)))


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    parts, offset = [], 0
    while offset < size:
        part = os.pread(fd, size - offset, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
