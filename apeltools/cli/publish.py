"""``apel-publish``: records from the database as messages, into an outgoing queue or stdout."""

import sys

import click

from apeltools import publisher
from apeltools.cli.common import command
from apeltools.cli.selection import date_options, vo_options
from apeltools.db.schema import require_schema


@command(
    "apel-publish",
    epilog="""\b
Examples:
  apel-publish summaries --db mysql://apel@localhost/apelserver --queue /var/spool/apel/outgoing
  apel-publish jobs --interval gap --from 2026-10-01 --to 2026-10-31 --queue /var/spool/apel/outgoing
  apel-publish jobs --db sqlite:///var/lib/apeltools/site.db --stdout --records-per-message 100
  apel-publish normalised-summaries --syntax v0.4 --withhold-dns --queue /var/spool/apel/portal
""",
)
@click.argument("sources", nargs=-1, metavar="[SOURCE...]",
                type=click.Choice(sorted(publisher.SOURCES)))
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Outgoing queue for apel-send [default: 'outgoing' in [unloader] dir_location].")
@click.option("--stdout", "to_stdout", is_flag=True, help="Write the messages to stdout instead of a queue.")
@click.option("--interval", type=click.Choice(["latest", "gap", "all"]),
              help="latest: what changed since the last publish to this destination [default]; "
                   "gap: --from to --to; all: everything.")
@date_options
@click.option("--records-per-message", "per_message", type=click.IntRange(1, 5000), default=1000,
              show_default=True, help="Records in each message.")
@click.option("--syntax", type=click.Choice(["legacy", "v0.4"]),
              help="Benchmark syntax [default: legacy]: legacy writes jobs as v0.3, summaries and "
                   "received-summaries as v0.2, normalised-summaries as APEL-summary-job-message v0.3 "
                   "(HEPSPEC only: other benchmark types are refused); v0.4 writes each as v0.4 with "
                   "benchmark dicts. The other sources have one syntax.")
@click.option("--car", is_flag=True, help="Write job records as CAR XML.")
@vo_options
@click.option("--local-jobs", is_flag=True, help="Also publish jobs run outside the grid (InfrastructureType local).")
@click.option("--withhold-dns", is_flag=True, help="Leave user DNs out (summaries that then coincide are merged).")
@click.option("--no-sync", is_flag=True, help="Do not add sync records for the months published.")
def main(ctx, sources, db_url, queue_dir, to_stdout, interval, start, end, per_message, syntax, car,
         vos, exclude_vos, local_jobs, withhold_dns, no_sync):
    """Publish records from the database as messages.

    SOURCE is jobs, summaries (the merged monthly summaries), normalised-summaries,
    received-summaries, sync, cloud, cloud-summaries, storage (StAR XML) or
    accelerator (JSON). Messages go to an outgoing queue that apel-send drains,
    or to stdout. Publishing jobs or summaries adds sync records for every
    month published, which the repository compares with what it holds.

    Syntaxes: jobs v0.3 or v0.4 (or CAR XML with --car); summaries and
    received-summaries v0.2 or v0.4; normalised-summaries v0.3 or v0.4;
    sync v0.1; cloud and cloud-summaries v0.4; storage StAR XML; accelerator
    JSON v0.1.

    --interval latest keeps a watermark per source and destination (the
    resolved queue directory, or stdout). A summary group or sync count
    published to a destination that has no records any more is published
    once more with zero jobs, so that the receiver drops its old figures.

    Reads the [unloader] keys of the existing client.cfg: without SOURCE,
    send_summaries = true publishes summaries and false jobs; dir_location
    (the queue is its "outgoing" directory), interval (with gap_start and
    gap_end), include_vos, exclude_vos, withhold_dns, send_ur (CAR), and
    local_jobs for --local-jobs (apel-site-run also passes --local-jobs when
    [joiner] local_jobs is true, as the existing client publishes the local
    jobs it makes).
    """
    settings = publisher.PublishSettings.from_config(
        ctx.config, sources, queue_dir, to_stdout, interval, start, end, per_message, syntax, car, vos,
        exclude_vos, local_jobs, withhold_dns, no_sync)
    with ctx.database(db_url) as db:
        require_schema(db)
        publisher.publish_as_configured(db, settings, sys.stdout)


if __name__ == "__main__":
    main()
