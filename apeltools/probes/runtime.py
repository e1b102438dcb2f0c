"""Running a probe under the Nagios plugin API: exit codes 0-3, one status line, timeouts.

A probe is a click command of class :class:`ProbeCommand`: a usage error
(unknown option, bad value) is UNKNOWN (3) with a one-line reason, never
click's exit 2, which Nagios would read as CRITICAL. :func:`execute` runs a
``nagiosplugin.Check`` and prints ``STATE text | perfdata`` and, with ``-v``,
the long output; a crash, a library error or the ``-t`` timeout is UNKNOWN.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import traceback

import click
import nagiosplugin

from apeltools import events
from apeltools.clock import parse_now
from apeltools.config import Config
from apeltools.errors import ApelError
from apeltools.quoting import quote

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# A state decided outside nagiosplugin (apeltools.probes.publishing, which the status pages ask too) as a result's.
NAGIOS_STATES = {OK: nagiosplugin.state.Ok, WARNING: nagiosplugin.state.Warn,
                 CRITICAL: nagiosplugin.state.Critical, UNKNOWN: nagiosplugin.state.Unknown}
DEFAULT_TIMEOUT = 10.0
WATCHDOG_GRACE = 5.0


class ProbeTimeout(Exception):
    pass


def unknown(reason: str) -> int:
    """Print the one-line UNKNOWN status, ``UNKNOWN [ reason ]`` as every state, and return its exit code."""
    click.echo(status_line(UNKNOWN, f"[ {reason} ]"))
    return UNKNOWN


class ProbeCommand(click.Command):
    """A click command whose usage errors and crashes are UNKNOWN (exit 3)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            code = unknown(f"usage: {error.format_message()} (see {prog_name or self.name} --help)")
        except click.exceptions.Abort:
            code = unknown("interrupted")
        except Exception as error:  # noqa: BLE001 - a probe never crashes with a traceback exit code
            code = unknown(f"internal error: {type(error).__name__}: {error}")
        if standalone_mode:
            sys.exit(code or 0)
        return code


def probe(name: str, epilog: str):
    """Decorate a probe function: common options (-t, -v, --config, --now, -V) and ProbeCommand.

    The function receives ``settings`` (a :class:`ProbeSettings`) first and
    returns an exit code.
    """

    def decorate(function):
        @click.option("-t", "--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                      help=f"Give up (UNKNOWN) after this long [default: {DEFAULT_TIMEOUT:g}].")
        @click.option("-v", "--verbose", count=True, help="Long output with details (-vvv: tracebacks).")
        @click.option("--config", "config_path", metavar="FILE",
                      help="Configuration file [default: /etc/apeltools/apeltools.cfg if present].")
        @click.option("--now", "now_text", hidden=True, metavar="TIME", help="Pretend the time is TIME (tests).")
        # -V: the Nagios plugin guidelines'; the message as the programs' --version (apeltools.cli.common)
        @click.version_option(None, "-V", "--version", package_name="apeltools",
                              message="%(prog)s (apeltools) %(version)s")
        @functools.wraps(function)
        def run(timeout, verbose, config_path, now_text, **kwargs):
            logging.basicConfig(level=logging.DEBUG if verbose >= 3 else logging.ERROR,
                                format=f"{name}: %(message)s", stream=sys.stderr)
            settings = ProbeSettings(name, verbose, timeout, config_path, now_text)
            return function(settings, **kwargs)

        return click.command(
            name, cls=ProbeCommand, epilog=epilog,
            context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
        )(run)

    return decorate


class ProbeSettings:
    """What every probe gets: verbosity, timeout, configuration and the current time."""

    def __init__(self, name, verbose, timeout, config_path, now_text):
        self.name = name
        self.verbose = verbose
        self.timeout = timeout
        self._config_path = config_path
        self._now_text = now_text

    @functools.cached_property
    def config(self) -> Config:
        config = Config.load(self._config_path)
        events.configure(config, self.name)
        return config

    @functools.cached_property
    def now(self):
        return parse_now(self._now_text)

    def database(self, url):
        from apeltools import db

        url = url or self.config.db_url()
        if not url:
            raise ApelError("no database: give --db URL or set [db] in the configuration")
        return db.connect(url, password=self.config.db_password(), read_only=True)


@contextlib.contextmanager
def deadline(seconds: float | None):
    """Raise ProbeTimeout in the main thread after ``seconds``; a watchdog exits 3 if that cannot happen."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(*_):
        raise ProbeTimeout(f"no result within {seconds:g} s")

    def stuck():  # the main thread is blocked in C code and cannot take the signal
        sys.stdout.write(status_line(UNKNOWN, f"[ no result within {seconds:g} s (blocked) ]") + "\n")
        sys.stdout.flush()
        os._exit(UNKNOWN)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    watchdog = threading.Timer(seconds + WATCHDOG_GRACE, stuck)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        watchdog.cancel()


def status_line(state: int, text: str, perfdata=()) -> str:
    """``STATE text | perfdata`` on one line: the form of every probe's first line."""
    line = f"{STATE_NAMES[state]} {' '.join(text.split())}".rstrip()
    perf = " ".join(str(p) for p in perfdata if p)
    return f"{line} | {perf}" if perf else line


def evaluate(check: nagiosplugin.Check) -> tuple[int, str, list[str]]:
    """Run a check: (state, summary text, perfdata strings)."""
    check()
    return check.exitcode, check.summary_str, list(check.perfdata)


def outcome(check: nagiosplugin.Check, details=None) -> tuple[int, str, list[str], list[str]]:
    """(state, text, perfdata, long output lines) of a check; ``details(check)`` gives the lines."""
    state, text, perfdata = evaluate(check)
    lines = details(check) if details else [str(result) for result in check.results if str(result)]
    return state, text, perfdata, lines


def execute(settings: ProbeSettings, run) -> int:
    """Run ``run()`` → (state, text, perfdata, long lines) within the timeout; print; return the exit code.

    The long output lines are shown with ``-v``. Library errors, crashes and
    the timeout are UNKNOWN with a one-line reason.
    """
    try:
        with deadline(settings.timeout or DEFAULT_TIMEOUT):
            state, text, perfdata, lines = run()
    except ProbeTimeout as error:
        return unknown(str(error))
    except ApelError as error:
        return unknown(str(error))
    except Exception as error:  # noqa: BLE001 - any crash is UNKNOWN, with the traceback on -vvv
        if settings.verbose >= 3:
            traceback.print_exc()
        return unknown(f"internal error: {type(error).__name__}: {error}")
    output = [status_line(state, text, perfdata)]
    if settings.verbose:
        output.extend(lines)
    click.echo("\n".join(output))
    return state


def parse_range(text: str, option: str) -> nagiosplugin.Range:
    """A Nagios range, or a click usage error naming the option (→ UNKNOWN)."""
    try:
        return nagiosplugin.Range(text)
    except ValueError as error:
        raise click.BadParameter(f"{quote(text)} is not a Nagios range: {error}", param_hint=option) from None
