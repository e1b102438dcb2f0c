"""A site's logs that the deployed parser had read, registered so that apel-parse never reads them again.

The deployed parser knows a file by an MD5 of its whole content (gzip files
decompressed, anything else as its bytes) and its number of lines; we know a
file by a hash of its first bytes and how far it was read (ParsedFiles). A
file on disk whose content, or a prefix of it ending at a line, has an MD5 the
deployed parser recorded was read that far: it is registered with that offset,
so apel-parse reads only what was appended since. A log that kept growing
after the deployed parser's last run is recognised by that prefix.
"""

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from apeltools.db.base import Database
from apeltools.parsers.files import HEAD_SIZE, FileMemory, open_log

log = logging.getLogger(__name__)


@dataclass
class FileCount:
    """What became of the files in the log directories."""

    registered: int = 0  # read by the deployed parser, now known to apel-parse
    known: int = 0  # apel-parse knew them already
    unread: int = 0  # not read by the deployed parser (apel-parse will read them)

    def summary(self):
        return f"{self.registered} log files registered as read, {self.known} already known, {self.unread} unread"


def _md5_of_bytes(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as raw:
        for block in iter(lambda: raw.read(1 << 17), b""):
            digest.update(block)
    return digest.hexdigest()


def read_extent(path: str, known: dict) -> tuple[bytes, int, int] | None:
    """(head, offset, lines) of the longest prefix of a log's content, ending at a line, that the
    deployed parser read (its MD5 in ``known``), or None."""
    stream, _ = open_log(path)
    digest = hashlib.md5(usedforsecurity=False)
    head, offset, lines, best = b"", 0, 0, None
    with stream:
        for line in stream:
            if len(head) < HEAD_SIZE:
                head += line[:HEAD_SIZE - len(head)]
            digest.update(line)
            offset += len(line)
            lines += 1
            if digest.copy().hexdigest() in known:
                best = (offset, lines)
    if best is None and _md5_of_bytes(path) in known:  # bzip2: the deployed parser hashed its bytes
        best = (offset, lines)
    return None if best is None else (head, *best)


def adopt_logs(db: Database, log_dirs: Iterable[tuple[str, str]], known: dict, dry_run: bool = False) -> FileCount:
    """Register the files of ``log_dirs`` ((parser name, directory)) that the deployed parser read."""
    count = FileCount()
    for parser, directory in log_dirs:
        memory = FileMemory(db, parser)
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                continue
            extent = read_extent(path, known)
            if extent is None:
                count.unread += 1
                continue
            head, offset, lines = extent
            if memory.find(head)[0] is not None:
                count.known += 1
                continue
            count.registered += 1
            if not dry_run:
                with db.transaction():
                    memory.save(None, head, offset, lines, path)
            log.info("%s: read by the deployed parser up to line %d", path, lines)
    return count
