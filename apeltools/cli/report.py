"""``apel-report``: reports from the repository database; ``status`` writes the per-site status pages,
``monthly`` a month's accounting (HTML, text, JSON; mailed with --mail-to)."""

import logging
import re

import click

from apeltools import mail
from apeltools.cli.common import command, group
from apeltools.clock import parse_now
from apeltools.reports.monthly import last_complete_month, monthly_report, write_report
from apeltools.reports.status import write_status

log = logging.getLogger(__name__)


@group("apel-report", epilog="""\b
Examples:
  apel-report status --db mysql://apel@db.example.org/apelserver --out /var/www/html/status
  apel-report status --db sqlite:///var/lib/apeltools/apel.db --out status --site SITE-A
  apel-report monthly --out /var/lib/apeltools/reports --mail-to accounting@example.org
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


def _month(ctx, param, value):
    if value is None:
        return None
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise click.BadParameter(f"{value!r} is not a month YYYY-MM")
    return int(value[:4]), int(value[5:])


@command("apel-report monthly", epilog="""\b
Examples:
  apel-report monthly --out /var/lib/apeltools/reports
  apel-report monthly --db sqlite:///var/lib/apeltools/site.db --out reports --month 2026-10 --top 20
  apel-report monthly --out reports --mail-to accounting@example.org --mail-to manager@example.org
""")
@click.option("--db", "db_url", metavar="URL", help="Site or repository database [default: [db] of the configuration].")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Directory for the report (created if missing).")
@click.option("--month", "month", callback=_month, metavar="YYYY-MM", help="The month [default: the last complete one].")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Users listed by name.")
@click.option("--mail-to", "mail_to", multiple=True, metavar="ADDR",
              help="Mail the report (text and HTML) to ADDR over SMTP as [mail] configures; repeatable.")
@click.option("--now", "now_text", hidden=True, metavar="TIME", help="Pretend the time is TIME (tests).")
def monthly(ctx, db_url, out_dir, month, top, mail_to, now_text):
    """Write a month's accounting as HTML, plain text and JSON, and mail it.

    Totals and the change against the previous month; jobs, wall-clock
    hours, normalised hours and CPU efficiency per VO, per site (on a
    repository) or CE (on a site's database), for the top users and per
    day; on a site's database also how jobs ended and how long they waited.
    The HTML carries its charts as inline SVG: it needs no network and reads
    in a mail client. Prints the paths written. With --mail-to the report is
    written first, so a mail server that is down or refuses leaves it on disk
    (the exit status is then non-zero).
    """
    now = parse_now(now_text)
    year, number = month or last_complete_month(now)
    settings = mail.MailSettings.from_config(ctx.config) if mail_to else None
    with ctx.database(db_url, read_only=True) as db:
        report = monthly_report(db, year, number, now, top)
    paths = write_report(report, out_dir)
    for path in paths.values():
        click.echo(path)
    if settings:
        with open(paths["text"], encoding="utf-8") as text, open(paths["html"], encoding="utf-8") as html:
            mail.send(settings, list(mail_to), f"APEL accounting for {report['month']}", text.read(), html.read())
        log.info("mailed the report to %s", ", ".join(mail_to))


main.add_command(status, "status")
main.add_command(monthly, "monthly")

if __name__ == "__main__":
    main()
