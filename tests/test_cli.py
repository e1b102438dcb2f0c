"""Every program: --help with an example, man pages that match the code, and the demo."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apeltools.cli.main import load_command
from apeltools.cli.main import main as apeltools
from apeltools.cli.programs import CONSOLE_SCRIPTS, MAN_PAGES, SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(set(MAN_PAGES) - {"apeltools"}))
def test_help_of_every_program_shows_an_example(name):
    result = CliRunner().invoke(load_command(MAN_PAGES[name]), ["--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_apeltools_lists_every_subcommand():
    result = CliRunner().invoke(apeltools, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.output


def test_every_program_is_installed_as_a_console_script():
    for name in CONSOLE_SCRIPTS:
        found = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True)
        assert found.returncode == 0, f"{name} is not on PATH: run pip install -e ."


def test_committed_man_pages_match_the_commands():
    check = subprocess.run([sys.executable, str(ROOT / "man" / "generate.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_pip_install_puts_man_pages_with_examples_and_exit_status_where_man_finds_them(tmp_path):
    source, prefix = tmp_path / "src", tmp_path / "venv"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__"))
    # Into a venv of its own: pip install --prefix would uninstall the apeltools the tests run.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(prefix / "bin" / "python"), "install",
                              "-q", "--no-deps", str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    pages = prefix / "share" / "man" / "man1"
    assert {f"{name}.1" for name in CONSOLE_SCRIPTS} <= {page.name for page in pages.iterdir()}
    for name in CONSOLE_SCRIPTS:
        text = (pages / f"{name}.1").read_text()
        assert ".SH EXIT STATUS" in text and (".SH EXAMPLES" in text or name == "apeltools"), name
    if shutil.which("man"):
        shown = subprocess.run(["man", "apel-load"], capture_output=True, text=True,
                               env=dict(os.environ, MANPATH=str(prefix / "share" / "man"), MANPAGER="cat",
                                        MANWIDTH="100"))
        assert "EXAMPLES" in shown.stdout and "apel-load --db mysql://apel@db.example.org/apelserver --daemon" in (
            shown.stdout)
        assert "130    Interrupted by Ctrl-C (SIGINT)." in shown.stdout, shown.stdout


def test_a_usage_error_exits_2_and_a_failure_exits_1(tmp_path):
    usage = CliRunner().invoke(load_command(CONSOLE_SCRIPTS["apel-load"]), ["--no-such-option"])
    assert usage.exit_code == 2
    failure = CliRunner().invoke(load_command(CONSOLE_SCRIPTS["apel-load"]),
                                 ["--db", "sqlite:///" + str(tmp_path / "none.db"), str(tmp_path / "missing.txt")])
    assert failure.exit_code == 1 and failure.output.startswith("Error: ")


def test_the_demo_runs_the_pipeline_on_sqlite(tmp_path):
    result = subprocess.run(["apeltools", "demo", "--dir", str(tmp_path / "demo")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for site in ("DEMO-SITE", "DEMO-NORTH-T2", "DEMO-SOUTH-T2", "DEMO-WEST-T3"):
        assert site in out
    assert "is not in the DN list" in out and "EndTime is before StartTime" in out
    assert ": equal" in out  # the site's jobs from its logs arrive whole in the repository
    reports = re.findall(r" at (\S+\.html)", out)  # the status index and the month's report
    assert [os.path.basename(path) for path in reports] == ["index.html", re.search(r"monthly-[\d-]+\.html",
                                                                                     out).group()]
    assert all(os.path.isfile(path) for path in reports)
    import sqlite3

    conn = sqlite3.connect(tmp_path / "demo" / "apel.db")
    synced = dict(conn.execute("SELECT Site, SUM(NumberOfJobs) FROM VSyncRecords GROUP BY Site"))
    summed = dict(conn.execute("SELECT Site, SUM(NumberOfJobs) FROM VSuperSummaries "
                               "WHERE InfrastructureType = 'grid' GROUP BY Site"))
    assert {site: synced[site] - summed[site] for site in synced} == {
        "DEMO-NORTH-T2": 0, "DEMO-SITE": 0, "DEMO-SOUTH-T2": 0, "DEMO-WEST-T3": 1}  # the rejected record
    assert conn.execute("SELECT COUNT(*) FROM VSuperSummaries").fetchone()[0] > 0


def test_the_demo_in_a_directory_with_spaces_agrees_with_the_probe_and_reruns_the_same(tmp_path):
    directory = tmp_path / "my demo"
    first, again = (subprocess.run(["apeltools", "demo", "--dir", str(directory)], capture_output=True, text=True,
                                   timeout=300) for _ in range(2))
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    # A rerun starts afresh: the same figures (only the queue's message names differ).
    without_names = lambda out: re.sub(r"message \w+/\w+", "message", out)  # noqa: E731
    assert without_names(again.stdout) == without_names(first.stdout)
    assert "1 site-month recomputed" in first.stdout
    next_commands = first.stdout.split("\nNext:\n")[1].splitlines()
    for line in next_commands:  # as a person pastes them into a shell
        assert subprocess.run(line, shell=True, capture_output=True, timeout=120).returncode == 0, line
    sync = first.stdout.split("Sync (repository / site's own count):\n")[1].split("\n\n")[0].splitlines()
    for row in sync:
        site, word = row.split()[0], row.split()[4]
        probe = subprocess.run(["check_apel_sync", "--site", site, "--db", f"sqlite:///{directory}/apel.db"],
                               capture_output=True, text=True)
        assert {0: "OK", 2: "ERROR"}[probe.returncode] == word, (row, probe.stdout)
        assert probe.stdout.startswith("OK [ 1 month in step: "), probe.stdout


def test_the_demo_refuses_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    result = subprocess.run(["apeltools", "demo", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "is not empty and no earlier demo ran there" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
