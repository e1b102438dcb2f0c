"""``apel-parse``: read batch-system and CE (blah) logs into the site database, or as NDJSON."""

import sys

import click

from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.parsers import run


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
    batches = run.sources_for(ctx.config, log_type, paths)
    if to_stdout and db_url:
        raise click.UsageError("--stdout writes records instead of storing them: give --db or --stdout")
    if to_stdout:
        run.parse(batches, stream=sys.stdout, timezone=timezone, max_bad=max_bad)
        return
    with ctx.database(db_url) as db:
        require_schema(db)
        run.parse(batches, db=db, timezone=timezone, max_bad=max_bad)


if __name__ == "__main__":
    main()
