"""check_apel_loader: age of the newest load and the share of records rejected over a window."""

from __future__ import annotations

import datetime as dt

import click
import nagiosplugin
from nagiosplugin.state import Critical

from apeltools.db import monitoring
from apeltools.probes.runtime import execute, outcome, parse_range, probe


class LoaderResource(nagiosplugin.Resource):
    def __init__(self, db, now, window_hours):
        self.db, self.now, self.window_hours = db, now, window_hours
        self.newest = None
        self.messages = self.records = self.rejected = 0

    @property
    def name(self):
        return "APEL-Loader"

    def probe(self):
        since = self.now - dt.timedelta(hours=self.window_hours)
        self.newest, self.messages, self.records, self.rejected = monitoring.loads(self.db, since)
        if self.newest is None:
            return [nagiosplugin.Metric("loaded", False, context="never")]
        total = self.records + self.rejected
        rate = 100.0 * self.rejected / total if total else 0.0
        age = max(0, int((self.now - self.newest).total_seconds()))
        return [
            nagiosplugin.Metric("last_load", age, uom="s", min=0, context="age"),
            nagiosplugin.Metric("rejected", round(rate, 3), uom="%", min=0, max=100, context="rejected"),
        ]


class NeverLoaded(nagiosplugin.Context):
    def evaluate(self, metric, resource):
        return self.result_cls(Critical, "no message has ever been loaded", metric)


class LoaderSummary(nagiosplugin.Summary):
    def __init__(self, resource):
        self.resource = resource

    def _text(self, results):
        r = self.resource
        if r.newest is None:
            return "[ no message has ever been loaded into this database ]"
        total = r.records + r.rejected
        share = f"{100.0 * r.rejected / total:.1f} %" if total else "none"
        return (f"[ last load {r.newest:%Y-%m-%d %H:%M:%S}Z; last {r.window_hours:g} h: {r.messages} messages, "
                f"{r.records} records loaded, {r.rejected} rejected ({share}) ]")

    ok = problem = _text


def _range(ctx, param, value):
    parse_range(value, "/".join(param.opts))
    return value


@probe("check_apel_loader", epilog="""\b
Examples:
  check_apel_loader --db mysql://nagios@db.example.org/apelserver
  check_apel_loader --db sqlite:///var/lib/apeltools/apel.db --window 6 -w 3600 -c 21600
  check_apel_loader --db mysql://nagios@db/apelserver --rejected-warning 1 --rejected-critical 10
""")
@click.option("--db", "db_url", metavar="URL", help="Repository database [default: [db] of the configuration].")
@click.option("-w", "--warning", default="21600", show_default=True, metavar="RANGE", callback=_range,
              help="Seconds since the newest load that are still OK.")
@click.option("-c", "--critical", default="86400", show_default=True, metavar="RANGE", callback=_range,
              help="Seconds since the newest load above which the loader is CRITICAL.")
@click.option("--window", type=click.FloatRange(min=0, min_open=True), default=24.0, show_default=True,
              metavar="HOURS", help="Window over which the reject rate is measured.")
@click.option("--rejected-warning", default="5", show_default=True, metavar="RANGE", callback=_range,
              help="Percentage of records rejected in the window that is still OK.")
@click.option("--rejected-critical", default="20", show_default=True, metavar="RANGE", callback=_range,
              help="Percentage of records rejected in the window above which it is CRITICAL.")
def main(settings, db_url, warning, critical, window, rejected_warning, rejected_critical):
    """Is apel-load loading, and how much does it reject?

    Reads LoadedMessages (one row per message apel-load processed): the time
    of the newest load, and over the last --window hours the records loaded
    and rejected. CRITICAL when nothing was ever loaded. Perfdata:
    last_load (seconds ago), rejected (percent of records). Any usage error,
    failure or timeout is UNKNOWN.
    """

    def run():
        resource = LoaderResource(settings.database(db_url), settings.now, window)
        check = nagiosplugin.Check(
            resource,
            nagiosplugin.ScalarContext("age", warning, critical),
            nagiosplugin.ScalarContext("rejected", rejected_warning, rejected_critical),
            NeverLoaded("never"),
            LoaderSummary(resource),
        )
        return outcome(check)

    return execute(settings, run)
