"""Where Pub and Sync data come from: the repository database, or a site's status JSON over HTTP.

The status JSON is what ``apel-report status`` writes next to the pages
(``<SITE>.json``); :func:`status_document` defines it and
:class:`StatusPageSource` reads it back, so both sides share one layout.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from urllib.parse import quote

from apeltools.clock import iso
from apeltools.db import monitoring
from apeltools.errors import ApelError
from apeltools.probes.publishing import PAGE_WORDS, Pub, SyncMonth, compare

FORMAT = "apeltools-site-status"


class DatabaseSource:
    """Reads the repository database (the compatibility views)."""

    def __init__(self, db):
        self.db = db

    def pub(self, site: str, now: dt.datetime) -> Pub:
        latest, rows = monitoring.latest_end_time(self.db, site)
        return Pub(site, latest, rows, now)

    def sync(self, site: str, since: tuple[int, int]) -> list[SyncMonth]:
        repository, synced = monitoring.job_counts(self.db, site, since)
        return compare(repository, synced, since)


class StatusPageSource:
    """Reads ``<base URL>/<SITE>.json`` as written by apel-report status."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._documents = {}

    def document(self, site: str) -> dict:
        if site not in self._documents:
            url = f"{self.base_url}/{quote(site)}.json"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as answer:
                    data = json.loads(answer.read())
            except urllib.error.HTTPError as error:
                raise ApelError(f"{url}: HTTP {error.code} {error.reason}") from None
            except (urllib.error.URLError, OSError) as error:
                raise ApelError(f"{url}: {getattr(error, 'reason', None) or error}") from None
            except ValueError as error:
                raise ApelError(f"{url}: not JSON: {error}") from None
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ApelError(f"{url} is not an apeltools site status document")
            self._documents[site] = data
        return self._documents[site]

    def pub(self, site: str, now: dt.datetime) -> Pub:
        pub = self.document(site)["pub"]
        latest = pub.get("latest_end_time")
        latest = dt.datetime.strptime(latest, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc) if latest else None
        return Pub(site, latest, int(pub.get("summaries") or 0), now)

    def sync(self, site: str, since: tuple[int, int]) -> list[SyncMonth]:
        repository, synced = {}, {}
        for month in self.document(site)["sync"]["months"]:
            for host in month["hosts"]:
                key = (int(month["year"]), int(month["month"]), host["submit_host"])
                if host.get("repository") is not None:
                    repository[key] = int(host["repository"])
                if host.get("site") is not None:
                    synced[key] = int(host["site"])
        return compare(repository, synced, since)


def status_document(pub: Pub, pub_state: int, months: list[SyncMonth], month_states: list[int],
                    generated: dt.datetime) -> dict:
    """The JSON status of one site: Pub and per-month Sync, with the page words."""
    return {
        "format": FORMAT,
        "version": 1,
        "site": pub.site,
        "generated": iso(generated),
        "pub": {
            "latest_end_time": iso(pub.latest) if pub.latest else None,
            "summaries": pub.rows,
            "age_days": None if pub.age_days is None else round(pub.age_days, 6),
            "status": PAGE_WORDS[pub_state],
            "text": f"{PAGE_WORDS[pub_state]} {pub.text}",
        },
        "sync": {
            "months": [
                {
                    "year": month.year,
                    "month": month.month,
                    "repository": month.counts.repository,
                    "site": month.counts.site,
                    "difference": round(month.counts.difference, 3),
                    "status": PAGE_WORDS[state],
                    "hosts": [
                        {"submit_host": host, "repository": counts.repository, "site": counts.site}
                        for host, counts in sorted(month.hosts.items())
                    ],
                }
                for month, state in zip(months, month_states)
            ],
        },
    }
