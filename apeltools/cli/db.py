"""``apeltools db``: create, migrate and inspect an apeltools database."""

import click

from apeltools.cli import import_apel
from apeltools.cli.common import command
from apeltools.db import schema

def _report(db, applied):
    click.echo(f"{db.url}: applied {', '.join(applied)}" if applied else f"{db.url}: already up to date")


DB_OPTION = click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")


@click.group("db", context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Create, migrate and inspect the apeltools database.

    \b
    Examples:
      apeltools db init --db sqlite:///var/lib/apeltools/apel.db
      APELTOOLS_DB_PASSWORD=... apeltools db init --db mysql://apel@localhost/apelserver
      apeltools db status --db mysql://apel@localhost/apelserver
    """


@command("init", help="Create the database (if missing) and apply every schema migration.")
@DB_OPTION
def init(ctx, db_url):
    with ctx.database(db_url) as db:
        db.create_database()
        _report(db, schema.migrate(db))


@command("migrate", help="Apply the schema migrations that the database lacks.")
@DB_OPTION
def migrate(ctx, db_url):
    with ctx.database(db_url) as db:
        _report(db, schema.migrate(db))


@command("status", help="List the schema migrations and whether each is applied.")
@DB_OPTION
def status(ctx, db_url):
    with ctx.database(db_url) as db:
        for name, applied in schema.status(db):
            click.echo(f"{'applied' if applied else 'pending'}\t{name}")


for _command in (init, migrate, status):
    main.add_command(_command)
main.add_command(import_apel.main)
