"""``apel-query``: answers to ad-hoc questions as a table, CSV or NDJSON."""

import csv
import json
import sys

import click
from rich import box
from rich.console import Console
from rich.table import Table

from apeltools import query, stats
from apeltools.cli.common import command
from apeltools.cli.selection import filter_options, filters_from, lifecycle_options, selection_from
from apeltools.db.schema import require_schema
from apeltools.lifecycle import read_jobs
from apeltools.records.types import now as current_time
from apeltools.values import comma_list


# A line of dashes under the header and nothing else, in ASCII so that any terminal or file shows it.
HEADER_RULE = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def _table(answer, out):
    """For people: numbers right-aligned with thousands separators and as many decimals as the
    column's most precise value (CSV and NDJSON keep the raw numbers)."""
    table = Table(box=HEADER_RULE, safe_box=True, show_edge=False, pad_edge=False, highlight=False)
    columns = [[row[i] for row in answer.rows] for i in range(len(answer.columns))]
    shown = []
    for name, values in zip(answer.columns, columns):
        numeric = all(isinstance(v, (int, float)) or v is None for v in values)
        table.add_column(str(name), justify="right" if numeric else "left")
        shown.append(_number_format(values) if numeric else "{}")
    for row in answer.rows:
        table.add_row(*("" if v is None else spec.format(v) for v, spec in zip(row, shown)))
    # Off a terminal (a file, `| less`) the table keeps its natural width instead of 80 columns.
    width = None if out.isatty() else 1 << 16
    Console(file=out, width=width, markup=False, highlight=False, emoji=False).print(table)


def _number_format(values):
    """A format with thousands separators and the most decimals (at most six) any of ``values`` has."""
    decimals = max((len(repr(v).partition(".")[2]) for v in values if isinstance(v, float)), default=0)
    return f"{{:,.{min(decimals, 6)}f}}" if any(isinstance(v, float) for v in values) else "{:,}"


def _csv(answer, out):
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(answer.columns)
    writer.writerows(answer.rows)


def _ndjson(answer, out):
    for row in answer.rows:
        out.write(json.dumps(dict(zip(answer.columns, row)), default=str) + "\n")


FORMATS = {"table": _table, "csv": _csv, "ndjson": _ndjson}


@command(
    "apel-query",
    epilog="""\b
Examples:
  # my jobs that ended on this CE in February
  apel-query jobs --dn "/C=UK/O=eScience/CN=Jane Doe" --ce ce01.example.org:8443/cream-pbs-grid \\
      --from 2026-02 --to 2026-02
  # CPU hours per VO per month at a site
  apel-query summaries --site RAL-LCG2 --group-by vo,month
  # which sites have not published for 7 days
  apel-query silent-sites --days 7
  apel-query summaries --group-by site --format csv > sites.csv
  # summaries are monthly: the whole of December, said explicitly
  apel-query summaries --from 2025-12-01 --to 2025-12-15 --whole-months
  # my jobs this month: how many failed, how long they waited, how well they ran
  apel-query stats --dn "/C=UK/O=eScience/CN=Jane Doe" --from 2026-03
  # how long did jobs wait, per CE and day (median, 90th percentile, max, in seconds)
  apel-query waiting --group-by ce,day --from 2026-03-01 --to 2026-03-07
  # how did jobs end, per VO and queue; failure rate of each
  apel-query states --group-by vo,queue
  # the jobs tagged campaign=mc23, per final state
  apel-query states --tag campaign=mc23 --group-by state
""",
)
@click.argument("what", type=click.Choice(["jobs", "summaries", "silent-sites", *stats.SHAPES]))
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@filter_options
@lifecycle_options
@click.option("--whole-months", is_flag=True,
              help="Widen --from and --to to the months they fall in (summaries refuse days inside a month "
                   "without it; jobs are then widened too).")
@click.option("--group-by", metavar="DIM,...",
              help="Group by site, vo, vogroup, vorole, dn, submithost (ce), infrastructure, benchmark, month, "
                   "fqan (jobs): one row per group with jobs, hours, efficiency and normalised hours. "
                   "For stats, states and waiting: user, dn, localuser, vo, ce, queue, site, batchsystem, state, "
                   "day, month, tag:KEY.")
@click.option("--days", type=int, default=7, show_default=True, help="For silent-sites: days without new jobs.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)),
              help="Output format [default: table on a terminal, else csv].")
@click.option("--limit", type=click.IntRange(1), help="At most this many rows.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many rows first (paging).")
def main(ctx, what, db_url, whole_months, group_by, days, fmt, limit, offset, local_users, queues, states, tags,
         start, end, **chosen):
    """Answer questions about the accounting data.

    WHAT is jobs (individual job records), summaries (the monthly summaries:
    fast, for figures per site, VO, user or month) or silent-sites (sites
    whose newest job is older than --days). Filters combine; --group-by turns
    records into one row per group with the job count, wall and CPU hours,
    efficiency (CPU time / (wall time x cores)) and normalised (HEPSPEC-equivalent)
    hours.

    Summaries hold whole months, so --from and --to must then be months
    (YYYY-MM, or days that begin and end months); a day inside a month is
    refused unless --whole-months widens the dates to their months. Jobs can
    be cut by day.

    stats, states and waiting are about the jobs of a site database as users
    see them (apeltools.stats): jobs by final state, failure rate (failed,
    timeout, node_fail, out_of_memory, boot_fail, deadline over the jobs whose
    state is known; cancelled and preempted jobs did not fail), waiting time
    from submission to start in seconds (median, 90th percentile, maximum),
    run time and CPU efficiency; states and waiting show only those figures.
    They take --local-user, --queue, --state and --tag too.
    """
    filters = filters_from(start=start, end=end, **chosen)
    lifecycle_given = local_users or queues or states or tags
    if lifecycle_given and what not in stats.SHAPES:
        raise click.UsageError("--local-user, --queue, --state and --tag are for stats, states and waiting")
    try:
        filters = query.filters_for(what, filters, whole_months)
    except query.MonthCut as cut:
        option, value, verb = ("--from", start, "starts") if cut.bound == "start" else ("--to", end, "ends")
        raise click.UsageError(f"summaries are monthly and cannot be cut by day: {option} {value} {verb} inside "
                               f"{cut.year:04d}-{cut.month:02d}; give months (YYYY-MM), ask for jobs, or add "
                               "--whole-months") from None
    with ctx.database(db_url, read_only=True) as db:
        require_schema(db)
        if what == "silent-sites":
            answer = query.silent_sites(db, days, current_time())
        elif what in stats.SHAPES:
            selection = selection_from(ctx.config, filters, local_users, queues, states, tags)
            answer = stats.statistics_of(read_jobs(db, selection), comma_list(group_by), what, limit, offset)
        else:
            answer = query.ask(db, what, filters, comma_list(group_by), limit, offset)
    fmt = fmt or ("table" if sys.stdout.isatty() else "csv")
    FORMATS[fmt](answer, sys.stdout)


if __name__ == "__main__":
    main()
