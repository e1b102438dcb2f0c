"""``apel-tag``: add, remove and list key=value tags on jobs of a site database."""

import logging
import sys

import click

from apeltools import tags as job_tags
from apeltools.cli.common import command
from apeltools.cli.query import FORMATS
from apeltools.cli.selection import filter_options, filters_from, lifecycle_options, selection_from
from apeltools.db.schema import require_schema

log = logging.getLogger(__name__)


@command(
    "apel-tag",
    epilog="""\b
Examples:
  # tag two jobs of mine
  apel-tag --job 4242 --job 4243 --add campaign=mc23 --add step=reco
  # tag every job of a user on one CE in March
  apel-tag --dn "/C=UK/O=eScience/CN=Jane Doe" --ce ce01.example.org:8443/cream-pbs-grid \\
      --from 2026-03 --to 2026-03 --add campaign=mc23
  # take a tag off again (a key alone removes it whatever its value)
  apel-tag --tag campaign=mc23 --remove campaign
  # list the tags of the jobs a filter chooses
  apel-tag --list --dn "/C=UK/O=eScience/CN=Jane Doe"
  # then ask about them
  apel-query states --tag campaign=mc23 --group-by tag:step
""",
)
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@click.option("--job", "job_ids", metavar="ID", multiple=True,
              help="A batch job id (repeatable); every one must exist. Without --job, the filters choose.")
@click.option("--add", "add", metavar="KEY=VALUE", multiple=True,
              help="Tag to add (repeatable); a key the job has already gets the new value.")
@click.option("--remove", "remove", metavar="KEY[=VALUE]", multiple=True,
              help="Tag to remove (repeatable): the key, or only that value of it.")
@click.option("--list", "listing", is_flag=True, help="List the tags of the chosen jobs instead.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)),
              help="Format of --list [default: table on a terminal, else csv].")
@filter_options
@lifecycle_options
def main(ctx, db_url, job_ids, add, remove, listing, fmt, local_users, queues, states, tags, **chosen):
    """Tag jobs with key=value labels, remove tags, or list them.

    Jobs are chosen by batch job id (--job) or by the filters apel-query
    takes (--dn, --ce, --from, --tag, ...); with neither, --add and --remove
    refuse to touch every job. Tags are checked before anything is written
    and all of them are written in one transaction: a malformed tag or an
    unknown job changes nothing. Keys are a letter or _ then letters, digits
    or _.:- (64 at most); values are up to 255 printable characters.
    """
    try:
        adding = [job_tags.parse_tag(text) for text in add]
        removing = [job_tags.parse_removal(text) for text in remove]
    except job_tags.TagError as error:
        raise click.BadParameter(str(error), param_hint="--add/--remove") from None
    filtered = any(chosen.values()) or local_users or queues or states or tags
    if listing and (adding or removing):
        raise click.UsageError("--list cannot be combined with --add or --remove")
    if not listing and not (adding or removing):
        raise click.UsageError("give --add, --remove or --list")
    if not listing and not job_ids and not filtered:
        raise click.UsageError("choose jobs with --job or with filters (--dn, --ce, --from, --tag, ...)")
    selection = selection_from(ctx.config, filters_from(**chosen), local_users, queues, states, tags)
    with ctx.database(db_url, read_only=listing) as db:
        require_schema(db)
        if listing:
            answer = job_tags.list_tags(db, job_ids, selection)
            FORMATS[fmt or ("table" if sys.stdout.isatty() else "csv")](answer, sys.stdout)
            return
        change = job_tags.change_tags(db, adding, removing, job_ids, None if job_ids else selection)
    log.info("%d jobs chosen, %d tags changed", change.jobs, change.changed)


if __name__ == "__main__":
    main()
