#!/usr/bin/env python3
"""Log parsers: lines/s of every format through apel-parse's file reader, against baselines
measured in the same run.

Each format's file of generated lines (those of ``benchmarks/site.py``) is
parsed by ``parse_files``'s reader into an output that drops the records.
Baselines, on the same file in the same run, so that the ratios hold on a
busy machine where the absolute figures do not:

- ``split``: reading the file, decoding each line and ``line.split()`` — what
  any Python line reader costs at least;
- ``--before REV``: the parsers of git revision REV (e.g. ``HEAD~3``), run from
  a temporary copy of that revision's ``apeltools`` in a child process.

Every measurement is CPU time of this process (a busy machine lengthens wall time, not that), the
best of ``--rounds``, taken in turn with its baselines.
The issue's target is 100,000 lines/s a format on one core.

    python benchmarks/parse.py
    python benchmarks/parse.py --lines 300000 --before HEAD~4
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 100_000


def _site_benchmark():
    """benchmarks/site.py as a module (its name would shadow the standard ``site`` on sys.path)."""
    spec = importlib.util.spec_from_file_location("apelbench_site", Path(__file__).with_name("site.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_logs(lines, workdir):
    """One file of about ``lines`` lines per format; {name: path}."""
    paths = {}
    for name, make in _site_benchmark()._line_makers().items():
        path = os.path.join(workdir, f"{name}.log")
        with open(path, "w") as out:
            for n in range(lines // make(0).count("\n")):
                out.write(make(100000 + n))
        paths[name] = path
    return paths


def time_parser(name, path):
    """(seconds, lines, records) of parsing ``path`` with the parser called ``name``."""
    from apeltools.parsers import registry
    from apeltools.parsers.files import parse_file

    class Drop:
        def write(self, records, then=None):
            pass

    started = time.process_time()
    report = parse_file(path, registry.get(name)(), Drop())
    seconds = time.process_time() - started
    assert report.failed == 0, (name, report.errors)
    return seconds, report.parsed + report.ignored, report.records


def time_split(path):
    started = time.process_time()
    with open(path, "rb") as handle:
        for raw in handle:
            raw.decode("utf-8", "replace").split()
    return time.process_time() - started


def _before(rev, paths, rounds):
    """{name: best seconds} of the parsers at ``rev``, from a copy of its tree in a child process."""
    with tempfile.TemporaryDirectory(prefix="apelbench-rev-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "apeltools"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        child = subprocess.run([sys.executable, __file__, "--child", json.dumps(paths), "--rounds", str(rounds)],
                               env={**os.environ, "PYTHONPATH": tree}, cwd=tree, check=True,
                               capture_output=True, text=True)
    return json.loads(child.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per format")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--before", metavar="REV", help="also run the parsers of this git revision")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # run by _before, with PYTHONPATH on another revision's tree
        paths = json.loads(args.child)
        print(json.dumps({name: min(time_parser(name, path)[0] for _ in range(args.rounds))
                          for name, path in paths.items()}))
        return
    sys.path.insert(0, str(ROOT))
    import apeltools
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; apeltools from {Path(apeltools.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="apelbench-parse-") as workdir:
        paths = write_logs(args.lines, workdir)
        before = _before(args.before, paths, args.rounds) if args.before else {}
        print(f"{args.lines:,} lines a format (SLURM: a job and two steps per job), best of {args.rounds}")
        print(f"  {'format':9} {'lines/s':>10} {'records/s':>10}  {'split lines/s':>13} {'÷ split':>7}"
              + (f"  {args.before + ' lines/s':>16} {'speed-up':>8}" if before else "")
              + f"  {'of target':>9}")
        for name, path in paths.items():
            runs, splits = [], []
            for _ in range(args.rounds):
                runs.append(time_parser(name, path))
                splits.append(time_split(path))
            seconds, lines, records = min(runs)
            split = min(splits)
            row = (f"  {name:9} {lines / seconds:>10,.0f} {records / seconds:>10,.0f}  {lines / split:>13,.0f} "
                   f"{split / seconds:>7.3f}")
            if before:
                row += f"  {lines / before[name]:>16,.0f} {before[name] / seconds:>7.2f}x"
            print(row + f"  {lines / seconds / TARGET:>9.2f}")


if __name__ == "__main__":
    main()
