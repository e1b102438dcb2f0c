"""The options that choose jobs, one vocabulary for apel-query, apel-tag and apel-export."""

import functools

import click

from apeltools import query
from apeltools.values import comma_list, day_or_month_end, day_or_month_start
from apeltools.lifecycle import FINAL_STATES, JobSelection
from apeltools.tags import TagError, parse_tag


def filter_options(function):
    """--site, --ce, --vo, --dn, --fqan, --infrastructure, --from, --to."""
    options = [
        click.option("--site", metavar="NAME,...", help="Only these sites."),
        click.option("--ce", "--submit-host", "submit_hosts", metavar="HOST,...",
                     help="Only these submit hosts (CEs)."),
        click.option("--vo", metavar="VO,...", help="Only these VOs."),
        click.option("--dn", "dns", metavar="DN", multiple=True, help="Only this user DN (repeatable)."),
        click.option("--fqan", "fqans", metavar="FQAN", multiple=True, help="Only this FQAN (jobs; repeatable)."),
        click.option("--infrastructure", type=click.Choice(["grid", "local"]), help="Only grid or only local jobs."),
        click.option("--from", "start", metavar="DATE", help="First month (YYYY-MM) or day (YYYY-MM-DD)."),
        click.option("--to", "end", metavar="DATE", help="Last month (YYYY-MM) or day (YYYY-MM-DD), included."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), function)


def lifecycle_options(function):
    """--local-user, --queue, --state, --tag: conditions on a site database's batch records."""
    options = [
        click.option("--local-user", "local_users", metavar="USER,...",
                     help="Only jobs of these local accounts (site database)."),
        click.option("--queue", "queues", metavar="QUEUE,...",
                     help="Only jobs of these queues/partitions (site database)."),
        click.option("--state", "states", metavar="STATE,...",
                     help=f"Only jobs that ended in these final states: {', '.join(FINAL_STATES)} (site database)."),
        click.option("--tag", "tags", metavar="KEY=VALUE", multiple=True,
                     help="Only jobs with this tag (repeatable: all of them; site database)."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), function)


def filters_from(site=None, submit_hosts=None, vo=None, dns=(), fqans=(), infrastructure=None, start=None,
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
        raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(FINAL_STATES)}", param_hint="--state")
    return JobSelection(filters=filters, local_users=comma_list(local_users), queues=comma_list(queues),
                        states=chosen_states, job_ids=tuple(job_ids), tags=wanted_tags,
                        site=config.get("site_info", "site_name") or None)
