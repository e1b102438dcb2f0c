#!/usr/bin/env python3
"""Write the man pages in this directory from the programs' click commands (click-man).

    python man/generate.py            # rewrite man/*.1
    python man/generate.py --check    # exit 1 when a committed page is stale

The date in the pages is the package version's, so pages only change when the
command-line interface (or the version) does. Besides what click-man writes,
each page gets EXAMPLES (the command's epilog) and EXIT STATUS sections.
setup.py installs the pages under share/man/man1.
"""

import argparse
import filecmp
import os
import signal
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import click  # noqa: E402
from click_man.core import write_man_pages  # noqa: E402

from apeltools import __version__  # noqa: E402
from apeltools.cli.common import INTERRUPTED  # noqa: E402
from apeltools.cli.main import load_command  # noqa: E402
from apeltools.cli.programs import MAN_PAGES  # noqa: E402
from apeltools.probes.runtime import STATE_NAMES, ProbeCommand  # noqa: E402

DATE = "2026-11"


# What the exit codes of every program mean (probes: the Nagios plugin API).
PROGRAM_EXIT_STATUS = [
    ("0", "Success."),
    ("1", "Failure: the reason is on stderr, in one line starting with 'Error:'."),
    ("2", "Usage error: an unknown option, a missing argument or a bad value."),
    (str(INTERRUPTED[signal.SIGINT]), "Interrupted by Ctrl-C (SIGINT)."),
    (str(INTERRUPTED[signal.SIGTERM]), "Stopped by SIGTERM (a program running as a daemon exits 0: its normal end)."),
]
PROBE_EXIT_STATUS = [
    (str(code), "UNKNOWN, also for a usage error, an unreadable file, a crash or the -t timeout."
     if name == "UNKNOWN" else f"{name}.")
    for code, name in sorted(STATE_NAMES.items())
]


def generate(target):
    for name, entry in sorted(MAN_PAGES.items()):
        command = load_command(entry)
        parent = None
        if " " in name:
            parent_name, name = name.split(" ", 1)
            parent = click.Context(load_command(MAN_PAGES[parent_name]), info_name=parent_name)
        write_man_pages(name, command, parent_ctx=parent, version=__version__, target_dir=target, date=DATE)
        add_sections(target, click.Context(command, info_name=name, parent=parent))


def add_sections(target, ctx):
    """Append EXAMPLES and EXIT STATUS to the page of ``ctx``'s command and of its subcommands, as
    click-man walks them."""
    command = ctx.command
    page = os.path.join(target, ctx.command_path.replace(" ", "-") + ".1")
    with open(page, "a") as handle:
        handle.write(examples(command.epilog) + exit_status(command))
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            add_sections(target, click.Context(sub, info_name=name, parent=ctx))


def examples(epilog):
    """The ``Examples:`` block of a command's epilog as a roff EXAMPLES section, lines kept as they are."""
    lines = (epilog or "").replace("\b", "").splitlines()
    starts = [n for n, line in enumerate(lines) if line.strip() == "Examples:"]
    if not starts:
        return ""
    block = textwrap.dedent("\n".join(lines[starts[0] + 1:])).strip("\n")
    return ".SH EXAMPLES\n.RS\n.nf\n" + "".join(roff_line(line) + "\n" for line in block.splitlines()) + ".fi\n.RE\n"


def exit_status(command):
    codes = PROBE_EXIT_STATUS if isinstance(command, ProbeCommand) else PROGRAM_EXIT_STATUS
    return ".SH EXIT STATUS\n" + "".join(f".TP\n.B {code}\n{roff_line(text)}\n" for code, text in codes)


def roff_line(text):
    """``text`` as one line of roff: backslashes and hyphens escaped, a leading dot or quote defused."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def stale(target):
    """Names of pages that differ between ``target`` and this directory (or exist in one only)."""
    made = {f for f in os.listdir(target) if f.endswith(".1")}
    kept = {f for f in os.listdir(HERE) if f.endswith(".1")}
    return sorted((made ^ kept) | {f for f in made & kept
                                   if not filecmp.cmp(os.path.join(target, f), os.path.join(HERE, f), shallow=False)})


def main():
    parser = argparse.ArgumentParser(description="Generate or check the man pages.")
    parser.add_argument("--check", action="store_true", help="only check that the committed pages are current")
    args = parser.parse_args()
    if not args.check:
        for old in os.listdir(HERE):
            if old.endswith(".1"):
                os.unlink(os.path.join(HERE, old))
        generate(HERE)
        return 0
    with tempfile.TemporaryDirectory() as target:
        generate(target)
        different = stale(target)
    if different:
        print("stale man pages (run python man/generate.py): " + ", ".join(different))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
