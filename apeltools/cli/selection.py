"""The options that choose records, one vocabulary for every program: --site, --vo, --exclude-vo,
--from, --to (each list option repeatable and taking comma lists), and the job conditions of
apel-query, apel-tag and apel-export."""

import functools

import click

from apeltools import query
from apeltools.cli.common import list_option
from apeltools.quoting import quote
from apeltools.values import comma_list, day_or_month_end, day_or_month_start
from apeltools.lifecycle import FINAL_STATES, JobSelection
from apeltools.tags import TagError, parse_tag


def _apply(options, function):
    return functools.reduce(lambda f, option: option(f), reversed(options), function)


def site_option(text: str = "Only these sites.", name: str = "site"):
    """--site NAME,...: repeatable, comma lists too; ``text`` says what the sites are for."""
    return list_option("--site", name, metavar="NAME,...", help=f"{text} Repeatable; comma lists too.")


def vo_options(function):
    """--vo and --exclude-vo (old names --include-vos and --exclude-vos)."""
    return _apply([
        list_option("--vo", "vos", metavar="VO,...", help="Only these VOs; repeatable, comma lists too."),
        list_option("--exclude-vo", "exclude_vos", metavar="VO,...",
                    help="All but these VOs; repeatable, comma lists too."),
    ], function)


def date_options(function):
    """--from and --to (old names --start and --end), as ``start`` and ``end``."""
    return _apply([
        click.option("--from", "start", metavar="DATE", help="First day (YYYY-MM-DD) or month (YYYY-MM)."),
        click.option("--to", "end", metavar="DATE", help="Last day (YYYY-MM-DD) or month (YYYY-MM), included."),
    ], function)


def filter_options(function):
    """--site, --ce, --vo, --dn, --fqan, --infrastructure, --from, --to."""
    return _apply([
        site_option(),
        list_option("--ce", "--submit-host", "submit_hosts", metavar="HOST,...",
                    help="Only these submit hosts (CEs); repeatable, comma lists too."),
        list_option("--vo", metavar="VO,...", help="Only these VOs; repeatable, comma lists too."),
        click.option("--dn", "dns", metavar="DN", multiple=True, help="Only this user DN (repeatable)."),
        click.option("--fqan", "fqans", metavar="FQAN", multiple=True, help="Only this FQAN (jobs; repeatable)."),
        click.option("--infrastructure", type=click.Choice(["grid", "local"]), help="Only grid or only local jobs."),
        date_options,
    ], function)


def lifecycle_options(function):
    """--local-user, --queue, --state, --tag: conditions on a site database's batch records."""
    return _apply([
        list_option("--local-user", "local_users", metavar="USER,...",
                    help="Only jobs of these local accounts (site database)."),
        list_option("--queue", "queues", metavar="QUEUE,...",
                    help="Only jobs of these queues/partitions (site database)."),
        list_option("--state", "states", metavar="STATE,...",
                    help=f"Only jobs that ended in these final states: {', '.join(FINAL_STATES)} (site database)."),
        click.option("--tag", "tags", metavar="KEY=VALUE", multiple=True,
                     help="Only jobs with this tag (repeatable: all of them; site database)."),
    ], function)


def filters_from(site=(), submit_hosts=(), vo=(), dns=(), fqans=(), infrastructure=None, start=None,
                 end=None) -> query.Filters:
    """apel-query's filters from the values of ``filter_options``."""
    return query.Filters(
        sites=comma_list(site), submit_hosts=comma_list(submit_hosts), vos=comma_list(vo), dns=tuple(dns),
        fqans=tuple(fqans), infrastructure=infrastructure, start=day_or_month_start(start) if start else None,
        end=day_or_month_end(end) if end else None)


def selection_from(config, filters: query.Filters, local_users=None, queues=None, states=None, tags=(),
                   job_ids=()) -> JobSelection:
    """A job selection from the options' values; the site is the database's ([site_info] site_name)."""
    try:
        wanted_tags = tuple(parse_tag(text) for text in tags)
    except TagError as error:
        raise click.BadParameter(str(error), param_hint="--tag") from None
    chosen_states = comma_list(states)
    unknown = [s for s in chosen_states if s not in FINAL_STATES]
    if unknown:
        raise click.BadParameter(f"{quote(unknown[0])} is not one of {', '.join(FINAL_STATES)}", param_hint="--state")
    return JobSelection(filters=filters, local_users=comma_list(local_users), queues=comma_list(queues),
                        states=chosen_states, job_ids=tuple(job_ids), tags=wanted_tags,
                        site=config.get("site_info", "site_name") or None)
