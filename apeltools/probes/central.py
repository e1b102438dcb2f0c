"""Central mode: one check per site listed in GOCDB, and metric messages for passive checks.

``--all`` evaluates every site that has an endpoint of a service type
(default ``APEL``) in production and monitored. The probe's own result is the
worst site's state with a count per state; ``-v`` lists each site. With
``--emit metric`` each site's result is also written as a metricOutput
message into an outgoing queue, for apel-send to carry to the monitoring
service (see :mod:`apeltools.probes.metrics`).
"""

from __future__ import annotations

import logging

import click

from apeltools.authz import gocdb
from apeltools.messaging import queues
from apeltools.probes import metrics
from apeltools.probes.runtime import STATE_NAMES, UNKNOWN, outcome, status_line

log = logging.getLogger(__name__)

DEFAULT_SERVICE_TYPE = "APEL"
DEFAULT_ALL_TIMEOUT = 300.0


def central_options(function):
    """--all, --gocdb-url, --service-type, --emit and --queue."""
    for option in reversed([
        click.option("--all", "all_sites", is_flag=True,
                     help="Check every site with a production, monitored endpoint of --service-type in GOCDB."),
        click.option("--gocdb-url", metavar="URL",
                     help=f"GOCDB PI for --all [default: [auth] gocdb_url, else {gocdb.DEFAULT_URL}]."),
        click.option("--service-type", default=DEFAULT_SERVICE_TYPE, show_default=True, metavar="TYPE",
                     help="GOCDB service type whose sites --all checks."),
        click.option("--emit", type=click.Choice(["metric"]),
                     help="Also write one metricOutput message per site into --queue (for apel-send)."),
        click.option("--queue", "queue_dir", metavar="DIR", help="Outgoing queue for --emit metric."),
    ]):
        function = option(function)
    return function


def check_usage(site, all_sites, emit, queue_dir):
    if bool(site) == bool(all_sites):
        raise click.UsageError("give either --site SITE or --all")
    if emit and not queue_dir:
        raise click.UsageError("--emit metric needs --queue DIR")
    if emit and not all_sites:
        raise click.UsageError("--emit metric is for --all")


def gocdb_sites(settings, url: str | None, service_type: str) -> dict[str, str]:
    """{site: host} from GOCDB (production and monitored endpoints of the service type)."""
    url = url or settings.config.get("auth", "gocdb_url") or gocdb.DEFAULT_URL
    _, endpoints = gocdb.endpoints_from_any([url], [service_type], min(settings.timeout or 30.0, 30.0))
    return gocdb.monitored_sites(endpoints)


def run_all(settings, sites: dict[str, str], build, metric_name: str, emit_queue=None, details=None):
    """Check each site with ``build(site)`` → nagiosplugin.Check; (state, text, perfdata, lines) of all."""
    results = []
    for site, host in sites.items():
        try:
            state, text, perfdata, long_lines = outcome(build(site), details)
        except Exception as error:  # noqa: BLE001 - one site's failure must not hide the others
            state, text, perfdata, long_lines = UNKNOWN, f"[ {error} ]", [], []
        results.append((site, host, state, text, long_lines))
        if emit_queue is not None:
            queues.add(emit_queue, metrics.render(metrics.MetricResult(
                host=host, site=site, metric=metric_name, status=STATE_NAMES[state],
                summary=status_line(state, text, perfdata), details="\n".join(long_lines),
                timestamp=settings.now,
            )))
    counts = {}
    for *_, state, _, _ in results:
        counts[state] = counts.get(state, 0) + 1
    worst = max(counts, default=UNKNOWN)  # as nagiosplugin ranks them: UNKNOWN above CRITICAL
    tally = ", ".join(f"{counts[s]} {STATE_NAMES[s]}" for s in sorted(counts))
    text = f"[ {len(results)} sites: {tally or 'none found'} ]"
    if emit_queue is not None:
        text += f" {len(results)} metric messages queued"
    lines = [f"{site}: {status_line(state, text_)}" for site, _, state, text_, _ in results]
    return worst, text, [], lines
