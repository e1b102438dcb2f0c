"""``apeltools``: every program as a subcommand, plus ``db`` and ``demo``."""

import importlib

import click

from apeltools.cli.programs import SUBCOMMANDS


def load_command(target):
    """The click command named by "module:attribute" (modules load only when needed)."""
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        target = SUBCOMMANDS.get(name)
        return load_command(target) if target else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="apeltools", message="%(prog)s %(version)s")
def main():
    """Grid accounting toolkit: parse, load, summarise, publish, send and receive
    usage records, and check that every site publishes.

    Each subcommand is also a program of its own: "apeltools load" is
    "apel-load". Start with "apeltools demo".
    """
