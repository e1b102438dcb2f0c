"""The on-disk directory queues (python ``dirq``), file-compatible with the existing tools.

Incoming and reject queues are ``dirq.queue.Queue`` with the schemas below
(one directory per element, one file per field); outgoing queues are
``dirq.QueueSimple`` (one file per message). Queues are created with a umask
that keeps them from being world-writable.
"""

import logging
import os

from apeltools.errors import QueueError

log = logging.getLogger(__name__)

INCOMING_SCHEMA = {"body": "string", "signer": "string", "empaid": "string?"}
REJECT_SCHEMA = {"body": "string", "signer": "string?", "empaid": "string?", "error": "string"}
SAFE_UMASK = 0o027
PURGE_TEMP_SECONDS = 300
PURGE_LOCK_SECONDS = 600


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


def byte_writer(queue):
    """The same queue, for adding elements whose fields are given as UTF-8 bytes.

    A field is stored as the same file whether dirq writes it from text or
    from bytes; written from bytes it skips dirq's text codec (several times
    slower) and the decoding and re-encoding of bodies that arrive as bytes.
    Readers keep using the text schema.
    """
    return _queue(queue.path, {name: "binary" + ("" if name in queue.mandatory else "?") for name in queue.type})


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


def purge(queue):
    """Remove stale temporary files and locks left by crashed processes, and empty directories."""
    try:
        queue.purge(maxtemp=PURGE_TEMP_SECONDS, maxlock=PURGE_LOCK_SECONDS)
    except OSError as error:
        log.warning("cannot purge queue %s: %s", queue.path, error.strerror)


def locked_elements(queue):
    """Yield (name, element, problem) for each element this process could lock.

    Elements locked by another process (another loader) are skipped. When an
    element cannot be decoded (a body that is not UTF-8), ``element`` holds
    its fields with undecodable bytes escaped and ``problem`` says why, so the
    caller can reject it instead of tripping over it forever. The caller must
    ``remove`` or ``unlock`` each yielded name.
    """
    for name in queue:
        try:
            if not queue.lock(name):
                continue
        except OSError:
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
                    queue.unlock(name)
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
        if not os.path.isfile(os.path.join(directory, field)):
            continue  # dirq's "locked" marker directory
        with open(os.path.join(directory, field), "rb") as handle:
            element[field] = handle.read().decode("utf-8", errors="backslashreplace")
    return element
