"""``apeltools demo``: the whole job on embedded defaults (SQLite, local queues) in one command."""

import click

from apeltools.demo import pipeline as demo
from apeltools.cli.common import command


@command(
    "demo",
    epilog="""\b
Examples:
  apeltools demo                     # in a new temporary directory
  apeltools demo --dir ./apel-demo   # somewhere to look at afterwards
""",
)
@click.option("--dir", "directory", metavar="DIR", type=click.Path(file_okay=False),
              help="Directory for the demo's queues and database: new, empty, or one an earlier demo ran in "
                   "(emptied first, so that a rerun tells the same figures) [default: a new temporary one].")
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the made-up data.")
def main(ctx, directory, seed):
    """Run the accounting pipeline on made-up data, with nothing to set up.

    Generates last month's accounting messages from three made-up sites (job
    records, monthly summaries and sync counts), queues them as the receiver
    would, loads them into a new SQLite database, and prints what happened and
    what to try next.
    """
    click.echo(demo.report(demo.run(directory, seed)))
