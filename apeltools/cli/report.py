"""``apel-report``: reports from the repository database; ``status`` writes the per-site status pages."""

import logging

import click

from apeltools.cli.common import command
from apeltools.clock import parse_now
from apeltools.reports.status import write_status

log = logging.getLogger(__name__)


@click.group("apel-report", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="""\b
Examples:
  apel-report status --db mysql://apel@db.example.org/apelserver --out /var/www/html/status
  apel-report status --db sqlite:///var/lib/apeltools/apel.db --out status --site SITE-A
""")
def main():
    """Reports on what the repository holds."""


@command("apel-report status", epilog="""\b
Examples:
  apel-report status --db mysql://apel@db.example.org/apelserver --out /var/www/html/status
  apel-report status --db sqlite:///var/lib/apeltools/apel.db --out status --site SITE-A --months 12
  check_apel_pub --site SITE-A --url https://accounting.example.org/status/   # reads SITE-A.json
""")
@click.option("--db", "db_url", metavar="URL", help="Repository database [default: [db] of the configuration].")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Directory for the pages (created if missing).")
@click.option("--site", "sites", multiple=True, metavar="SITE",
              help="Only this site; repeatable [default: every site with summaries or sync counts].")
@click.option("--months", type=click.IntRange(1, 120), default=6, show_default=True,
              help="Months of the Sync pages, ending with the current one.")
@click.option("--now", "now_text", hidden=True, metavar="TIME", help="Pretend the time is TIME (tests).")
def status(ctx, db_url, out_dir, sites, months, now_text):
    """Write per-site APEL-Pub and APEL-Sync status pages and JSON.

    For each site writes <SITE>_Pub.html (OK up to 7 days since the newest
    job end time, WARN above, ERROR above 31 days or with no data),
    <SITE>_Sync.html (per month and submit host, the repository's job count
    against the site's sync count: OK below 1 % difference, else ERROR
    "Please use the Gap Publisher to synchronise this dataset"; months
    present on one side only and zero counts are shown) and <SITE>.json,
    which check_apel_pub and check_apel_sync read with --url. Files are
    replaced atomically, so a web server never serves half a page.
    """
    with ctx.database(db_url, read_only=True) as db:
        written = write_status(db, out_dir, list(sites), parse_now(now_text), months)
    log.info("wrote %d files in %s", len(written), out_dir)


main.add_command(status, "status")

if __name__ == "__main__":
    main()
