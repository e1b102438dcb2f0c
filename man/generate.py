#!/usr/bin/env python3
"""Write the man pages in this directory from the programs' click commands (click-man).

    python man/generate.py            # rewrite man/*.1
    python man/generate.py --check    # exit 1 when a committed page is stale

The date in the pages is the package version's, so pages only change when the
command-line interface (or the version) does.
"""

import argparse
import filecmp
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import click  # noqa: E402
from click_man.core import write_man_pages  # noqa: E402

from apeltools import __version__  # noqa: E402
from apeltools.cli.main import load_command  # noqa: E402
from apeltools.cli.programs import MAN_PAGES  # noqa: E402

DATE = "2026-11"
# Pages written by hand (programs that are not click commands, e.g. shell wrappers).
HANDWRITTEN = {"apel-site-run.1"}


def generate(target):
    for name, entry in sorted(MAN_PAGES.items()):
        command = load_command(entry)
        parent = None
        if " " in name:
            parent_name, name = name.split(" ", 1)
            parent = click.Context(load_command(MAN_PAGES[parent_name]), info_name=parent_name)
        write_man_pages(name, command, parent_ctx=parent, version=__version__, target_dir=target, date=DATE)


def stale(target):
    """Names of pages that differ between ``target`` and this directory (or exist in one only)."""
    made = {f for f in os.listdir(target) if f.endswith(".1")}
    kept = {f for f in os.listdir(HERE) if f.endswith(".1")} - HANDWRITTEN
    return sorted((made ^ kept) | {f for f in made & kept
                                   if not filecmp.cmp(os.path.join(target, f), os.path.join(HERE, f), shallow=False)})


def main():
    parser = argparse.ArgumentParser(description="Generate or check the man pages.")
    parser.add_argument("--check", action="store_true", help="only check that the committed pages are current")
    args = parser.parse_args()
    if not args.check:
        for old in os.listdir(HERE):
            if old.endswith(".1") and old not in HANDWRITTEN:
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
