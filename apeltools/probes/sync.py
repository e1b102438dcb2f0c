"""check_apel_sync: the repository's job count against the site's own sync count, per month (APEL-Sync)."""

from __future__ import annotations

import click
import nagiosplugin
from nagiosplugin.state import Ok, Warn

from apeltools import events
from apeltools.messaging import queues
from apeltools.probes import central
from apeltools.probes.pub import open_source, source_options
from apeltools.probes.publishing import GAP_TEXT, SYNC_CRITICAL, months_back
from apeltools.probes.runtime import NAGIOS_STATES, OK, STATE_NAMES, execute, outcome, parse_range, probe
from apeltools.words import plural

METRIC_NAME = "org.apel.APEL-Sync"
DEFAULT_MONTHS = 6


class SyncResource(nagiosplugin.Resource):
    """Per month with data on either side, the relative difference in percent and its state.

    The state of a month comes from :meth:`SyncMonth.state`, which the status
    pages ask too. The perfdata has stable labels, the worst difference and
    the number of months that differ, so that graphs do not start a new
    series every month; each month's figures are in the long output.
    """

    def __init__(self, source, site, now, months, warning, critical):
        self.source, self.site, self.now = source, site, now
        self.warning, self.critical = warning, critical
        self.window = months_back(now, months)
        self.months = []
        self.states = {}

    @property
    def name(self):
        return "APEL-Sync"

    def probe(self):
        self.months = self.source.sync(self.site, self.window[0])
        if not self.months:
            return [nagiosplugin.Metric("months", 0, context="nothing")]
        self.states = {month.label: month.state(self.critical, self.warning) for month in self.months}
        for month in self.months:
            state = self.states[month.label]
            if state != OK:
                events.emit("sync.difference", self.site, month=month.label, state=STATE_NAMES[state],
                            repository=month.counts.repository, site_count=month.counts.site,
                            difference=round(month.counts.difference, 3))
        return [
            nagiosplugin.Metric(month.label, round(month.counts.difference, 3), uom="%", min=0, max=100,
                                context="month")
            for month in self.months
        ] + [
            nagiosplugin.Metric("worst_difference", max(round(m.counts.difference, 3) for m in self.months),
                                uom="%", min=0, max=100, context="worst"),
            nagiosplugin.Metric("months_differing", sum(state != OK for state in self.states.values()), min=0,
                                context="differing"),
        ]


class NothingToCompare(nagiosplugin.Context):
    """No job counts on either side in the window: WARNING (APEL-Pub says whether it publishes)."""

    def evaluate(self, metric, resource):
        return self.result_cls(Warn, f"no jobs and no sync counts for {resource.site} since "
                                     f"{resource.window[0][0]:04d}-{resource.window[0][1]:02d}", metric)


class MonthContext(nagiosplugin.Context):
    """A month's state, as SyncMonth.state decided it; no perfdata (its label would change every month)."""

    def evaluate(self, metric, resource):
        return self.result_cls(NAGIOS_STATES[resource.states[metric.name]], None, metric)

    def describe(self, metric):
        month = next(m for m in metric.resource.months if m.label == metric.name)
        return f"{month.label}: {month.counts.describe()}"


class Figure(nagiosplugin.ScalarContext):
    """Perfdata only: the months decide the state."""

    def evaluate(self, metric, resource):
        return self.result_cls(Ok, None, metric)


class SyncSummary(nagiosplugin.Summary):
    def __init__(self, resource):
        self.resource = resource

    def ok(self, results):
        months = self.resource.months
        repository = sum(m.counts.repository or 0 for m in months)
        site = sum(m.counts.site or 0 for m in months)
        return (f"[ {plural(len(months), 'month')} in step: {repository} jobs in the repository, "
                f"{site} reported by the site ]")

    def problem(self, results):
        if results.by_name.get("months") is not None:
            return f"[ {results['months'].hint} ]"
        months = [result for result in results if result.metric.context == "month"]
        bad = [result for result in months if result.state != Ok]
        detail = "; ".join(result.metric.contextobj.describe(result.metric) for result in bad)
        return f"{GAP_TEXT} {len(bad)} of {len(months)} months differ: {detail}"


def sync_check(source, site, now, months, warning, critical) -> nagiosplugin.Check:
    resource = SyncResource(source, site, now, months, nagiosplugin.Range(warning) if warning else None,
                            nagiosplugin.Range(critical))
    return nagiosplugin.Check(
        resource,
        MonthContext("month"),
        Figure("worst", warning, critical),
        Figure("differing"),
        NothingToCompare("nothing"),
        SyncSummary(resource),
    )


def _details(check):
    """Per month and per submit host, for the long output."""
    lines = []
    for month in check.resources[0].months:
        lines.append(f"{month.label}: {month.counts.describe()}")
        for host, counts in sorted(month.hosts.items()):
            lines.append(f"  {host}: {counts.describe()}")
    return lines


def _range(ctx, param, value):
    if value is not None:
        parse_range(value, "/".join(param.opts))
    return value


@probe("check_apel_sync", epilog="""\b
Examples:
  check_apel_sync --site UKI-SOUTHGRID-OX-HEP --db mysql://nagios@db.example.org/apelserver
  check_apel_sync --site SITE-A --months 12 -v          # per submit host in the long output
  check_apel_sync --site SITE-A --url https://accounting.example.org/status/
  check_apel_sync --all --db mysql://nagios@db/apelserver --emit metric --queue /var/spool/apel/metrics -t 300
""")
@click.option("--site", metavar="SITE", help="GOCDB name of the site to check.")
@source_options
@click.option("--months", type=click.IntRange(1, 120), default=DEFAULT_MONTHS, show_default=True,
              help="How many months to compare, ending with the current one.")
@click.option("-w", "--warning", default=None, metavar="RANGE", callback=_range,
              help="Relative difference in percent that is still OK before WARNING [default: none].")
@click.option("-c", "--critical", default=SYNC_CRITICAL, show_default=True, metavar="RANGE", callback=_range,
              help="Relative difference in percent that is CRITICAL ('@1:' is 1 % or more).")
@central.central_options
def main(settings, site, db_url, url, months, warning, critical, all_sites, gocdb_url, service_type, emit,
         queue_dir):
    """APEL-Sync: does the repository hold every job the site says it ran?

    For each month (ending with the current one) that has data on either
    side, compares the repository's job count (NumberOfJobs summed over
    VSuperSummaries) with the site's own count (its sync records,
    VSyncRecords). OK while the relative difference, taken against the larger
    count, is below 1 %; otherwise CRITICAL with "Please use the Gap Publisher
    to synchronise this dataset". A month present on one side only is a 100 %
    difference and is named; zero counts are shown as they are. -v lists every
    month and submit host. Perfdata: worst_difference (the largest difference
    of a month, in percent) and months_differing (how many months are not OK).
    Any usage error, failure or timeout is UNKNOWN.
    """
    central.check_usage(site, all_sites, emit, queue_dir)
    if all_sites and settings.timeout is None:
        settings.timeout = central.DEFAULT_ALL_TIMEOUT

    def run():
        source = open_source(settings, db_url, url)
        if not all_sites:
            return outcome(sync_check(source, site, settings.now, months, warning, critical), _details)
        sites = central.gocdb_sites(settings, gocdb_url, service_type)
        queue = queues.outgoing_queue(queue_dir) if emit else None
        return central.run_all(
            settings, sites, lambda s: sync_check(source, s, settings.now, months, warning, critical),
            METRIC_NAME, queue, _details)

    return execute(settings, run)
