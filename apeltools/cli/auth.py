"""``apel-auth``: build the receiver's DN list (and the DN → sites map) from GOCDB."""

import datetime as dt
import logging

import click

from apeltools.authz import gocdb
from apeltools.authz.sitemap import default_path
from apeltools.authz.update import DEFAULT_MAX_AGE, DEFAULT_MAX_SHRINK, AuthSettings, update
from apeltools.cli.common import command
from apeltools.errors import ApelError
from apeltools.clock import parse_now

log = logging.getLogger(__name__)

DEFAULT_DN_FILE = "/etc/apel/dns"


def _split(value):
    return [item.strip() for item in (value or "").replace(",", " ").split() if item.strip()]


@command(
    "apel-auth",
    epilog="""\b
Examples:
  apel-auth --config /etc/apel/auth.cfg
  apel-auth --gocdb-url https://goc.egi.eu/gocdbpi/public/ \\
            --gocdb-url https://gocdb-mirror.example.org/gocdbpi/public/ \\
            --extra-dns /etc/apel/extra-dns --banned-dns /etc/apel/banned-dns --dn-file /etc/apel/dns
  apel-auth --config auth.cfg --dn-file -           # show the list, install nothing
  apel-auth --config auth.cfg --force               # install a list that lost many DNs
""",
)
@click.option("--gocdb-url", "urls", multiple=True, metavar="URL",
              help="GOCDB PI URL; repeat for secondary URLs tried in order [default: [auth] gocdb_url, then "
                   f"[auth] secondary-urls; else {gocdb.DEFAULT_URL}].")
@click.option("--service-type", "service_types", multiple=True, metavar="TYPE",
              help="GOCDB service type whose host DNs may publish; repeatable [default: [auth] service-types, "
                   f"the type in gocdb_url, else {gocdb.DEFAULT_SERVICE_TYPE}].")
@click.option("--extra-dns", metavar="FILE", help="DNs to add (may publish for any site) [default: [auth] extra-dns].")
@click.option("--banned-dns", metavar="FILE", help="DNs never to list [default: [auth] banned-dns].")
@click.option("--dn-file", metavar="FILE|-",
              help=f"DN list to write; - prints it and installs nothing [default: [auth] dn-file, else "
                   f"{DEFAULT_DN_FILE}].")
@click.option("--site-map", metavar="FILE",
              help="DN → sites map (JSON) for apel-load --check-site [default: [auth] site-map, else "
                   "<dn-file>.sites.json].")
@click.option("--proxy", metavar="URL", help="HTTP proxy for GOCDB [default: [auth] proxy].")
@click.option("--timeout", type=float, metavar="SECONDS",
              help="Longest time a GOCDB request may take, connection and whole answer included "
                   f"[default: [auth] timeout, else {gocdb.DEFAULT_TIMEOUT:g}].")
@click.option("--max-age", type=float, metavar="HOURS",
              help="While GOCDB is unreachable the list is kept; after this long, fail loudly "
                   f"[default: [auth] max-age, else {DEFAULT_MAX_AGE.total_seconds() / 3600:g}].")
@click.option("--max-shrink", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Refuse a new list that drops more than this share of the installed DNs "
                   f"[default: [auth] max-shrink, else {DEFAULT_MAX_SHRINK * 100:g}].")
@click.option("--force", is_flag=True, help="Install the new list however many DNs it drops.")
@click.option("--production-only", is_flag=True, default=None,
              help="Only endpoints GOCDB marks IN_PRODUCTION [default: [auth] production-only, else all].")
@click.option("--now", "now_text", hidden=True, metavar="TIME", help="Pretend the time is TIME (tests).")
def main(ctx, urls, service_types, extra_dns, banned_dns, dn_file, site_map, proxy, timeout, max_age,
         max_shrink, force, production_only, now_text):
    """Write the list of host DNs authorised to send accounting messages.

    Reads the host DNs of every GOCDB endpoint of the service types (all
    pages), adds the extra DNs, removes the banned DNs, converts comma-form
    DNs to slash form, drops invalid ones with a warning, sorts them and
    writes the DN file that apel-receive reads, atomically (a temporary file
    renamed over the old one). Also writes the DN → sites map used by
    apel-load --check-site.

    When GOCDB cannot be reached (each URL in turn, every request ended after
    --timeout seconds however slowly it answers) the list is rebuilt from the
    last good GOCDB answer, so no site is dropped; this is quiet until the
    answer is older than --max-age, then every run fails loudly. A new list
    that drops more than --max-shrink percent of the installed DNs is not
    installed without --force.
    Reads the existing auth.cfg ([auth] gocdb_url, extra-dns, banned-dns,
    dn-file, proxy; interval is accepted and unused: run apel-auth from cron).
    """
    config = ctx.config
    get = lambda key, default=None: config.get("auth", key, default)  # noqa: E731
    urls = list(urls) or [u for u in [get("gocdb_url")] + _split(get("secondary-urls")) if u] or [gocdb.DEFAULT_URL]
    service_types = list(service_types) or _split(get("service-types")) or [
        gocdb.service_type_of(urls[0]) or gocdb.DEFAULT_SERVICE_TYPE]
    dn_file = dn_file or get("dn-file") or DEFAULT_DN_FILE
    if production_only is None:
        production_only = config.get_bool("auth", "production-only", False)
    max_age = dt.timedelta(hours=max_age if max_age is not None else
                           config.get_float("auth", "max-age", DEFAULT_MAX_AGE.total_seconds() / 3600))
    if max_shrink is None:
        max_shrink = config.get_float("auth", "max-shrink", DEFAULT_MAX_SHRINK * 100)
    settings = AuthSettings(
        urls=urls,
        dn_file=dn_file,
        site_map=site_map or get("site-map") or (None if dn_file == "-" else default_path(dn_file)),
        service_types=service_types,
        extra_file=extra_dns or get("extra-dns"),
        banned_file=banned_dns or get("banned-dns"),
        proxy=proxy or get("proxy") or None,
        timeout=timeout or config.get_float("auth", "timeout", gocdb.DEFAULT_TIMEOUT),
        max_shrink=max_shrink / 100,
        force=force,
        production_only=production_only,
    )
    now = parse_now(now_text)
    outcome = update(settings, now)
    if outcome.gocdb_error is None:
        log.info("%s: %d DNs (%d from GOCDB %s, %d extra, %d banned)", dn_file, outcome.dns,
                 outcome.from_gocdb, outcome.source, outcome.extra, outcome.banned)
        return
    age = outcome.age(now)
    hours = age.total_seconds() / 3600
    if age > max_age:
        raise ApelError(
            f"GOCDB has not answered for {hours:.1f} hours (more than --max-age "
            f"{max_age.total_seconds() / 3600:g}): {dn_file} still holds the {outcome.from_gocdb} GOCDB DNs "
            f"of {outcome.source}. Fix GOCDB access: {outcome.gocdb_error}"
        )
    log.info("%s; kept the %d GOCDB DNs of %s (%.1f hours old) with the current extra and banned DNs",
             outcome.gocdb_error, outcome.from_gocdb, outcome.source, hours)


if __name__ == "__main__":
    main()
