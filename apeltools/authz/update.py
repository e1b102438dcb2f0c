"""What apel-auth does: GOCDB DNs plus extra DNs minus banned DNs, installed safely with the site map.

When GOCDB cannot be read (every URL failed), the GOCDB part of the list is
taken from the site map written after the last good answer, so the extra and
banned files still take effect at once and no site is ever dropped because
GOCDB is down; the caller warns loudly once that answer is older than the
allowed maximum age. Without a previous answer the installed list is left as
it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from dataclasses import dataclass, field

from apeltools.authz import gocdb
from apeltools.authz.dnlist import check_shrink, installed_dns, normalise_dn, read_dn_file, render
from apeltools.authz.sitemap import SiteMap
from apeltools.files import atomic_write

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = dt.timedelta(hours=24)
DEFAULT_MAX_SHRINK = 0.3


@dataclass
class AuthSettings:
    urls: list[str]
    dn_file: str
    site_map: str | None
    service_types: list[str] = field(default_factory=lambda: [gocdb.DEFAULT_SERVICE_TYPE])
    extra_file: str | None = None
    banned_file: str | None = None
    proxy: str | None = None
    timeout: float = gocdb.DEFAULT_TIMEOUT
    max_shrink: float = DEFAULT_MAX_SHRINK
    force: bool = False
    production_only: bool = False


@dataclass
class Outcome:
    """What one run did, for the summary line and the exit code."""

    dns: int
    from_gocdb: int
    extra: int
    banned: int
    source: str
    gocdb_fetched: dt.datetime
    gocdb_error: str | None = None

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.gocdb_fetched


def gocdb_map(endpoints: list[gocdb.Endpoint], production_only: bool) -> dict[str, list[str]]:
    """{DN: [sites]} of the endpoints; endpoints without a usable DN are logged and left out."""
    sites: dict[str, list[str]] = {}
    for endpoint in endpoints:
        if production_only and not endpoint.in_production:
            continue
        if not endpoint.dn:
            log.info("GOCDB endpoint %s of %s has no HOSTDN: skipped", endpoint.hostname, endpoint.site)
            continue
        try:
            dn = normalise_dn(endpoint.dn)
        except ValueError as error:
            log.warning("GOCDB endpoint %s of %s skipped: %s", endpoint.hostname, endpoint.site, error)
            continue
        listed = sites.setdefault(dn, [])
        if endpoint.site and endpoint.site not in listed:
            listed.append(endpoint.site)
    return sites


def update(settings: AuthSettings, now: dt.datetime | None = None) -> Outcome:
    """Build the DN list and the site map and install both; raises ApelError on failure.

    Raises ShrinkRefused when the new list drops too many DNs (nothing is
    written then) and GocdbError when GOCDB fails and no previous answer is kept.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    extra = read_dn_file(settings.extra_file, "extra-DNs")
    banned = set(read_dn_file(settings.banned_file, "banned-DNs"))
    error, previous = None, None
    try:
        source, endpoints = gocdb.endpoints_from_any(
            settings.urls, settings.service_types, settings.timeout, settings.proxy)
        sites, fetched = gocdb_map(endpoints, settings.production_only), now
    except gocdb.GocdbError as failure:
        previous = SiteMap.read(settings.site_map) if settings.site_map else None
        if previous is None or previous.gocdb_fetched is None:
            raise gocdb.GocdbError(
                f"{failure}; no earlier GOCDB answer is kept, so {settings.dn_file} is left as it is"
            ) from None
        error, source = str(failure), f"the GOCDB answer of {previous.gocdb_fetched:%Y-%m-%d %H:%M}Z"
        sites, fetched = previous.sites, previous.gocdb_fetched

    kept_sites = {dn: s for dn, s in sites.items() if dn not in banned}
    any_site = sorted(set(extra) - banned)
    dns = sorted(set(kept_sites) | set(any_site))
    for dn in sorted(banned & (set(sites) | set(extra))):
        log.info("banned DN left out: %s", dn)
    to_stdout = settings.dn_file == "-"
    if not to_stdout:
        check_shrink(installed_dns(settings.dn_file), dns, settings.max_shrink, settings.force)
    header = [
        f"Written by apel-auth at {now:%Y-%m-%d %H:%M:%S}Z: {len(dns)} DNs "
        f"({len(kept_sites)} from {source}, {len(any_site)} extra, {len(banned)} banned).",
        "Do not edit: add DNs to the extra-DNs file and remove them with the banned-DNs file.",
    ]
    text = render(dns, header)
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(settings.dn_file, text)
    if settings.site_map and not to_stdout:
        # GOCDB's DNs are kept unfiltered, so that a DN taken off the banned list comes back
        # even while GOCDB is down; the receiver never lets a banned DN through anyway.
        origin = source if previous is None else previous.source
        SiteMap(sites, any_site, fetched, origin).write(settings.site_map)
    return Outcome(len(dns), len(kept_sites), len(any_site), len(banned), source, fetched, error)
