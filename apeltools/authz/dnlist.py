"""The DN list file: building and installing it (apel-auth), reading and watching it (receivers).

The file (formats.md §7) holds one DN per line in OpenSSL slash form,
``/C=UK/O=eScience/CN=host.example.org``, with ``#`` comments and blank lines
ignored. Building it, a DN given in comma form (``CN=host,O=eScience,C=UK``
as RFC 4514 prints it, or ``C=UK, O=eScience, CN=host``) is converted. A new
file is written to a temporary file in the same directory, flushed to disk
and renamed over the old one (``apeltools.files.atomic_write``), so a reader
sees the old list or the new one, never half of either. A receiver re-reads
it when it changes; when the new content is empty or cannot be read, the last
good list stays in force and an error is logged: an outage of whatever writes
the file must not reject every message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass

from apeltools.errors import ApelError, ConfigError
from apeltools.quoting import quote

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds between checks of a watched file for changes

# Start of an attribute in slash form: "/" then a name and "=" (a value may itself hold a "/").
_SLASH_ATTRIBUTE = re.compile(r"/(?=[A-Za-z][A-Za-z0-9.-]*=)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.-]*$")
_CANONICAL_NAMES = {
    name.lower(): name
    for name in ("C", "ST", "L", "O", "OU", "CN", "DC", "UID", "SN", "GN", "emailAddress", "serialNumber")
}
_CANONICAL_NAMES["e"] = "emailAddress"
_CANONICAL_NAMES["email"] = "emailAddress"


class ShrinkRefused(ApelError):
    """The new list loses too many DNs of the installed one."""


def _attribute(name: str, value: str, dn: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(f"bad attribute name {quote(name)} in {quote(dn)}")
    if not value.strip():
        raise ValueError(f"empty value of {name} in {quote(dn)}")
    return f"{_CANONICAL_NAMES.get(name.lower(), name)}={value.strip()}"


def _split_commas(dn: str) -> list[str]:
    """RDN strings of a comma-form DN; ``\\,`` is an escaped comma inside a value."""
    parts, current, escaped = [], [], False
    for char in dn:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",;":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def normalise_dn(text: str) -> str:
    """A DN in slash form; ValueError when it is not a DN.

    Slash form is kept as it is (attribute names canonicalised, e.g. ``cn`` →
    ``CN``). Comma form is converted; its order is detected from where the CN
    is: ``CN=…`` first means RFC 4514 order (most specific first), which is
    reversed.
    """
    dn = text.strip()
    if not dn or any(ord(c) < 32 for c in dn):
        raise ValueError(f"not a DN: {quote(text)}")
    if dn.startswith("/"):
        pieces = _SLASH_ATTRIBUTE.split(dn)
        if pieces[0] != "" or len(pieces) < 2:
            raise ValueError(f"not a slash-form DN: {quote(dn)}")
        attributes = []
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            attributes.append(_attribute(name, value, dn))
    else:
        rdns = _split_commas(dn)
        if len(rdns) < 2 or any("=" not in rdn for rdn in rdns):
            raise ValueError(f"not a DN (slash form /C=../CN=.. or comma form CN=..,C=..): {quote(dn)}")
        attributes = [_attribute(*rdn.split("=", 1), dn) for rdn in rdns]
        if attributes[0].startswith(("CN=", "emailAddress=")) and not attributes[-1].startswith("CN="):
            attributes.reverse()
    if not any(a.startswith("CN=") for a in attributes):
        raise ValueError(f"DN has no CN: {quote(dn)}")
    return "/" + "/".join(attributes)


def read_dn_file(path: str | None, what: str) -> list[str]:
    """The valid DNs of a file (one a line, ``#`` comments); a missing optional file is empty.

    Invalid lines are logged and skipped, naming the file and the line.
    """
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        log.info("%s file %s does not exist: none", what, path)
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {what} file {path}: {getattr(error, 'strerror', None) or error}") from None
    dns = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            dns.append(normalise_dn(line))
        except ValueError as error:
            log.warning("%s file %s line %d skipped: %s", what, path, number, error)
    return dns


def installed_dns(path: str) -> set[str] | None:
    """The DNs of the installed list file, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read DN list {path}: {getattr(error, 'strerror', None) or error}") from None
    return set(parse_dns(text))


@dataclass
class Shrink:
    """How many installed DNs a new list would drop."""

    old: int
    lost: int

    @property
    def share(self) -> float:
        return self.lost / self.old if self.old else 0.0


def check_shrink(old: set[str] | None, new: list[str], max_share: float, force: bool) -> Shrink:
    """Refuse (ShrinkRefused) a new list that drops more than ``max_share`` of the old DNs.

    An empty new list is always refused: it would make the receiver reject
    every message (the receiver itself keeps its last list when it sees one).
    """
    if not new:
        raise ShrinkRefused("the new DN list is empty: not installed")
    shrink = Shrink(len(old or ()), len((old or set()) - set(new)))
    if shrink.share > max_share:
        message = (
            f"the new DN list drops {shrink.lost} of {shrink.old} DNs ({shrink.share:.0%}, more than "
            f"the allowed {max_share:.0%})"
        )
        if not force:
            raise ShrinkRefused(message + ": not installed (check GOCDB, then use --force to install it)")
        log.warning("%s: installed because of --force", message)
    return shrink


def render(dns: list[str], header: list[str]) -> str:
    """The text of a DN list file: ``#`` header lines, then one DN a line."""
    return "".join(f"# {line}\n" for line in header) + "".join(f"{dn}\n" for dn in dns)


# -- reading -------------------------------------------------------------------


def parse_dns(text: str) -> frozenset[str]:
    """The DNs of a DN list file's text (comments and blank lines dropped)."""
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
    )


class DNList:
    """``dn in dns`` answers from the current file, checked for changes at most once a second."""

    def __init__(self, path: str, check_interval: float = CHECK_INTERVAL):
        self.path = path
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._stamp = None
        self._checked = 0.0
        self._dns: frozenset[str] | None = None
        self.refresh()
        if not self._dns:
            raise ConfigError(f"DN list {path} is missing, unreadable or empty: refusing to start")

    def __contains__(self, dn: str) -> bool:
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self.refresh()
        return dn in self._dns

    def __len__(self) -> int:
        return len(self._dns or ())

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read."""
        with self._lock:
            self._checked = time.monotonic()
            try:
                info = os.stat(self.path)
            except OSError as error:
                if self._stamp != "missing":
                    self._complain(f"cannot read DN list {self.path}: {error.strerror}")
                    self._stamp = "missing"
                return
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                with open(self.path, encoding="utf-8") as handle:
                    dns = parse_dns(handle.read())
            except (OSError, UnicodeDecodeError) as error:
                self._complain(f"cannot read DN list {self.path}: {getattr(error, 'strerror', None) or error}")
                return
            if not dns:
                self._complain(f"DN list {self.path} is empty")
                return
            if self._dns is not None:
                log.info("DN list %s re-read: %d DNs (was %d)", self.path, len(dns), len(self._dns))
            self._dns = dns

    def _complain(self, problem: str) -> None:
        if self._dns:
            log.error("%s; keeping the previous list of %d DNs", problem, len(self._dns))
        else:
            log.error(problem)
