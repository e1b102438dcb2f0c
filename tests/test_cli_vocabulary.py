"""One option vocabulary across programs (issue 13 B10): every registered command is walked, and the
renamed options still work under their old names, hidden, so existing cron lines keep working."""

import random
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.cli.common import HIDDEN_ALIASES
from apeltools.cli.main import load_command
from apeltools.cli.programs import CONSOLE_SCRIPTS, MAN_PAGES
from apeltools.db.schema import migrate
from apeltools.probes.runtime import ProbeCommand
from apeltools.records.types import JOB
from tests.test_summariser import job

ROOT = Path(__file__).resolve().parents[1]
OLD_DATE_NAMES = {"--start", "--end", "--since", "--until", "--begin"}
LIST_OPTIONS = {"--site", "--vo", "--exclude-vo"}


def leaves(name, command):
    """(name, command) of a command and, for a group, of each of its subcommands (those of
    ``apeltools`` are the programs, walked under their own names)."""
    if isinstance(command, click.Group):
        yield name, command
        for sub_name, sub in command.commands.items() if name != "apeltools" else ():
            yield from leaves(f"{name} {sub_name}", sub)
    else:
        yield name, command


COMMANDS = sorted({name: command for program, target in MAN_PAGES.items()
                   for name, command in leaves(program, load_command(target))}.items())


def visible_names(command):
    return {opt for p in command.params if isinstance(p, click.Option) and not p.hidden
            for opt in p.opts + p.secondary_opts}


@pytest.mark.parametrize("name", sorted(CONSOLE_SCRIPTS))
def test_every_installed_program_and_probe_tells_its_version(name):
    result = subprocess.run([name, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "0.1.0" in result.stdout, result.stdout + result.stderr
    if isinstance(load_command(CONSOLE_SCRIPTS[name]), ProbeCommand):  # Nagios' plugin guidelines: -V
        short = subprocess.run([name, "-V"], capture_output=True, text=True)
        assert (short.returncode, short.stdout) == (0, result.stdout)


@pytest.mark.parametrize("name,command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_speaks_the_one_vocabulary(name, command):
    shown = CliRunner().invoke(command, ["--help"], prog_name=name)
    assert shown.exit_code == 0, shown.output
    if name in MAN_PAGES and name != "apeltools":  # a page of its own: its example goes there
        assert "Example" in shown.output, shown.output
    names = visible_names(command)
    assert not names & OLD_DATE_NAMES, "dates are --from/--to"
    old_names = {old for olds in HIDDEN_ALIASES.values() for old in olds}
    assert not names & old_names and not any(f"{old} " in shown.output for old in old_names)
    for param in command.params:  # a list of sites or VOs is given repeated, or as a comma list, or both
        if isinstance(param, click.Option) and param.multiple and set(param.opts) & LIST_OPTIONS:
            assert param.process_value(click.Context(command), ("A,B", "C")) == ("A", "B", "C"), param.opts
    if isinstance(command, ProbeCommand):
        assert {"-V", "--version", "--config"} <= names
        assert all("--critical" in p.opts for p in command.params if "-c" in p.opts)  # Nagios' -c only
    elif name == "apeltools config check":  # checks the files it is given; reads no configuration
        assert "-c" not in names and "--debug" in names
    elif not isinstance(command, click.Group):
        assert {"--version", "--config", "-v", "-q", "--debug"} <= names
        assert "-c" not in names, "-c is never --config in a program"
        for new, olds in HIDDEN_ALIASES.items():
            if new in names:  # each renamed option answers to its old names too
                assert set(olds) <= set(command.hidden_aliases.get(new, ())), (new, olds)
    elif name in CONSOLE_SCRIPTS:  # a program's group; `apeltools db` and `apeltools config` are not
        assert "--version" in names


def published(db_url, *options):
    result = subprocess.run(["apel-publish", "jobs", "--db", db_url, "--stdout", "--interval", "gap",
                             "--local-jobs", "--no-sync", *options], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return sorted(line for line in result.stdout.splitlines() if line.startswith("LocalJobId"))


def test_apel_publish_takes_from_to_and_repeated_or_comma_vos_and_still_its_old_names(db_url):
    rng = random.Random(3)
    with databases.connect(db_url) as db:
        db.store(JOB, [job(rng, "SITE-A", 2026, 8, 1, FQAN="/atlas", VO="atlas"), job(rng, "SITE-A", 2026, 9, 2, FQAN="/atlas", VO="atlas"),
                       job(rng, "SITE-A", 2026, 9, 3, FQAN="/cms", VO="cms"), job(rng, "SITE-A", 2026, 9, 4, FQAN="/lhcb", VO="lhcb")],
                 "/CN=apel.example.org")
    two = ["LocalJobId: 2", "LocalJobId: 3"]
    assert published(db_url, "--from", "2026-09", "--to", "2026-09", "--vo", "atlas", "--vo", "cms") == two
    assert published(db_url, "--from", "2026-09", "--to", "2026-09", "--vo", "atlas,cms") == two
    assert published(db_url, "--start", "2026-09", "--end", "2026-09", "--include-vos", "atlas,cms") == two
    assert published(db_url, "--from", "2026-09", "--to", "2026-09", "--exclude-vo", "lhcb") == two
    assert published(db_url, "--from", "2026-09", "--to", "2026-09", "--exclude-vos", "lhcb,atlas") == [
        "LocalJobId: 3"]
    gap = subprocess.run(["apel-publish", "jobs", "--db", db_url, "--stdout", "--interval", "gap"],
                         capture_output=True, text=True)
    assert gap.returncode == 2 and "--interval gap needs --from and --to" in gap.stderr


def test_apel_query_takes_repeated_or_comma_sites_and_an_unknown_group_is_a_usage_error(tmp_path):
    url = f"sqlite:///{tmp_path}/repository.db"
    rng = random.Random(4)
    with databases.connect(url) as db:
        migrate(db)
        db.store(JOB, [job(rng, site, 2026, 9, n) for n, site in enumerate(["SITE-A", "SITE-B", "SITE-C"])],
                 "/CN=apel.example.org")

    def query(*options):
        return subprocess.run(["apel-query", "jobs", "--db", url, "--group-by", "site", "--format", "csv",
                               *options], capture_output=True, text=True)

    repeated, commas = query("--site", "SITE-A", "--site", "SITE-C"), query("--site", "SITE-A,SITE-C")
    assert repeated.returncode == 0, repeated.stderr
    assert repeated.stdout == commas.stdout and "SITE-A" in commas.stdout and "SITE-B" not in commas.stdout
    unknown = query("--group-by", "sites")
    assert unknown.returncode == 2 and "sites" in unknown.stderr


def test_apel_report_takes_the_common_options_on_the_group_and_its_subcommands():
    version = subprocess.run(["apel-report", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "0.1.0" in version.stdout
    for sub in ("status", "monthly"):
        shown = subprocess.run(["apel-report", sub, "--help"], capture_output=True, text=True).stdout
        assert all(option in shown for option in ("--config", "-v, --verbose", "-q, --quiet", "--debug"))


def test_apel_site_run_is_a_program_like_the_others_and_keeps_its_old_c(tmp_path):
    shown = subprocess.run(["apel-site-run", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--config FILE" in shown.stdout and "-c," not in shown.stdout
    missing = tmp_path / "none.cfg"
    for flag in ("--config", "-c"):  # -c: existing cron lines
        result = subprocess.run(["apel-site-run", flag, str(missing), "--lock", str(tmp_path / "lock")],
                                capture_output=True, text=True)
        assert result.returncode == 1 and f"cannot read configuration {missing}" in result.stderr
    wrapper = subprocess.run([str(ROOT / "bin" / "apel-site-run"), "--version"], capture_output=True, text=True)
    assert wrapper.returncode == 0 and "0.1.0" in wrapper.stdout
