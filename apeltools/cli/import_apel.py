"""``apeltools db import-apel``: bring a deployed APEL repository or site database over, verified."""

import os
import sys

import click

from apeltools import db as databases
from apeltools.importer import DEFAULT_BATCH, POLICIES, Importer, ImportReport
from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.parsers import registry
from apeltools.quoting import quote

SOURCE_PASSWORD = "APELTOOLS_SOURCE_DB_PASSWORD"
SHOWN_ISSUES = 50


@command(
    "import-apel",
    epilog="""\b
Examples:
  APELTOOLS_SOURCE_DB_PASSWORD=... apeltools db import-apel --dry-run \\
      --from mysql://apel@oldhost/apelserver --db mysql://apel@localhost/apeltools
  apeltools db import-apel --from mysql://apel@oldhost/apelserver --db mysql://apel@localhost/apeltools
  apeltools db import-apel --from mysql://apel@localhost/apelclient --db sqlite:///var/lib/apeltools/apel.db \
      --log-dir pbs=/var/spool/pbs/server_priv/accounting --log-dir blah=/var/log/apel --queue /var/spool/apel/outgoing
""",
)
@click.option("--from", "source_url", required=True, metavar="URL",
              help=f"The deployed APEL database (mysql://user@host/name), only read; password from {SOURCE_PASSWORD} "
                   "(else the target's).")
@click.option("--db", "db_url", metavar="URL", help="Our database [default: [db] of the configuration].")
@click.option("--site/--repository", "site", default=None,
              help="The source is a site's client database or a repository's server database "
                   "[default: detected from its tables].")
@click.option("--invalid", type=click.Choice(POLICIES), default="hold", show_default=True,
              help="Rows our checks refuse: hold them back, or import them as they are; either way they are listed.")
@click.option("--dry-run", is_flag=True, help="Read and check everything, print the counts and the report, write nothing.")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=DEFAULT_BATCH, show_default=True,
              help="Source rows per transaction (an interrupted import continues after the last one).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes importing the job records (each checks and writes a share of them).")
@click.option("--log-dir", "log_dirs", multiple=True, metavar="PARSER=DIR",
              help="A site: a log directory and its parser (e.g. pbs=/var/spool/pbs/server_priv/accounting, "
                   "blah=/var/log/apel); its files the deployed parser read are not parsed again. Repeatable.")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="The outgoing queue apel-publish will use: what the deployed client (or a repository's "
                   "unloader) published counts as published there [default: 'outgoing' in [unloader] dir_location].")
def main(ctx, source_url, db_url, site, invalid, dry_run, batch, workers, log_dirs, queue_dir):
    """Import a deployed APEL database, so that switching to apeltools keeps the
    history: a repository's job records, summaries, normalised summaries, sync
    records, cloud records and summaries and StAR records; a site's job records,
    batch and blah records, benchmark history, the logs its parser read (--log-dir)
    and what it published (--queue).

    The source is only read. Each table is read in primary-key order and
    written in batches with its progress, so an interrupted import (Ctrl-C, a
    kill, a database restart) continues where it stopped when run again, and
    nothing is stored twice. Every source row is imported or listed with its
    table, key and reason. At the end the monthly sums recomputed from the
    imported records are compared with the source's super-summaries per site
    and month, and every difference is listed.
    """
    if not queue_dir and ctx.config.get("unloader", "dir_location"):
        queue_dir = os.path.join(ctx.config.get("unloader", "dir_location"), "outgoing")
    destination = os.path.realpath(queue_dir) if queue_dir else None
    password = os.environ.get(SOURCE_PASSWORD)
    if password is None:
        password = ctx.config.db_password()
    with databases.connect(source_url, password=password, must_exist=True) as source, ctx.database(db_url) as target:
        if not dry_run:
            require_schema(target)
        importer = Importer(source, target, site=site, invalid=invalid, dry_run=dry_run, batch=batch,
                            show_progress=sys.stderr.isatty(), log_dirs=[_log_dir(d) for d in log_dirs],
                            destination=destination, workers=workers)
        ctx.stop_on_signals(importer.backoff.stop.set)
        report = importer.run()
    write_report(report)


def _log_dir(text):
    """(our parser's name, directory) of a --log-dir value."""
    parser, sep, directory = text.partition("=")
    if not sep or parser.lower() not in registry.names() or not os.path.isdir(directory):
        raise click.BadParameter(f"{quote(text)}: give PARSER=DIR with a parser of {', '.join(registry.names())} "
                                 "and an existing directory", param_hint="--log-dir")
    return registry.get(parser).name, directory


def write_report(report: ImportReport) -> None:
    """The counts, the refused rows and the verification, on stdout."""
    click.echo(f"{'dry run: ' if report.dry_run else ''}{report.layout} import")
    click.echo(f"{'table':<22}{'source':>12}{'read':>12}{'imported':>12}{'as is':>8}{'held':>8}{'ours':>12}")
    for name, count in report.tables.items():
        ours = "-" if count.target_rows is None else count.target_rows
        click.echo(f"{name:<22}{count.source_rows:>12}{count.read:>12}{count.imported:>12}{count.marked:>8}"
                   f"{count.held:>8}{ours:>12}")
    if report.issues:
        click.echo(f"refused rows: {len(report.issues)} (all in ImportIssues)" if not report.dry_run
                   else f"refused rows: {len(report.issues)}")
        for table, key, field, reason, action in report.issues[:SHOWN_ISSUES]:
            click.echo(f"  {action:<8} {table} {key}: {field}: {reason}")
        if len(report.issues) > SHOWN_ISSUES:
            click.echo(f"  ... and {len(report.issues) - SHOWN_ISSUES} more")
    if report.files is not None:
        click.echo(f"logs: {report.files.summary()}")
    if report.published is not None:
        click.echo(f"published: {report.published}")
    if not report.dry_run:
        click.echo(f"verification: {report.months_compared} site-months compared, "
                   f"{len(report.differences)} differences")
        for site, year, month, figure, theirs, ours in report.differences:
            click.echo(f"  {site} {year}-{month:02d} {figure}: source {theirs}, ours {ours}")
