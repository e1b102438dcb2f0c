"""The on-disk directory queues (python ``dirq``), file-compatible with the existing tools.

Incoming and reject queues are ``dirq.queue.Queue`` with the schemas below
(one directory per element, one file per field); outgoing queues are
``dirq.QueueSimple`` (one file per message). Queues are created with a umask
that keeps them from being world-writable.

A lock (dirq's: a ``locked`` directory in an element of a ``Queue``, a
``.lck`` link next to an element of a ``QueueSimple``) says nothing about who
holds it, so dirq releases a lock only when it is older than ``maxlock``: a
process killed while holding one delays its element by ten minutes. Here each
lock taken also gets an owner note beside it (the ``lockowner`` file in the
element directory, ``<element>.owner`` next to a simple element), naming the
machine, its boot, the process and its start time and the lock itself; a lock
whose owner on this machine is gone is taken over at once. Other readers
ignore the notes (a data-file name outside the schema, a name outside dirq's
patterns); a lock of another host, or without a note, keeps the age rule.
"""

import errno
import logging
import os
import re
import shutil
import socket
import time

from apeltools.errors import QueueError

log = logging.getLogger(__name__)

INCOMING_SCHEMA = {"body": "string", "signer": "string", "empaid": "string?"}
REJECT_SCHEMA = {"body": "string", "signer": "string?", "empaid": "string?", "error": "string"}
# The empaid of a message that came without an empa-id: what the deployed receiver writes,
# and the deployed loader fails on an element without an empaid file.
NO_EMPAID = "noid"
SAFE_UMASK = 0o027
PURGE_TEMP_SECONDS = 300
PURGE_LOCK_SECONDS = 600
OWNER_FILE = "lockowner"  # letters only: dirq's Queue.remove deletes it as a data file
OWNER_SUFFIX = ".owner"


def _queue(path, schema):
    from dirq.queue import Queue

    try:
        return Queue(os.fspath(path), umask=SAFE_UMASK, schema=schema)
    except OSError as error:
        raise QueueError(f"cannot open queue {path}: {error.strerror}") from None


def incoming_queue(path):
    """The receiver's incoming queue (body, signer, empaid), created when missing."""
    return _queue(path, INCOMING_SCHEMA)


def reject_queue(path):
    """A reject queue (body, signer, empaid, error), created when missing."""
    return _queue(path, REJECT_SCHEMA)


class ElementWriter:
    """Adds elements to a ``dirq.queue.Queue`` laid out exactly as ``Queue.add`` does, with fewer system calls.

    Fields are given as bytes (what the receiver has in hand: no text codec,
    no decoding and re-encoding of bodies). An element is a directory with
    one file per field, written under ``temporary/`` and renamed into the
    newest bucket directory (eight hex digits, at most ``maxelts`` elements
    each), under a name of eight hex digits of seconds, five of microseconds
    and the queue's random digit. Unlike ``Queue.add`` it does not list the
    queue's top directory and count the bucket for every element, nor switch
    the process umask twice per file (the modes are given to each call
    instead), and it removes what it wrote when a write fails. Readers keep
    using ``dirq``. One writer per thread.
    """

    RECHECK = 64  # elements between looks at which bucket is the newest

    def __init__(self, queue):
        self.path = queue.path
        self.maxelts = queue.maxelts
        self.rndhex = queue.rndhex
        self.fields = set(queue.type)
        self.mandatory = set(queue.mandatory)
        self.dir_mode, self.file_mode = _modes(queue)
        self._bucket: str | None = None
        self._added = 0

    def add(self, element: dict) -> str:
        """Add ``element`` ({field: bytes}) and return its name (``bucket/element``); OSError on failure."""
        unknown = element.keys() - self.fields
        missing = self.mandatory - element.keys()
        if unknown or missing:
            raise ValueError(f"element fields {sorted(element)} do not fit the queue's schema")
        temp = self._temporary_directory()
        try:
            for field, data in element.items():
                fd = os.open(f"{temp}/{field}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
            return self._publish(temp)
        except OSError:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    def _temporary_directory(self) -> str:
        return _new_directory(f"{self.path}/temporary", self.rndhex, self.dir_mode)

    def _publish(self, temp: str) -> str:
        while True:
            bucket = self._current_bucket()
            name = f"{bucket}/{_element_name(self.rndhex)}"
            try:
                os.rename(temp, f"{self.path}/{name}")
                return name
            except FileNotFoundError:
                self._bucket = None  # the bucket was purged meanwhile
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise

    def _current_bucket(self) -> str:
        self._added += 1
        if self._bucket is not None and self._added < self.RECHECK:
            return self._bucket
        self._added = 0
        buckets = sorted(name for name in os.listdir(self.path) if _BUCKET.fullmatch(name))
        bucket = buckets[-1] if buckets else "%08x" % 0
        if buckets:
            try:
                full = os.lstat(f"{self.path}/{bucket}").st_nlink - 2 >= self.maxelts
            except FileNotFoundError:
                full = False  # purged since the listing: made again below
            if full:
                bucket = "%08x" % (int(bucket, 16) + 1)
        os.makedirs(f"{self.path}/{bucket}", self.dir_mode, exist_ok=True)
        self._bucket = bucket
        return bucket


_BUCKET = re.compile("[0-9a-f]{8}")


def _modes(queue) -> tuple[int, int]:
    """The modes of a queue's new directories and files (its umask, or the safe one)."""
    umask = queue.umask if queue.umask is not None else SAFE_UMASK
    return 0o777 & ~umask, 0o666 & ~umask


def _new_directory(parent: str, rndhex: int, mode: int) -> str:
    """Create a directory under ``parent`` (made when missing) with a fresh element name, and
    return its path. ``mkdir`` gives each name to one process only."""
    while True:
        path = f"{parent}/{_element_name(rndhex)}"
        try:
            os.mkdir(path, mode)
            return path
        except FileExistsError:
            continue  # taken, or the same microsecond: the next try gets another name
        except FileNotFoundError:
            os.makedirs(parent, mode, exist_ok=True)


def _element_name(rndhex: int) -> str:
    """What ``dirq`` names an element: hex seconds, hex microseconds, the queue's random digit."""
    now = time.time()
    seconds = int(now)
    return "%08x%05x%01x" % (seconds, int((now - seconds) * 1000000), rndhex)


def outgoing_queue(path):
    """A sender's outgoing queue (one file per message), created when missing."""
    from dirq.QueueSimple import QueueSimple

    try:
        return QueueSimple(os.fspath(path), umask=SAFE_UMASK)
    except OSError as error:
        raise QueueError(f"cannot open queue {path}: {error.strerror}") from None


def add(queue, element):
    """Add an element, turning disk errors (full, read-only) into QueueError."""
    try:
        return queue.add(element)
    except OSError as error:
        raise QueueError(f"cannot write to queue {queue.path}: {error.strerror or error}") from None


def remove(queue, name: str) -> None:
    """Remove a locked element (and its owner note); for a ``dirq.queue.Queue`` as ``Queue.remove``
    does, but race-free.

    ``Queue.remove`` renames the element into ``obsolete/`` under a fresh
    element name, empties it and removes it. Two processes whose queues
    drew the same random digit can pick the same name in the same
    microsecond, and a rename replaces an *empty* directory without a word:
    the second process's element then lands on the first one's emptied
    directory, each removes part of the other's, and an empty directory is
    left behind (counted by ``Queue.count``) with a warning from both. Here
    the name is first taken with ``mkdir``, which only one process can do,
    and the element is renamed onto that empty directory of its own.
    Raises OSError (or ``dirq``'s QueueError when the element is not locked).
    """
    from dirq.Exceptions import QueueError as DirqError

    if _is_simple(queue):
        queue.remove(name)
        _unlink(_owner_path(queue, name))
        return
    element = f"{queue.path}/{name}"
    if not os.path.isdir(f"{element}/locked"):
        raise DirqError(f"cannot remove {name}: not locked")
    dir_mode, _ = _modes(queue)
    while True:
        temp = _new_directory(f"{queue.path}/obsolete", queue.rndhex, dir_mode)
        try:
            os.rename(element, temp)
            break
        except OSError as error:
            _discard(temp)
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise  # the element itself is gone or cannot be moved
    for entry in os.listdir(temp):
        if entry != "locked":
            os.unlink(f"{temp}/{entry}")
    for attempt in range(100):
        # A process that was locking the element as it moved may put a new lock in it.
        try:
            os.rmdir(f"{temp}/locked")
        except FileNotFoundError:
            pass
        try:
            os.rmdir(temp)
            return
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or attempt == 99:
                raise


def _discard(directory: str) -> None:
    try:
        os.rmdir(directory)
    except OSError:
        pass  # someone else's element replaced it: theirs to remove


def purge(queue) -> None:
    """Clean what crashed processes left: temporary and obsolete elements older than
    ``PURGE_TEMP_SECONDS``, locks whose owner is gone (at once) or that are older than
    ``PURGE_LOCK_SECONDS``, and empty bucket directories.

    Each leftover is cleaned on its own: one that cannot be (and says why in the log)
    does not stop the others, as dirq's own purge stops at the first.
    """
    now = time.time()
    simple = _is_simple(queue)
    for path in _leftovers(queue, simple):
        try:
            if os.lstat(path).st_mtime < now - PURGE_TEMP_SECONDS:
                log.warning("removing %s, left unfinished by a process that stopped", path)
                (_unlink if simple else _remove_tree)(path)
        except OSError as error:
            _cannot(queue, f"remove {path}", error)
    for name in queue:
        try:
            if os.lstat(_lock_path(queue, name)).st_mtime < now - PURGE_LOCK_SECONDS or _owner_gone(queue, name):
                log.warning("releasing the lock of %s/%s: its owner is gone", queue.path, name)
                pending = _gone_pending(queue, name)  # the note of a process killed as it locked
                unlock(queue, name)
                if pending is not None:
                    _unlink(pending)
        except FileNotFoundError:
            continue  # not locked, or unlocked or removed meanwhile
        except OSError as error:
            _cannot(queue, f"release the lock of {name}", error)
    buckets = sorted(entry for entry in _listdir(queue.path) if _BUCKET.fullmatch(entry))
    for bucket in buckets[:-1]:  # the newest stays: writers are adding to it
        try:
            os.rmdir(f"{queue.path}/{bucket}")
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                _cannot(queue, f"remove {bucket}", error)


def _leftovers(queue, simple: bool) -> list:
    """Paths of unfinished writes and removals: dirq's ``temporary``/``obsolete`` element
    directories, or a simple queue's ``.tmp`` files."""
    if simple:
        return [f"{queue.path}/{bucket}/{entry}" for bucket in _listdir(queue.path) if _BUCKET.fullmatch(bucket)
                for entry in _listdir(f"{queue.path}/{bucket}") if entry.endswith(".tmp")]
    return [f"{queue.path}/{part}/{entry}" for part in ("temporary", "obsolete")
            for entry in _listdir(f"{queue.path}/{part}")]


def _remove_tree(path: str) -> None:
    def fail(function, failed, info):
        if not isinstance(info[1], FileNotFoundError):
            raise info[1]

    shutil.rmtree(path, onerror=fail)


def _listdir(path: str) -> list:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _cannot(queue, what: str, error: OSError) -> None:
    # dirq raises OSError("cannot ...: [Errno ...]") without an errno or strerror: its text says it.
    log.warning("cannot purge queue %s: cannot %s: %s", queue.path, what, error.strerror or error)


# -- locks and their owners ------------------------------------------------------------------

_CLAIM = "lockclaim"
_PENDING = "lockpending"


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip()
    except (OSError, ValueError):
        return ""


def _this_machine() -> str:
    return _read_first_line("/etc/machine-id") or socket.gethostname()


_MACHINE = _this_machine()
_BOOT = _read_first_line("/proc/sys/kernel/random/boot_id")


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), "" where /proc cannot say,
    None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


def _is_simple(queue) -> bool:
    return not hasattr(queue, "type")  # a QueueSimple has no schema


def _lock_path(queue, name: str) -> str:
    return f"{queue.path}/{name}.lck" if _is_simple(queue) else f"{queue.path}/{name}/locked"


def _owner_path(queue, name: str) -> str:
    return f"{queue.path}/{name}{OWNER_SUFFIX}" if _is_simple(queue) else f"{queue.path}/{name}/{OWNER_FILE}"


def _pending_path(queue, name: str) -> str:
    """Where ``lock`` writes its owner note before it takes the lock (a name of this process's own)."""
    if _is_simple(queue):
        return f"{queue.path}/{name}.{_PENDING}{os.getpid()}"
    return f"{queue.path}/{name}/{_PENDING}{os.getpid()}"


def _claim_path(queue, name: str) -> str:
    if _is_simple(queue):
        return f"{queue.path}/{name}.{_CLAIM}{os.getpid()}"
    return f"{queue.path}/{name}/{_CLAIM}{os.getpid()}"


def _identity(path: str) -> str:
    """What tells this lock from a later one at the same path (a new one is a new inode or link)."""
    stat = os.lstat(path)
    return f"{stat.st_ino} {stat.st_ctime_ns}"


def _owner_note() -> bytes:
    """This process as the owner of a lock: machine, boot, pid and start time, one a line."""
    pid = os.getpid()
    return f"{_MACHINE}\n{_BOOT}\n{pid}\n{_start_time(pid) or ''}\n".encode("ascii")


def _write_file(queue, path: str, data: bytes, flags: int = os.O_TRUNC) -> None:
    _, file_mode = _modes(queue)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, file_mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _write_owner(queue, name: str) -> None:
    """Note this process as the owner of the lock it holds on ``name``."""
    _write_file(queue, _owner_path(queue, name), _owner_note() + _identity_line(queue, name))


def _identity_line(queue, name: str) -> bytes:
    return f"{_identity(_lock_path(queue, name))}\n".encode("ascii")


def _owner_gone(queue, name: str, owner_path: str | None = None) -> bool:
    """True when the lock on ``name`` was taken on this machine, in this boot, by a process
    that no longer runs, and is still that lock. Without a note, or from another machine: False
    (except a lock whose maker was killed before it put its note in place: see ``_gone_pending``)."""
    try:
        with open(owner_path or _owner_path(queue, name), encoding="ascii") as handle:
            machine, boot, pid, started, identity = handle.read().split("\n")[:5]
        if not _process_gone(machine, boot, int(pid), started):
            return False
    except FileNotFoundError:
        return owner_path is None and _gone_pending(queue, name) is not None
    except (OSError, ValueError):
        return False
    try:
        if identity:
            return _identity(_lock_path(queue, name)) == identity
        # Killed before it added the lock's identity: the note was put in place after the lock
        # was made, and only the process that made a lock puts a note in place.
        return os.lstat(owner_path or _owner_path(queue, name)).st_ctime_ns >= os.lstat(
            _lock_path(queue, name)).st_ctime_ns
    except OSError:
        return False


def _process_gone(machine: str, boot: str, pid: int, started: str) -> bool:
    """True when the process a note names ran on this machine and runs no more."""
    if machine != _MACHINE:
        return False  # another host sharing the queue: the age rule
    if boot == _BOOT:
        now = _start_time(pid)
        if now is not None and (not started or not now or now == started):
            return False  # still running (or cannot tell)
    return True


def _gone_pending(queue, name: str) -> str | None:
    """The pending note (see ``lock``) of a process of this machine that is gone and that made the
    lock on ``name``: it was killed after taking the lock, before it put its note in place. The
    lock was made after the note was written, and within a second of it."""
    lock_path = _lock_path(queue, name)
    if _is_simple(queue):
        directory, prefix = os.path.dirname(f"{queue.path}/{name}"), f"{os.path.basename(name)}.{_PENDING}"
    else:
        directory, prefix = f"{queue.path}/{name}", _PENDING
    try:
        made = os.lstat(lock_path).st_ctime_ns
        entries = [entry for entry in os.listdir(directory) if entry.startswith(prefix)]
    except OSError:
        return None
    for entry in entries:
        path = f"{directory}/{entry}"
        try:
            with open(path, encoding="ascii") as handle:
                machine, boot, pid, started = handle.read().split("\n")[:4]
            written = os.lstat(path).st_ctime_ns
            if written <= made <= written + 1_000_000_000 and _process_gone(machine, boot, int(pid), started):
                return path
        except (OSError, ValueError):
            continue
    return None


def lock(queue, name: str) -> bool:
    """Lock an element as dirq does and note this process as its owner; take over a lock
    whose owner on this machine is gone. False when another process holds it (or it is gone)."""
    # The note is written first under a name of this process's own and renamed into place right
    # after the lock is taken: a process killed between the two leaves a lock without a note,
    # which waits for the age rule, so as little as possible happens there.
    pending = _pending_path(queue, name)
    try:
        _write_file(queue, pending, _owner_note())
    except OSError:
        return False  # the element is gone
    try:
        if queue.lock(name):
            os.rename(pending, _owner_path(queue, name))
            _write_file(queue, _owner_path(queue, name), _identity_line(queue, name), os.O_APPEND)
            return True
    except OSError:
        return False
    finally:
        _unlink(pending)
    return _take_over(queue, name)


def _take_over(queue, name: str) -> bool:
    """Take over the lock on ``name`` if its owner is gone: the owner note is first renamed to
    a claim of this process, which only one process can do, so one process takes it."""
    owner, claim = _owner_path(queue, name), _claim_path(queue, name)
    if not _owner_gone(queue, name):
        return False
    try:
        os.rename(owner, claim)
    except FileNotFoundError:  # no note: its maker was killed before it put its note in place
        pending = _gone_pending(queue, name)
        try:
            if pending is None:
                return False
            os.rename(pending, claim)
        except OSError:
            return False  # another process claimed it first
    except OSError:
        return False  # another process claimed it first
    try:
        if not _owner_gone(queue, name, claim):
            return False  # released and locked again meanwhile: someone else's now
        lock_path = _lock_path(queue, name)
        os.utime(lock_path)  # young again for the age rule of other hosts and readers
        _write_owner(queue, name)
        log.warning("took over the lock of %s/%s: its owner is gone", queue.path, name)
        return True
    except OSError:
        return False
    finally:
        _unlink(claim)


def unlock(queue, name: str) -> None:
    """Release a lock taken with ``lock`` (its owner note first). OSError as dirq's unlock."""
    _unlink(_owner_path(queue, name))
    queue.unlock(name)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def locked_elements(queue):
    """Yield (name, element, problem) for each element this process could lock.

    Elements locked by another process (another loader) are skipped. When an
    element cannot be decoded (a body that is not UTF-8), ``element`` holds
    its fields with undecodable bytes escaped and ``problem`` says why, so the
    caller can reject it instead of tripping over it forever. The caller must
    ``remove`` or ``unlock`` each yielded name.
    """
    for name in queue:
        if not lock(queue, name):
            continue
        try:
            element = queue.get(name)
        except (UnicodeDecodeError, OSError) as error:
            # dirq reports undecodable text as an IOError without an errno.
            element, problem = None, f"element is not UTF-8 text: {error}"
            if not (isinstance(error, OSError) and error.errno is not None):
                try:
                    element = _raw_element(queue, name)
                except OSError:
                    pass
            if element is None:
                log.warning("cannot read queue element %s/%s: %s", queue.path, name, error)
                try:
                    unlock(queue, name)
                except OSError:
                    pass
                continue
            yield name, element, problem
            continue
        yield name, element, None


def _raw_element(queue, name):
    element = {}
    directory = os.path.join(queue.path, name)
    for field in os.listdir(directory):
        if field == OWNER_FILE or field.startswith((_CLAIM, _PENDING)) or not os.path.isfile(
                os.path.join(directory, field)):
            continue  # the lock's owner note, or dirq's "locked" marker directory
        with open(os.path.join(directory, field), "rb") as handle:
            element[field] = handle.read().decode("utf-8", errors="backslashreplace")
    return element
