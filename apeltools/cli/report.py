"""``apel-report``: reports from the repository database; ``status`` writes the per-site status pages,
``monthly`` a month's accounting (HTML, text, JSON; mailed with --mail-to), ``silent-sites`` the sites
that stopped publishing, ``mail`` mails any text (a probe's warning)."""

import html
import logging
import re

import click

from apeltools import mail, query
from apeltools.cli import serve as web
from apeltools.cli.common import command, group
from apeltools.cli.selection import site_option
from apeltools.clock import parse_now
from apeltools.quoting import quote
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
@site_option("Only these sites [default: every site with summaries or sync counts].", name="sites")
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
    which check_apel_pub and check_apel_sync read with --url. index.html
    lists every site with its Pub and Sync state, worst first; the Sync page
    draws the difference per month and gives the apel-publish command that
    sends a differing month again. Files are replaced atomically, so a web
    server never serves half a page.
    """
    with ctx.database(db_url, read_only=True) as db:
        written = write_status(db, out_dir, list(sites), parse_now(now_text), months)
    log.info("wrote %d files in %s", len(written), out_dir)


def _mail_to():
    return click.option("--mail-to", "mail_to", multiple=True, metavar="ADDR",
                        help="Mail it to ADDR over SMTP as [mail] configures; repeatable.")


def _month(ctx, param, value):
    if value is None:
        return None
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise click.BadParameter(f"{quote(value)} is not a month YYYY-MM")
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
@_mail_to()
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


@command("apel-report silent-sites", epilog="""\b
Examples:
  apel-report silent-sites --days 7
  apel-report silent-sites --days 3 --mail-to accounting@example.org
""")
@click.option("--db", "db_url", metavar="URL", help="Repository database [default: [db] of the configuration].")
@click.option("--days", type=click.IntRange(1), default=7, show_default=True, help="Days without a new job.")
@_mail_to()
@click.option("--now", "now_text", hidden=True, metavar="TIME", help="Pretend the time is TIME (tests).")
def silent_sites(ctx, db_url, days, mail_to, now_text):
    """List the sites whose newest job ended more than --days days ago, and mail the list.

    The list apel-query silent-sites prints. With --mail-to it is mailed
    (text and an HTML table) only when a site is silent, so a daily cron
    job mails nothing while every site publishes.
    """
    now = parse_now(now_text)
    with ctx.database(db_url, read_only=True) as db:
        answer = query.silent_sites(db, days, int(now.timestamp()))
    rows = [[site, latest or "never", "" if since is None else str(since)] for site, latest, since in answer.rows]
    lines = [f"{len(rows)} sites without a new job for {days} days or more:" if rows else
             f"Every site had a new job within {days} days."]
    lines += [f"  {site:<24} last job end {latest:<19}  {since} days ago" if since else
              f"  {site:<24} no job end time" for site, latest, since in rows]
    text = "\n".join(lines) + "\n"
    click.echo(text, nl=False)
    if mail_to and rows:
        table = "".join(f"<tr><td>{html.escape(site)}</td><td>{html.escape(latest)}</td><td>{since}</td></tr>"
                        for site, latest, since in rows)
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Silent sites</title></head>'
                f"<body><p>{html.escape(lines[0])}</p><table><tr><th>Site</th><th>Last job end</th>"
                f"<th>Days ago</th></tr>{table}</table></body></html>\n")
        mail.send(mail.MailSettings.from_config(ctx.config), list(mail_to),
                  f"APEL: {len(rows)} sites silent for {days} days", text, page)


@command("apel-report mail", epilog="""\b
Examples:
  out=$(check_apel_cert -w 30) || echo "$out" | apel-report mail --subject "Host certificate" --mail-to ops@example.org
  apel-report mail --subject "Report" --mail-to ops@example.org --file report.txt
""")
@click.option("--subject", required=True, help="The mail's subject.")
@click.option("--file", "path", type=click.File("r", encoding="utf-8"), default="-", show_default=True,
              metavar="FILE", help="The text to send (- for standard input).")
@click.option("--mail-to", "mail_to", multiple=True, required=True, metavar="ADDR",
              help="Mail to ADDR over SMTP as [mail] configures; repeatable.")
def mail_text(ctx, subject, path, mail_to):
    """Mail a text, such as a probe's warning, over the SMTP server of [mail].

    For check_apel_cert's expiry warnings from cron: the probe exits
    non-zero on WARNING and CRITICAL, and its output is mailed. Nothing is
    sent for an empty text.
    """
    text = path.read()
    if text.strip():
        mail.send(mail.MailSettings.from_config(ctx.config), list(mail_to), subject, text)


@command("apel-report serve", epilog="""\b
Examples:
  apel-report serve --db mysql://apel@db.example.org/apelserver --bind 127.0.0.1:8080 --workers 4
  curl -H 'X-SSL-Client-S-DN: CN=alice,O=eScience,C=UK' 'http://127.0.0.1:8080/jobs?vo=atlas&format=csv'
""")
@click.option("--db", "db_url", metavar="URL", help="Database [default: [db] of the configuration].")
@click.option("--bind", metavar="HOST:PORT", help="Where to listen [default: [serve] bind, else 127.0.0.1:8080].")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes [default: [serve] workers, else 2].")
def serve(ctx, db_url, bind, workers):
    """Serve a read-only web view of jobs and summaries.

    Behind a web server that checks client certificates and passes the
    subject DN in the header [serve] dn_header (default X-SSL-Client-S-DN;
    it must replace any such header from a client). A user sees their own
    jobs and summaries; the DNs listed in [serve] admin_dn_file see all.
    /jobs and /summaries take apel-query's filters as parameters (site,
    ce, vo, dn, fqan, infrastructure, from, to), sort and desc, page and
    per_page (default 100), and format=csv or json. Served by gunicorn.
    """
    config = ctx.config
    with ctx.database(db_url, read_only=True):
        pass  # a database that cannot be opened stops here, not at the first request
    settings = web.Settings(db_url or config.db_url(), config.db_password(),
                            web.read_admin_dns(config.get("serve", "admin_dn_file")),
                            config.get("serve", "dn_header", web.DN_HEADER))
    web.run(web.create_app(settings), bind or config.get("serve", "bind", "127.0.0.1:8080"),
            workers or int(config.get("serve", "workers", "2")))


main.add_command(status, "status")
main.add_command(monthly, "monthly")
main.add_command(silent_sites, "silent-sites")
main.add_command(mail_text, "mail")
main.add_command(serve, "serve")

if __name__ == "__main__":
    main()
