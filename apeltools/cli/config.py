"""``apeltools config``: print a configuration value as the programs see it (for scripts such as apel-site-run)."""

import click

from apeltools.cli.common import command
from apeltools.config import FALSE, TRUE
from apeltools.errors import ConfigError


@command(
    "config",
    epilog="""\b
Examples:
  apeltools config --config /etc/apel/client.cfg unloader dir_location
  apeltools config --config /etc/apel/client.cfg --bool --default true joiner enabled
  APELTOOLS_SSM_ENABLED=false apeltools config --config client.cfg --bool ssm enabled   # false
""",
)
@click.argument("section")
@click.argument("key")
@click.option("--default", metavar="VALUE", help="Printed when the key is not set [default: fail].")
@click.option("--bool", "as_bool", is_flag=True,
              help="Read the value as true/false (yes/no, on/off, 1/0) and print true or false.")
def main(ctx, section, key, default, as_bool):
    """Print the value of KEY in [SECTION]: from APELTOOLS_<SECTION>_<KEY> in the
    environment, else the configuration file, else --default. Exits 1 when
    the key is not set and there is no default, or when --bool is given a
    value that is not true or false.
    """
    value = ctx.config.get(section, key, default)
    if value is None:
        raise click.ClickException(f"[{section}] {key} is not set in {ctx.config.path or 'the configuration'}")
    if as_bool:
        lowered = value.strip().lower()
        if lowered not in TRUE | FALSE:
            raise ConfigError(f"[{section}] {key} must be true or false, not {value!r}")
        value = "true" if lowered in TRUE else "false"
    click.echo(value)
