"""``apel-summarise``: bring the monthly summaries up to date."""

import click

from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.summariser import summarise


@command(
    "apel-summarise",
    epilog="""\b
Examples:
  apel-summarise --db mysql://apel@localhost/apelserver          # after loading (cron)
  apel-summarise --db sqlite:///var/lib/apeltools/apel.db --full  # rebuild everything
""",
)
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@click.option("--full", is_flag=True, help="Recompute every summary from its records instead of only what changed.")
def main(ctx, db_url, full):
    """Summarise job records, summaries and normalised summaries into the monthly
    super-summaries (VSuperSummaries, VNormalisedSuperSummaries), cloud records
    into cloud summaries and accelerator records into accelerator summaries.

    A group comes from one source, as with the deployed summariser: where job
    records and a received summary have the same key, the summary's figures
    (a normalised summary's over both), never their sum. Cloud summaries group
    VMs by their CpuCount, as the deployed summariser does.

    Incremental by default: new job records are added to their month's
    summaries, and only the site-months whose records were replaced or deleted
    (or that received summaries) are recomputed. The result is always the same
    as with --full. A second apel-summarise on the same database is refused
    while one runs; records loaded meanwhile are summarised by the next run.
    """
    with ctx.database(db_url) as db:
        require_schema(db)
        summarise(db, full=full)


if __name__ == "__main__":
    main()
