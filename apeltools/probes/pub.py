"""check_apel_pub: days since the newest job end time the repository holds for a site (APEL-Pub)."""

from __future__ import annotations

import click
import nagiosplugin
from nagiosplugin.state import Critical

from apeltools.messaging import queues
from apeltools.probes import central
from apeltools.probes.publishing import PUB_CRITICAL, PUB_WARNING
from apeltools.probes.runtime import NAGIOS_STATES, execute, outcome, parse_range, probe
from apeltools.probes.sources import DatabaseSource, StatusPageSource

METRIC_NAME = "org.apel.APEL-Pub"


class PubResource(nagiosplugin.Resource):
    """The age in days of the site's newest LatestEndTime (never negative)."""

    def __init__(self, source, site, now):
        self.source, self.site, self.now = source, site, now
        self.pub = None

    @property
    def name(self):
        return "APEL-Pub"

    def probe(self):
        self.pub = self.source.pub(self.site, self.now)
        if self.pub.latest is None:
            return [nagiosplugin.Metric("published", False, context="nothing")]
        return [nagiosplugin.Metric("age_days", round(self.pub.age_days, 6), min=0, context="age")]


class AgeContext(nagiosplugin.ScalarContext):
    """Perfdata with -w and -c; the state is Pub.state's, which the status pages ask too."""

    def evaluate(self, metric, resource):
        return self.result_cls(NAGIOS_STATES[resource.pub.state(self.warning, self.critical)], None, metric)


class NothingPublished(nagiosplugin.Context):
    """A site without usable data in the repository is CRITICAL."""

    def evaluate(self, metric, resource):
        return self.result_cls(Critical, resource.pub.text, metric)


class PubSummary(nagiosplugin.Summary):
    """The APEL-Pub text, ``[ last published 3 days ago: 2026-11-18 ]``, whatever the state."""

    def __init__(self, resource):
        self.resource = resource

    def ok(self, results):
        return self.resource.pub.text

    def problem(self, results):
        return self.resource.pub.text


def pub_check(source, site, now, warning, critical) -> nagiosplugin.Check:
    resource = PubResource(source, site, now)
    return nagiosplugin.Check(
        resource,
        AgeContext("age", warning, critical),
        NothingPublished("nothing"),
        PubSummary(resource),
    )


def _details(check):
    pub = check.resources[0].pub
    if pub is None or pub.latest is None:
        return []
    return [f"newest LatestEndTime of {pub.site}: {pub.latest:%Y-%m-%d %H:%M:%S}Z ({pub.rows} summary rows)"]


def source_options(function):
    for option in reversed([
        click.option("--db", "db_url", metavar="URL", help="Repository database [default: [db] of the configuration]."),
        click.option("--url", metavar="URL",
                     help="Read <URL>/<SITE>.json written by apel-report status instead of the database."),
    ]):
        function = option(function)
    return function


def open_source(settings, db_url, url):
    if db_url and url:
        raise click.UsageError("give --db or --url, not both")
    if url:
        return StatusPageSource(url, timeout=settings.timeout or 10.0)
    return DatabaseSource(settings.database(db_url))


@probe("check_apel_pub", epilog="""\b
Examples:
  check_apel_pub --site UKI-SOUTHGRID-OX-HEP --db mysql://nagios@db.example.org/apelserver
  check_apel_pub --site SITE-A --url https://accounting.example.org/status/ -w 10 -c 40
  check_apel_pub --all --db mysql://nagios@db/apelserver --emit metric --queue /var/spool/apel/metrics -t 300
""")
@click.option("--site", metavar="SITE", help="GOCDB name of the site to check.")
@source_options
@click.option("-w", "--warning", default=PUB_WARNING, show_default=True, metavar="RANGE",
              callback=lambda ctx, p, v: (parse_range(v, "-w"), v)[1],
              help="Age in days that is still OK before WARNING (Nagios range).")
@click.option("-c", "--critical", default=PUB_CRITICAL, show_default=True, metavar="RANGE",
              callback=lambda ctx, p, v: (parse_range(v, "-c"), v)[1],
              help="Age in days above which the site is CRITICAL (Nagios range).")
@central.central_options
def main(settings, site, db_url, url, warning, critical, all_sites, gocdb_url, service_type, emit, queue_dir):
    """APEL-Pub: is the site publishing accounting data?

    Reports the days since the newest job end time (LatestEndTime of the
    summaries) that the repository holds for the site: OK up to -w days,
    WARNING above, CRITICAL above -c days or when the repository holds
    nothing for the site. Reads the repository database (VSuperSummaries)
    or, with --url, the status JSON that apel-report status writes.
    Perfdata: age in days. Exit codes follow the Nagios plugin API; any
    usage error, failure or timeout is UNKNOWN.
    """
    central.check_usage(site, all_sites, emit, queue_dir)
    if all_sites and settings.timeout is None:
        settings.timeout = central.DEFAULT_ALL_TIMEOUT

    def run():
        source = open_source(settings, db_url, url)
        if not all_sites:
            return outcome(pub_check(source, site, settings.now, warning, critical), _details)
        sites = central.gocdb_sites(settings, gocdb_url, service_type)
        queue = queues.outgoing_queue(queue_dir) if emit else None
        return central.run_all(
            settings, sites, lambda s: pub_check(source, s, settings.now, warning, critical),
            METRIC_NAME, queue, _details)

    return execute(settings, run)
