"""``apel-export``: job lifecycles for process-mining tools (XES, MXML, CSV)."""

import logging

import click

from apeltools import export
from apeltools.cli.common import command
from apeltools.cli.selection import filter_options, filters_from, lifecycle_options, selection_from
from apeltools.db.schema import require_schema

log = logging.getLogger(__name__)


@command(
    "apel-export",
    epilog="""\b
Examples:
  # my jobs of March as an XES log for ProM, pm4py or Disco
  apel-export xes --dn "/C=UK/O=eScience/CN=Jane Doe" --from 2026-03 --to 2026-03 -o march.xes
  # every job of a CE, compressed
  apel-export xes --ce ce01.example.org:8443/cream-pbs-grid -o ce01.xes.gz
  # the older ProM 5 format, for the jobs of one campaign
  apel-export mxml --tag campaign=mc23 -o mc23.mxml
  # one row per event, to stdout
  apel-export csv --from 2026-03-01 --to 2026-03-07 | head
""",
)
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["xes", "mxml", "csv"]))
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
              help="Where to write; a name ending in .gz is written gzip-compressed; - is stdout.")
@filter_options
@lifecycle_options
def main(ctx, fmt, db_url, output, local_users, queues, states, tags, **chosen):
    """Export the lifecycles of the chosen jobs of a site database.

    FORMAT is xes (IEEE 1849), mxml (ProM 5) or csv (one row per event).
    Each job is a trace (case) with events submit (lifecycle transition
    schedule, when the submission time is known), start (start) and end
    (complete, or ate_abort for a job that did not complete), timestamps,
    the resource (the CE for submit, the node for start and end) and the
    job's user, VO, CE, queue, site, final state, exit code and tags as
    attributes. Jobs are read and written a page at a time: memory stays
    the same for any number of jobs.
    """
    selection = selection_from(ctx.config, filters_from(**chosen), local_users, queues, states, tags)
    with ctx.database(db_url, read_only=True) as db:
        require_schema(db)
        with export.open_output(output) as out:
            report = export.export(db, selection, fmt, out)
    log.info("%s", report.summary())


if __name__ == "__main__":
    main()
