"""``apeltools config``: print a configuration value as the programs see it (for scripts such as
apel-site-run), and check configuration files for keys no program reads."""

import click

from apeltools import config_keys
from apeltools.cli.common import command, handled
from apeltools.config import FALSE, TRUE, Config
from apeltools.errors import ConfigError
from apeltools.quoting import quote


class DefaultGet(click.Group):
    """``apeltools config [OPTIONS] SECTION KEY`` is short for ``apeltools config get ...``, as
    scripts have called it."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["get", *args]
        return super().parse_args(ctx, args)


@click.group("config", cls=DefaultGet, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="""\b
Examples:
  apeltools config --config /etc/apel/client.cfg unloader dir_location
  apeltools config check /etc/apel/*.cfg
""")
def main():
    """Print a configuration value as the programs see it (get, also without
    its name: "apeltools config SECTION KEY"), or check configuration files
    for sections, keys and values that no program reads or accepts (check).
    """


@command(
    "get",
    epilog="""\b
Examples:
  apeltools config get --config /etc/apel/client.cfg unloader dir_location
  apeltools config --config /etc/apel/client.cfg --bool --default true joiner enabled
  APELTOOLS_SSM_ENABLED=false apeltools config --config client.cfg --bool ssm enabled   # false
""",
)
@click.argument("section")
@click.argument("key")
@click.option("--default", metavar="VALUE", help="Printed when the key is not set [default: fail].")
@click.option("--bool", "as_bool", is_flag=True,
              help="Read the value as true/false (yes/no, on/off, 1/0) and print true or false.")
def get(ctx, section, key, default, as_bool):
    """Print the value of KEY in [SECTION]: from APELTOOLS_<SECTION>_<KEY> in the
    environment, else the configuration file, else --default. Exits 1 when
    the key is not set and there is no default, or when --bool is given a
    value that is not true or false. "apeltools config SECTION KEY" is short
    for "apeltools config get SECTION KEY".
    """
    value = ctx.config.get(section, key, default)
    if value is None:
        raise click.ClickException(f"[{section}] {key} is not set in {ctx.config.path or 'the configuration'}")
    if as_bool:
        lowered = value.strip().lower()
        if lowered not in TRUE | FALSE:
            raise ConfigError(f"[{section}] {key} must be true or false, not {quote(value)}")
        value = "true" if lowered in TRUE else "false"
    click.echo(value)


@click.command(
    "check",
    epilog="""\b
Examples:
  apeltools config check /etc/apeltools/apeltools.cfg
  apeltools config check /etc/apel/*.cfg && systemctl restart apel-load
""",
)
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def check(files, debug):
    """Check configuration FILEs: list on stdout each section and key that no
    program reads (with the known key nearest to it) and each value that the
    programs would refuse (booleans, numbers, absolute paths, URLs, dates and
    the values of keys with a fixed set). Exits 0 when every file is clean, 1
    when anything is listed or a file cannot be read. The environment is not
    consulted: this checks the files.
    """
    with handled(debug):
        problems = [problem for path in files
                    for problem in config_keys.check(Config.load(path, environ={}).parser, path)]
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.exceptions.Exit(1)


main.add_command(get)
main.add_command(check)
