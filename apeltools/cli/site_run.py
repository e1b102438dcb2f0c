"""``apel-site-run``: a site's accounting run for cron, parse → join → summarise → publish → send."""

import click

from apeltools import site_run
from apeltools.cli.common import command


@command(
    "apel-site-run",
    default_config=site_run.DEFAULT_CONFIG,
    warn_unknown=False,  # each step's program warns about the file's unknown keys: once each is enough
    hidden_aliases={"--config": ("-c",)},  # its shell version's -c: existing cron lines keep working
    epilog="""\b
Examples:
  apel-site-run --config /etc/apeltools/site.cfg
  apel-site-run --config /etc/apel/client.cfg --parser-config /etc/apel/parser.cfg \\
                --sender-config /etc/apel/sender.cfg
""",
)
@click.option("--parser-config", metavar="FILE",
              help="Configuration of the parse step, e.g. /etc/apel/parser.cfg [default: --config].")
@click.option("--sender-config", metavar="FILE",
              help="Configuration of the send step, e.g. /etc/apel/sender.cfg [default: --config].")
@click.option("--lock", metavar="FILE",
              help="Lock file that keeps two runs apart [default: $TMPDIR/apel-site-run-<uid>.lock].")
def main(ctx, parser_config, sender_config, lock):
    """Parse the configured batch and CE (blah) logs into the site database, join them into job
    records, summarise them, publish jobs or summaries (always with sync records) to the outgoing
    queue, and send them. Quiet when all is well; -v tells what each step does, and is passed on
    to the steps (as -q is).

    \b
    Steps and what decides them:
      parse      apel-parse: [blah], [batch] and each [parser:NAME] of the parser configuration
      join       apel-join: unless [joiner] enabled = false
      summarise  apel-summarise: always (the sync records are counted from the summaries)
      publish    apel-publish: unless [unloader] enabled = false; summaries when
                 [unloader] send_summaries = true, else jobs; --local-jobs when [joiner] local_jobs
      send       apel-send: unless [ssm] enabled = false, with the sender configuration

    The first step that fails stops the run with its exit status; each step is safe to run again,
    so the next run catches up.
    """
    settings = site_run.SiteRunSettings.from_config(ctx.config, parser_config, sender_config, lock)
    options = click.get_current_context().params  # the common options, which the steps take too
    passed_on = ["-v"] * min(options["verbose"], 2) + (["-q"] if options["quiet"] else [])
    try:
        site_run.run(settings, passed_on)
    except site_run.StepFailed as failed:
        click.echo(f"apel-site-run: {failed}", err=True)
        raise SystemExit(failed.status) from None


if __name__ == "__main__":
    main()
