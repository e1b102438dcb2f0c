"""What a person at a terminal sees: progress bars that log lines never share a line with, INFO lines
only with -v, apel-parse progress within a file, and apel-query tables with fixed decimals.

The programs run as real processes with stderr on a pseudo-terminal (stdout is not a terminal).
"""

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

from click.testing import CliRunner

from apeltools.cli.query import main as apel_query
from apeltools.messaging import queues
from apeltools.records import text
from tests.test_loader import SIGNER, jobs
from tests.test_query import fill

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(*args, stdout_too=False):
    """Run ``args`` with stderr (and with ``stdout_too`` stdout) on a 120-column pseudo-terminal;
    (exit code, what the terminal got)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull, TERM="xterm-256color", COLUMNS="120")
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=terminal if stdout_too else subprocess.DEVNULL,
                               stderr=terminal, env=env)
    os.close(terminal)
    received = b""
    while True:
        try:
            data = os.read(controller, 1 << 16)
        except OSError:  # EIO: the program closed the terminal
            break
        if not data:
            break
        received += data
    os.close(controller)
    return process.wait(timeout=300), received


def sacct_log(path, count):
    """A SLURM accounting log of ``count`` jobs, one line each."""
    path.write_text("".join(
        f"{n}|job{n}|atlas001|atlas|2026-02-27T22:49:32|2026-03-01T00:14:36|1-01:25:04|459597|grid|8|1|wn001"
        f"|||COMPLETED|2026-02-27T22:02:41|2026-02-27T22:02:41|0:15\n" for n in range(100000, 100000 + count)))
    return path


def loading_queue(tmp_path, messages=150):
    incoming = queues.incoming_queue(tmp_path / "incoming")
    for n in range(messages):
        body = text.write_message(text.JOB_V03, jobs(20, seed=n, first_id=n * 20))
        queues.add(incoming, {"body": body, "signer": SIGNER, "empaid": f"m{n}"})
    subprocess.run(["apeltools", "db", "init", "--db", f"sqlite:///{tmp_path}/apel.db"], check=True,
                   capture_output=True, env=dict(os.environ, APELTOOLS_CONFIG=os.devnull))
    return ["apel-load", "--db", f"sqlite:///{tmp_path}/apel.db", "--queue", str(tmp_path / "incoming"),
            "--reject", str(tmp_path / "reject")]


def test_log_lines_never_land_on_the_progress_bars_line(tmp_path):
    """Each log line starts on a line of its own: after a newline, or where the bar was erased
    (rich clears it, prints the line, draws the bar again below), never after the bar's text."""
    code, received = on_a_terminal(*loading_queue(tmp_path), "-v")
    assert code == 0, received.decode(errors="replace")
    starts = [m.start() for m in re.finditer(rb"apel-load: ", received)]
    assert len(starts) > 100  # a line per message, with the bar drawn between them
    assert b"records" in ANSI.sub(b"", received)  # the bar was drawn
    for start in starts:
        before = received[:start]
        assert start == 0 or before.endswith(b"\n") or before.endswith(b"\x1b[2K"), before[-200:]


def test_info_lines_only_with_v_on_a_terminal_too(tmp_path):
    code, received = on_a_terminal(*loading_queue(tmp_path, messages=3))
    assert code == 0
    assert b"apel-load: " not in received  # neither the per-message lines nor the summary


def test_apel_parse_progress_moves_within_a_file(tmp_path):
    log = sacct_log(tmp_path / "sacct-20260301.txt", 40000)
    code, received = on_a_terminal("apel-parse", "slurm", "--timezone", "UTC", "--stdout", str(log))
    assert code == 0, received.decode(errors="replace")
    screen = ANSI.sub(b"", received).decode()
    counts = {int(n.replace(",", "")) for n in re.findall(r"([\d,]+) records, 0 files", screen)}
    assert any(0 < n < 40000 for n in counts), screen[-500:]  # before: only once the file was read
    assert "sacct-20260301.txt (1/1)" in screen


def test_apel_parse_draws_no_bar_through_records_it_writes_to_the_terminal(tmp_path):
    log = sacct_log(tmp_path / "sacct-20260301.txt", 20000)
    code, received = on_a_terminal("apel-parse", "slurm", "--timezone", "UTC", "--stdout", str(log), stdout_too=True)
    assert code == 0
    assert received.count(b"\n") == 20000 and b"records, 0 files" not in received


def test_query_tables_have_fixed_decimals_and_thousands_separators_csv_raw_numbers(db, db_url):
    fill(db)
    args = ["--db", db_url, "jobs", "--group-by", "site", "--group-by", "month"]
    table = CliRunner().invoke(apel_query, [*args, "--format", "table"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    header = lines[0].split()
    hours = [line.split()[header.index("WallHours")] for line in lines[2:]]
    assert hours and all(re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", value) for value in hours), hours
    cpu = [line.split()[header.index("CpuHours")] for line in lines[2:]]
    assert "2.00" in cpu and "1.51" in cpu  # the same two decimals in the column, not 2.0 beside 1.51
    csv_rows = CliRunner().invoke(apel_query, [*args, "--format", "csv"]).output.splitlines()
    assert any(",2.0," in row for row in csv_rows), csv_rows  # CSV keeps the raw number
