"""``apel-parse``: read batch-system and CE (blah) logs into the site database, or as NDJSON."""

import logging
import sys
import time

import click

from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.errors import ApelError, ConfigError
from apeltools.parsers import files, registry
from apeltools.progress import Progress

log = logging.getLogger(__name__)


def _timezone(name):
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use a name like Europe/London)") from None


@command(
    "apel-parse",
    epilog="""\b
Examples:
  apel-parse slurm --db sqlite:///var/lib/apeltools/site.db /var/log/apel/sacct-*.txt
  apel-parse blah /var/log/cream/accounting/blahp.log-*
  apel-parse pbs --stdout /var/spool/torque/server_priv/accounting/20240415.gz | jq .
  sacct -P -n --format=... | apel-parse slurm --timezone Europe/London --stdout -
""",
)
@click.argument("log_type", metavar="TYPE")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...")
@click.option("--db", "db_url", metavar="URL", help="Site database URL [default: [db] of the configuration].")
@click.option("--stdout", "to_stdout", is_flag=True,
              help="Write the records to stdout as NDJSON instead of storing them (files are not remembered).")
@click.option("--timezone", metavar="ZONE",
              help="Time zone of logs with local times (SLURM) [default: [parser] timezone, else the system's].")
def main(ctx, log_type, paths, db_url, to_stdout, timezone):
    """Parse log files of TYPE into batch or blah records.

    TYPE is a batch system (slurm, pbs, sge, lsf, htcondor; aliases torque,
    oge, univa, condor), blah for the CE's accounting log, or the name of a
    parser plugin (entry point group apeltools.parsers). Files may be plain,
    gzip or bzip2; - reads stdin.

    Each file is remembered in the database by a hash of its first bytes and
    how far it was read: a log that grew is read from where the last run
    stopped, and a rotated or compressed copy of a log already read is not
    parsed again. A line that cannot be parsed is counted and reported (each
    distinct error once, with its count and first line number) and never
    stops the file; only a file that cannot be read makes the run fail.
    """
    parser_class = registry.get(log_type)
    zone = _timezone(timezone or ctx.config.get("parser", "timezone"))
    started = time.monotonic()
    if to_stdout:
        if db_url:
            raise click.UsageError("--stdout writes records instead of storing them: give --db or --stdout")
        reports = _parse(paths, parser_class, files.NDJSONOutput(sys.stdout), None, zone)
    else:
        with ctx.database(db_url) as db:
            require_schema(db)
            memory = files.FileMemory(db, parser_class.name)
            reports = _parse(paths, parser_class, files.DatabaseOutput(db), memory, zone)
    _report(reports, time.monotonic() - started)


def _parse(paths, parser_class, output, memory, zone):
    reports = []
    with Progress(f"parsing {parser_class.name}") as progress:
        for path in paths:
            report = files.parse_file(path, parser_class(timezone=zone), output,
                                      memory if path != "-" else None)
            reports.append(report)
            progress.update(sum(r.records for r in reports), len(reports))
    return reports


def _report(reports, seconds):
    for report in reports:
        log.info(report.summary())
        for line in report.error_lines():
            log.warning(line)
        if report.problem:
            log.error(report.problem)
    lines = sum(r.parsed + r.ignored + r.failed for r in reports)
    log.info("%d files: %d lines parsed, %d ignored, %d failed, %d records in %.1f s (%s lines/s)",
             len(reports), sum(r.parsed for r in reports), sum(r.ignored for r in reports),
             sum(r.failed for r in reports), sum(r.records for r in reports), seconds,
             f"{lines / max(seconds, 1e-9):,.0f}")
    unreadable = [r for r in reports if r.problem]
    if unreadable:
        raise ApelError(f"{len(unreadable)} of {len(reports)} files could not be read completely (see above)")


if __name__ == "__main__":
    main()
