"""``apel-parse``: read batch-system and CE (blah) logs into the site database, or as NDJSON."""

import logging
import sys
import time

import click

from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.errors import ApelError, ConfigError
from apeltools.parsers import files, registry, sources
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
  apel-parse --config /etc/apel/parser.cfg      # what [blah] and [batch] (and [parser:NAME]) describe
  apel-parse pbs --stdout /var/spool/torque/server_priv/accounting/20240415.gz | jq .
  sacct -P -n --format=... | apel-parse slurm --timezone Europe/London --stdout -
""",
)
@click.argument("log_type", metavar="[TYPE", required=False)
@click.argument("paths", nargs=-1, metavar="FILE...]")
@click.option("--db", "db_url", metavar="URL", help="Site database URL [default: [db] of the configuration].")
@click.option("--stdout", "to_stdout", is_flag=True,
              help="Write the records to stdout as NDJSON instead of storing them (files are not remembered).")
@click.option("--max-bad", type=click.FloatRange(0, 1), metavar="FRACTION",
              help="Fail (exit 1) when more than this fraction of a file's record lines cannot be parsed "
                   "[default: fail only when a file yields nothing but errors].")
@click.option("--timezone", metavar="ZONE",
              help="Time zone of logs with local times (SLURM) [default: [parser] timezone, else the system's].")
def main(ctx, log_type, paths, db_url, to_stdout, max_bad, timezone):
    """Parse log files of TYPE into batch or blah records.

    TYPE is a batch system (slurm, pbs, sge, lsf, htcondor; aliases torque,
    oge, univa, condor), blah for the CE's accounting log, or the name of a
    parser plugin (entry point group apeltools.parsers). Files may be plain,
    gzip or bzip2; - reads stdin.

    Without TYPE and FILE, parses the logs the configuration describes, as
    the existing parser.cfg does: [blah] and [batch] (enabled, type, dir,
    filename_prefix, subdirs, reparse), and one [parser:NAME] section (same
    keys, or glob = a shell pattern of file names) for each further batch
    system. [site_info] lrms_server, when set, is the MachineName of every
    batch record, as the deployed parser has it; without it, the name the
    log gives (PBS job id suffix, SGE host, HTCondor schedd), if any.

    Each file is remembered in the database by a hash of its first bytes and
    how far it was read: a log that grew is read from where the last run
    stopped, and a rotated or compressed copy of a log already read is not
    parsed again. A line that cannot be parsed is counted and reported (each
    distinct error once, with its count and first line number) and never
    stops the file. The run fails (exit 1, after parsing every file) when a
    file cannot be read, when a file's lines all fail (a log of another type)
    or when more than --max-bad of them fail.
    """
    if log_type and not paths:
        raise click.UsageError("give the FILEs of TYPE (or neither, to parse what the configuration describes)")
    if log_type:
        source = sources.LogSource("command line", log_type, ".", timezone=ctx.config.get("parser", "timezone"),
                                   machine_name=ctx.config.get("site_info", "lrms_server"))
        batches = [(source, list(paths))]
    else:
        batches = [(source, source.files()) for source in sources.configured(ctx.config)]
        if not batches:
            raise click.UsageError("give TYPE and FILEs, or configure [blah], [batch] or [parser:NAME] "
                                   "sections (see --help)")
    if to_stdout and db_url:
        raise click.UsageError("--stdout writes records instead of storing them: give --db or --stdout")
    started = time.monotonic()
    reports = []
    if to_stdout:
        output = files.NDJSONOutput(sys.stdout)
        for source, found in batches:
            reports += _parse(found, source, _output(output, source), None, timezone)
    else:
        with ctx.database(db_url) as db:
            require_schema(db)
            output = files.DatabaseOutput(db)
            for source, found in batches:
                parser_class = registry.get(source.type)
                memory = files.FileMemory(db, parser_class.name, reparse=source.reparse)
                reports += _parse(found, source, _output(output, source), memory, timezone)
    _report(reports, time.monotonic() - started, max_bad)


def _output(output, source):
    return files.BatchServerOutput(output, source.machine_name) if source.machine_name else output


def _parse(paths, source, output, memory, timezone):
    parser_class = registry.get(source.type)
    zone = _timezone(timezone or source.timezone)
    reports = []
    with Progress(f"parsing {parser_class.name}") as progress:
        for path in paths:
            report = files.parse_file(path, parser_class(timezone=zone), output,
                                      memory if path != "-" else None)
            reports.append(report)
            progress.update(sum(r.records for r in reports), len(reports))
    return reports


def _report(reports, seconds, max_bad):
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
    bad = [reason for reason in (r.too_bad(max_bad) for r in reports) if reason]
    for reason in bad:
        log.error(reason)
    if bad:
        raise ApelError(f"{len(bad)} of {len(reports)} files had too many lines that could not be parsed (see above)")


if __name__ == "__main__":
    main()
