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

``--check REV`` measures nothing: it feeds the same lines — the generated
ones with their values varied (some to values a parser must refuse), a third
of them damaged at random (characters deleted, inserted or repeated, the line
cut short), and blank, whitespace-only and comment lines — to the parsers of
this tree and of REV, and fails unless every line gives the same outcome in
both: the same record field by field, the same bad-line reason, or ignored. That is how a faster parser is shown to keep
every check and every reject of the one it replaces.

Every measurement is CPU time of the process that parses (a busy machine lengthens wall time, not
that), the best of ``--rounds``; each round runs every parser and its baselines in turn, so that a
busy spell slows them alike.
The issue's target is 100,000 lines/s a format on one core.

    python benchmarks/parse.py
    python benchmarks/parse.py --lines 300000 --before HEAD~4
    python benchmarks/parse.py --check HEAD --lines 300000
"""

import argparse
import contextlib
import importlib.util
import json
import os
import random
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


def write_logs(lines, workdir, formats=None):
    """One file of about ``lines`` lines per format (those named in ``formats``, default all); {name: path}."""
    paths = {}
    for name, make in _site_benchmark()._line_makers().items():
        if formats and name not in formats:
            continue
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


# -- --check: the same outcome line by line as another revision's parsers -------------------------------

# What the mutations insert: the separators and value characters of every format.
ALPHABET = ' :;|=/+-,*."#\t\r0123456789kKmMgGbx_\u00e9\u0663'
UNITS = ["", "b", "kb", "KB", "K", "k", "mb", "M", "gb", "G", "t", "P", "x", "kk", "1k"]
DURATIONS = ["01:00:00", "3600", "1:00:00", "2:01:00:00", "05:30.5", "1-02:03:04", "00:00", "61", "::",
             "1:2:3:4:5", "-5", "1h", "", "99:99:99", "1-2:3:4:5"]
EXEC_HOSTS = ["wn01/0", "wn01/0+wn01/1+wn02/0", "wn01/0*4+wn02/0*4", "wn1/0-3,5+wn2/0", "wn1/3-1",
              "wn1/-1", "wn1", "/0", "wn1/0++wn2/0", "wn1/0-3+wn1/4-7", "wn1/x", "wn1/0*", "wn1/0,", ""]
EXITS = ["0", "1", "-1", "-3", "271", "256", "257", "x", "", "1.5"]


def _vary(name, line, rng):
    """``line`` with some of its values replaced by others of the kinds the format allows (a few of
    them bad)."""
    if rng.random() < 0.5:
        return line
    if name == "pbs":
        for value, choices in (("01:00:00", DURATIONS), ("01:40:00", DURATIONS), ("wn01/0-3+wn02/0-3", EXEC_HOSTS),
                               ("0 resources", [e + " resources" for e in EXITS])):
            if rng.random() < 0.3:
                line = line.replace(value, rng.choice(choices), 1)
        if rng.random() < 0.1:
            line = line.replace("Exit_status=0 ", "", 1)
        if rng.random() < 0.3:
            line = line.replace("524288kb", str(rng.randrange(10 ** 7)) + rng.choice(UNITS), 1)
        for key in ("qtime", "etime", "start", "end"):
            if rng.random() < 0.05:
                line = line.replace(f"{key}=", rng.choice(["", f"{key}=0 x", f"{key}=", f"{key}=1.5 ", "X="]), 1)
        if rng.random() < 0.2:  # a continued value, a deleted job, a record of another type
            line = line.replace("jobname=STDIN", rng.choice(["jobname=a b", "jobname=a  b", "=x", "jobname"]))
        if rng.random() < 0.2:
            line = line.replace(";E;", rng.choice([";D;", ";Q;", ";S;", ";E;;"]), 1)
    elif name == "lsf":
        asked, executed = rng.randrange(4), rng.randrange(1, 6)
        line = line.replace('1 "hostA" 4 "hostA" "hostA" "hostB" "hostB"',
                            " ".join([str(asked)] + ['"h%d"' % rng.randrange(3)] * asked + [str(executed)]
                                     + ['"h%d"' % rng.randrange(3) for _ in range(executed)]), 1)
        line = line.replace('"job ""x"""', rng.choice(['"job"', '"a ""b"" c"', '""""', '"x"""', '"a"b',
                                                      '"job "x"', '"a""""b"', "60.00\"j\""]), 1)
        line = line.replace("2048000", rng.choice(["-1", "0", "12.5", "1e3", "x", "2048000"]), 1)
        line = line.replace("100.5", rng.choice(["-1", "0", "1e400", "nan", "100.5", "7"]), 1)
        line = line.replace(" 64 ", " %d " % rng.choice([0, 32, 64, 96, 1, -1]), 1)
    elif name == "sge":
        cells = line.split(":")
        for index in (8, 9, 10, 11, 12, 13, 16, 34, 36, 42):
            if rng.random() < 0.2:
                cells[index] = rng.choice(["0", "-1", "1.5", "x", "", "1713176200000", "1e400", "inf",
                                           "nan", str(rng.randrange(10 ** 10)), "1713179900"])
        line = ":".join(cells)
    elif name == "blah":
        tokens = line.rstrip("\n")[1:-1].split('" "')
        rng.shuffle(tokens)
        if rng.random() < 0.3:
            tokens.pop(rng.randrange(len(tokens)))
        line = '"' + rng.choice(['" "'] * 6 + ['"  "', '""', '"\t"']).join(tokens) + '"\n'
        line = line.replace("10:10:00", rng.choice(["10:10:00", "25:61:61", "1:10:00", "-1:10:00", "10:10"]))
        line = line.replace("2024-04-15", rng.choice(["2024-04-15", "2024-13-15", "2024-02-30", "0000-01-01"]))
    elif name == "slurm":
        line = line.replace("1536000K", str(rng.randrange(10 ** 7)) + rng.choice(UNITS), 1)
        line = line.replace("COMPLETED", rng.choice(["COMPLETED", "FAILED", "RUNNING", "CANCELLED by 0"]), 1)
    return line


def _mutate(line, rng):
    """``line`` damaged at random: characters deleted, inserted or repeated, cut short."""
    text = line.rstrip("\n")
    for _ in range(rng.randrange(1, 4)):
        where = rng.randrange(len(text) + 1)
        roll = rng.random()
        if roll < 0.35:
            text = text[:where] + text[where + rng.randrange(1, 4):]
        elif roll < 0.7:
            text = text[:where] + "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 3))) + text[where:]
        elif roll < 0.85:
            text = text[:where] + text[where:where + rng.randrange(1, 20)] + text[where:]
        else:
            text = text[:where]
    return text + "\n"


def check_lines(count, formats=None, seed=1):
    """{format: lines}: ``count`` generated lines a format (those named in ``formats``, default all)
    with varied values, a third of them mutated."""
    rng = random.Random(seed)
    found = {}
    for name, make in _site_benchmark()._line_makers().items():
        if formats and name not in formats:
            continue
        lines = []
        while len(lines) < count:
            for line in make(rng.choice([rng.randrange(1, 10 ** 6), 100000 + len(lines)])).splitlines(True):
                line = _vary(name, line, rng)
                lines.append(_mutate(line, rng) if rng.random() < 0.35 else line)
        found[name] = lines + ["\n", " \t\n", "\r\n", "#\n", "# comment;E;1;x=y\n", ";;;\n", " ;E;1; \n", ""]
    return found


def outcomes(name, lines):
    """What each line gives a parser of ``name`` (one instance, in order), as comparable text."""
    from apeltools.parsers import registry
    from apeltools.parsers.base import FOLDED, ParseError
    from apeltools.records.site import as_dict

    parser = registry.get(name)()
    said = []
    for line in lines:
        try:
            result = parser.parse(line)
            text = ("ignored" if result is None else "folded" if result is FOLDED
                    else "record " + json.dumps(as_dict(result)))
        except ParseError as error:
            text = f"error: {error}"
        except (ValueError, IndexError, TypeError, ArithmeticError) as error:  # as parse_file reports them
            text = f"unexpected {type(error).__name__}"
        if parser.holds:
            text += "".join(" +record " + json.dumps(as_dict(record)) for record in parser.ready)
            parser.ready.clear()
        said.append(text)
    said.append("finish" + "".join(" +" + json.dumps(as_dict(record)) for record in parser.finish()))
    return said


def check(rev, count, formats=None):
    """Compare this tree's parsers with ``rev``'s line by line; exit 1 on any difference."""
    with tempfile.TemporaryDirectory(prefix="apelbench-check-") as workdir:
        lines = check_lines(count, formats)
        given = os.path.join(workdir, "lines.json")
        with open(given, "w") as out:
            json.dump(lines, out)
        said = os.path.join(workdir, "said.json")
        with _revision(rev) as run:
            run("--child-check", given, said)
        with open(said) as got:
            theirs = json.load(got)
    failed = False
    for name, fed in lines.items():
        ours = outcomes(name, fed)
        differ = [n for n, (a, b) in enumerate(zip(ours, theirs[name])) if a != b]
        kinds = {}
        for text in ours[:-1]:
            kind = text.split(" ")[0].strip(":")
            kinds[kind] = kinds.get(kind, 0) + 1
        reasons = len({text for text in ours if text.startswith(("error", "unexpected"))})
        print(f"  {name:9} {len(fed):>8,} lines: {len(differ)} differ; "
              + ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items()))
              + f"; {reasons} distinct bad-line reasons")
        for n in differ[:5]:
            print(f"    {fed[n]!r}\n      {rev}: {theirs[name][n]}\n      now: {ours[n]}")
        failed = failed or bool(differ)
    if failed:
        sys.exit(1)


@contextlib.contextmanager
def _revision(rev):
    """A function running this script with arguments in a child process on a copy of ``rev``'s
    ``apeltools``, returning its stdout."""
    with tempfile.TemporaryDirectory(prefix="apelbench-rev-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "apeltools"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        yield lambda *arguments: subprocess.run(
            [sys.executable, __file__, *arguments], env={**os.environ, "PYTHONPATH": tree}, cwd=tree, check=True,
            capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per format")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--formats", help="only these formats, comma-separated (e.g. pbs,lsf)")
    parser.add_argument("--before", metavar="REV", help="also run the parsers of this git revision")
    parser.add_argument("--check", metavar="REV",
                        help="compare the parsers' outcomes with this revision's on --lines generated and mutated lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-check", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_check:  # run by check, with PYTHONPATH on another revision's tree
        with open(args.child_check[0]) as given:
            lines = json.load(given)
        with open(args.child_check[1], "w") as out:
            json.dump({name: outcomes(name, fed) for name, fed in lines.items()}, out)
        return
    if args.child:  # run by main for --before, with PYTHONPATH on another revision's tree
        print(json.dumps({name: time_parser(name, path)[0] for name, path in json.loads(args.child).items()}))
        return
    sys.path.insert(0, str(ROOT))
    import apeltools
    formats = args.formats and args.formats.split(",")
    if args.check:
        print(f"outcomes of the parsers in {Path(apeltools.__file__).parent} and in {args.check}, line by line")
        check(args.check, args.lines, formats)
        return
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; apeltools from {Path(apeltools.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="apelbench-parse-") as workdir:
        paths = write_logs(args.lines, workdir, formats)
        with contextlib.ExitStack() as stack:
            other = stack.enter_context(_revision(args.before)) if args.before else None
            runs, splits, before = {}, {}, {}
            for _ in range(args.rounds):  # in turn, so that a busy spell slows both alike
                if other:
                    for name, seconds in json.loads(other("--child", json.dumps(paths))).items():
                        before.setdefault(name, []).append(seconds)
                for name, path in paths.items():
                    runs.setdefault(name, []).append(time_parser(name, path))
                    splits.setdefault(name, []).append(time_split(path))
        print(f"{args.lines:,} lines a format (SLURM: a job and two steps per job), best of {args.rounds}")
        print(f"  {'format':9} {'lines/s':>10} {'records/s':>10}  {'split lines/s':>13} {'÷ split':>7}"
              + (f"  {args.before + ' lines/s':>16} {'speed-up':>8}" if before else "")
              + f"  {'of target':>9}")
        for name in paths:
            seconds, lines, records = min(runs[name])
            split = min(splits[name])
            row = (f"  {name:9} {lines / seconds:>10,.0f} {records / seconds:>10,.0f}  {lines / split:>13,.0f} "
                   f"{split / seconds:>7.3f}")
            if before:
                earlier = min(before[name])
                row += f"  {lines / earlier:>16,.0f} {earlier / seconds:>7.2f}x"
            print(row + f"  {lines / seconds / TARGET:>9.2f}")


if __name__ == "__main__":
    main()
