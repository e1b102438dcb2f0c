"""APEL-Pub and APEL-Sync semantics (formats.md §6), shared by the probes and the status pages.

Pub: age of the newest LatestEndTime the repository holds for a site, OK up
to 7 days, WARNING above, CRITICAL above 31 days. Sync: per month, the
repository's job count against the site's own sync count; OK while the
relative difference is below 1 %. The difference is taken relative to the
larger of the two counts, so it never divides by zero and a month present on
one side only is a 100 % difference; two zero counts agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import nagiosplugin

from apeltools.probes.runtime import CRITICAL, OK, WARNING
from apeltools.words import plural

PUB_WARNING, PUB_CRITICAL = "7", "31"
SYNC_CRITICAL = "@1:"  # a relative difference of 1 % or more
GAP_TEXT = "[ Please use the Gap Publisher to synchronise this dataset]"
PAGE_WORDS = {OK: "OK", WARNING: "WARN", CRITICAL: "ERROR"}
DAY = 86400.0


def state_of(value: float, warning: nagiosplugin.Range | None, critical: nagiosplugin.Range | None) -> int:
    if critical is not None and not critical.match(value):
        return CRITICAL
    if warning is not None and not warning.match(value):
        return WARNING
    return OK


@dataclass
class Pub:
    """What the repository holds for one site's publishing."""

    site: str
    latest: dt.datetime | None
    rows: int
    now: dt.datetime

    @property
    def age_days(self) -> float | None:
        """Days since the newest end time; an end time in the future (clock skew) counts as now."""
        return None if self.latest is None else max((self.now - self.latest).total_seconds() / DAY, 0.0)

    def state(self, warning, critical) -> int:
        """The Pub state, for the probe and the status pages alike."""
        return CRITICAL if self.latest is None else state_of(self.age_days, warning, critical)

    @property
    def text(self) -> str:
        if self.latest is None:
            if self.rows:
                return f"[ {self.site} has {plural(self.rows, 'summary')} but none gives a LatestEndTime ]"
            return f"[ no accounting data for {self.site} in the repository ]"
        return f"[ last published {plural(int(self.age_days // 1), 'day')} ago: {self.latest:%Y-%m-%d} ]"


@dataclass
class Counts:
    """Jobs in the repository and in the site's sync records; None when that side has no row."""

    repository: int | None = None
    site: int | None = None

    @property
    def difference(self) -> float:
        """Relative difference in percent (0..100)."""
        repository, site = self.repository or 0, self.site or 0
        larger = max(repository, site)
        return 0.0 if larger == 0 else abs(repository - site) * 100.0 / larger

    def describe(self) -> str:
        if self.site is None:
            return f"repository {self.repository} jobs, site sent no sync count"
        if self.repository is None:
            return f"site {self.site} jobs, none in the repository"
        return f"repository {self.repository}, site {self.site} jobs ({self.difference:.1f} %)"

    def add(self, other: Counts) -> None:
        if other.repository is not None:
            self.repository = (self.repository or 0) + other.repository
        if other.site is not None:
            self.site = (self.site or 0) + other.site


@dataclass
class SyncMonth:
    year: int
    month: int
    counts: Counts
    hosts: dict[str, Counts] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def state(self, critical, warning=None) -> int:
        """The month's Sync state, for the probe and the status pages alike."""
        return state_of(self.counts.difference, warning, critical)


def months_back(now: dt.datetime, count: int) -> list[tuple[int, int]]:
    """The ``count`` months ending with the month of ``now``, oldest first."""
    last = now.year * 12 + now.month - 1
    months = []
    for index in range(last - count + 1, last + 1):
        year, month = divmod(index, 12)
        months.append((year, month + 1))
    return months


def compare(repository: dict, synced: dict, since: tuple[int, int] | None = None) -> list[SyncMonth]:
    """Months (oldest first) with data on either side, from {(year, month, host): jobs} of each side."""
    months: dict[tuple[int, int], SyncMonth] = {}
    for side, rows in (("repository", repository), ("site", synced)):
        for (year, month, host), jobs in rows.items():
            if since and (year, month) < since:
                continue
            entry = months.setdefault((year, month), SyncMonth(year, month, Counts()))
            for counts in (entry.counts, entry.hosts.setdefault(host, Counts())):
                counts.add(Counts(**{side: jobs}))
    return [months[key] for key in sorted(months)]
