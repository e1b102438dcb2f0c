"""The DN → sites map that apel-auth writes and ``apel-load --check-site`` reads.

A JSON file::

    {"format": "apeltools-site-map", "version": 1,
     "gocdb_fetched": "2026-11-21T10:00:00Z", "source": "https://goc.egi.eu/...",
     "sites": {"/C=UK/.../CN=apel.site-a.example.org": ["SITE-A"], ...},
     "any_site": ["/C=UK/.../CN=regional.example.org"]}

``sites`` comes from GOCDB's ``SITENAME`` of each endpoint; ``any_site``
holds the DNs of the extra-DNs file (regional servers and the like), which
may publish for any site. It doubles as apel-auth's memory of the last good
GOCDB answer, used to rebuild the list (with fresh extra and banned DNs) while
GOCDB is unreachable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from apeltools.files import atomic_write
from apeltools.errors import ConfigError
from apeltools.quoting import quote

log = logging.getLogger(__name__)

FORMAT = "apeltools-site-map"
MODES = ("off", "warn", "enforce")
CHECK_INTERVAL = 5.0


def default_path(dn_file: str) -> str:
    return dn_file + ".sites.json"


@dataclass
class SiteMap:
    sites: dict[str, list[str]] = field(default_factory=dict)
    any_site: list[str] = field(default_factory=list)
    gocdb_fetched: dt.datetime | None = None
    source: str | None = None

    def to_json(self) -> str:
        fetched = self.gocdb_fetched.strftime("%Y-%m-%dT%H:%M:%SZ") if self.gocdb_fetched else None
        return json.dumps({
            "format": FORMAT, "version": 1, "gocdb_fetched": fetched, "source": self.source,
            "sites": {dn: sorted(set(sites)) for dn, sites in sorted(self.sites.items())},
            "any_site": sorted(set(self.any_site)),
        }, indent=1) + "\n"

    def write(self, path: str) -> None:
        atomic_write(path, self.to_json())

    @classmethod
    def read(cls, path: str) -> SiteMap | None:
        """The map in ``path``; None when there is no file; ConfigError when it is not a map."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read site map {path}: {getattr(error, 'strerror', None) or error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("sites"), dict):
            raise ConfigError(f"{path} is not an apeltools site map")
        fetched = data.get("gocdb_fetched")
        return cls(
            sites={dn: list(sites) for dn, sites in data["sites"].items()},
            any_site=list(data.get("any_site") or ()),
            gocdb_fetched=(dt.datetime.strptime(fetched, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
                           if fetched else None),
            source=data.get("source"),
        )


def site_of(record) -> str | None:
    """The site a record belongs to: its Site (SiteName in storage records)."""
    for name in ("Site", "SiteName"):
        value = getattr(record, name, None)
        if value is not None:
            return value
    return None


class SiteCheck:
    """``check(signer, records)`` → [(record, reason)] to refuse, from the map file.

    In ``warn`` mode nothing is refused and each mismatch is logged; in
    ``enforce`` mode the mismatching records are returned. A signer missing
    from the map may publish for no site. Records loaded without a signer
    (files given by hand) are not checked. The map is re-read when its file
    changes; a map that cannot be read keeps the previous one.
    """

    def __init__(self, path: str, mode: str):
        if mode not in ("warn", "enforce"):
            raise ConfigError(f"--check-site must be one of {', '.join(MODES)}, not {quote(mode)}")
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self._stamp = None
        self._checked = 0.0
        self._map = None
        self._refresh()
        if self._map is None:
            raise ConfigError(f"site map {path} is missing or unreadable (written by apel-auth)")

    def _refresh(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            try:
                info = os.stat(self.path)
            except OSError:
                return
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            if stamp == self._stamp:
                return
            try:
                found = SiteMap.read(self.path)
            except ConfigError as error:
                log.error("%s; keeping the previous site map", error)
                return
            self._stamp, self._map = stamp, found

    def allowed(self, signer: str) -> set[str] | None:
        """The sites a signer may publish for; None means any site."""
        if time.monotonic() - self._checked >= CHECK_INTERVAL:
            self._refresh()
        if signer in self._map.any_site:
            return None
        return set(self._map.sites.get(signer, ()))

    def __call__(self, signer: str | None, records: list) -> list[tuple[object, str]]:
        if not signer or signer == "None" or not records:
            return []
        allowed = self.allowed(signer)
        if allowed is None:
            return []
        refused = []
        for record in records:
            site = site_of(record)
            if site is None or site in allowed:
                continue
            listed = ", ".join(sorted(allowed)) or "no site"
            refused.append((record, f"signer {signer} may not publish for site {site} (GOCDB lists it for {listed})"))
        if refused and self.mode == "warn":
            sites = sorted({site_of(record) for record, _ in refused})
            log.warning("%d records from %s are for sites it does not belong to: %s (not refused: "
                        "--check-site warn)", len(refused), signer, ", ".join(sites))
            return []
        return refused


def site_check(mode: str, path: str | None):
    """The loader's site check for a ``--check-site`` mode, or None when ``off``."""
    if mode == "off":
        return None
    if not path:
        raise ConfigError("--check-site needs the site map: give --site-map or set [auth] site-map or dn-file")
    return SiteCheck(path, mode)
