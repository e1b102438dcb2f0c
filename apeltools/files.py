"""Files that readers see whole: written to a temporary file, synced, renamed over the old one.

A reader (a receiver reading the DN list, a web server serving a status
page) sees the old content or the new one, never half of either, even when
the writer is killed midway.
"""

from __future__ import annotations

import os
import tempfile

from apeltools.errors import ApelError


def atomic_write(path: str, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text``: temporary file, fsync, rename, fsync of the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise ApelError(f"cannot write in {directory}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise ApelError(f"cannot write {path}: {error.strerror}") from None
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some file systems cannot sync a directory; the rename is done
        pass
