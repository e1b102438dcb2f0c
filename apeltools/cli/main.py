"""``apeltools``: every program as a subcommand, plus ``db`` and ``demo``."""

import importlib

import click

# Subcommand → "module:command"; modules are imported only when their command runs.
SUBCOMMANDS = {
    "load": "apeltools.cli.load:main",
    "send": "apeltools.cli.send:main",
    "receive": "apeltools.cli.receive:main",
    "db": "apeltools.cli.db:main",
    "demo": "apeltools.cli.demo:main",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except ImportError:
            return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="apeltools", message="%(prog)s %(version)s")
def main():
    """Grid accounting toolkit: parse, load, summarise, publish, send and receive
    usage records, and check that every site publishes.

    Each subcommand is also a program of its own: "apeltools load" is
    "apel-load". Start with "apeltools demo".
    """
