"""What every program shares: common options, configuration, logging, and error → exit code."""

import contextlib
import copy
import errno
import functools
import io
import logging
import os
import signal
import sys
import threading

import click

from apeltools import events, logs
from apeltools.config import Config
from apeltools.errors import ApelError, UsageError, exit_code_for
from apeltools.values import comma_list

log = logging.getLogger(__name__)

# Options renamed for one vocabulary across programs: new name → the old names, still accepted (cron
# lines and scripts written for them keep working) but shown nowhere.
HIDDEN_ALIASES = {
    "--from": ("--start",),
    "--to": ("--end",),
    "--vo": ("--include-vos",),
    "--exclude-vo": ("--exclude-vos",),
}
HELP_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Exit codes of a run stopped by a signal, as a shell reports a process killed by it (128 + signal).
INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(BaseException):
    """SIGTERM, raised wherever the program is, as Ctrl-C raises KeyboardInterrupt."""


class Context:
    """What a program's command receives: its configuration and how to reach the database."""

    def __init__(self, program, config, debug):
        self.program = program
        self.config = config
        self.debug = debug
        self.stopped_by = None
        self.daemon = False

    def stop_on_signals(self, action, daemon=False):
        """On SIGTERM or Ctrl-C call ``action()`` (a graceful stop) instead of raising where the program is.

        The program then finishes the work in hand and returns, and exits as
        interrupted (130, SIGTERM 143) unless it is a ``daemon`` stopped by
        SIGTERM, its normal end (0). A second signal stops it at once.
        """
        if threading.current_thread() is not threading.main_thread():
            return  # handlers can only be installed there (e.g. when a test runs a program in a thread)
        self.daemon = daemon

        def stop(signum, _frame):
            if self.stopped_by is not None:
                raise KeyboardInterrupt if signum == signal.SIGINT else Terminated
            self.stopped_by = signum
            action()

        for signum in INTERRUPTED:
            signal.signal(signum, stop)

    def interrupted_exit_code(self):
        """The exit code of a run stopped gracefully by a signal, None when no signal came."""
        if self.stopped_by is None:
            return None
        return 0 if self.daemon and self.stopped_by == signal.SIGTERM else INTERRUPTED[self.stopped_by]

    def database(self, url=None, read_only=False):
        """The database from ``--db``, else APELTOOLS_DB_URL or ``[db]``; an error when none is set.

        ``read_only`` for programs that only read: an SQLite file is opened
        read-only and never created (see ``apeltools.db.connect``).
        """
        from apeltools import db

        url = url or self.config.db_url()
        if not url:
            raise click.UsageError("no database configured: give --db URL or set [db] in the configuration")
        return db.connect(url, password=self.config.db_password(), read_only=read_only)


class AliasedCommand(click.Command):
    """A command that also takes the old names of its renamed options (``HIDDEN_ALIASES`` and its own
    ``hidden_aliases``), without showing them in --help or the man page."""

    def __init__(self, *args, hidden_aliases=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hidden_aliases = {**HIDDEN_ALIASES, **(hidden_aliases or {})}

    def make_parser(self, ctx):
        parser = super().make_parser(ctx)
        for param in self.get_params(ctx):
            old = [name for opt in param.opts for name in self.hidden_aliases.get(opt, ())]
            if old and isinstance(param, click.Option):
                # A copy under the old names that stores into the same parameter: the parser knows
                # them, the help (written from the command's own parameters) does not.
                alias = copy.copy(param)
                alias.opts, alias.secondary_opts = old, []
                alias.add_to_parser(parser, ctx)
        return parser


def version_option(*names):
    """``--version``: the program's name and the apeltools version."""
    return click.version_option(None, *(names or ("--version",)), package_name="apeltools",
                                message="%(prog)s (apeltools) %(version)s")


def list_option(*names, **settings):
    """A repeatable option that also takes comma lists (``--vo atlas --vo cms`` or ``--vo atlas,cms``);
    its value is the tuple of all the items."""
    return click.option(*names, multiple=True, callback=lambda _ctx, _param, values: comma_list(values),
                        **settings)


def group(program, **settings):
    """A click group for a program whose subcommands are each a ``command``: --version and -h."""
    settings.setdefault("context_settings", HELP_SETTINGS)

    def decorate(function):
        return version_option()(click.group(program, **settings)(function))

    return decorate


def command(program, **settings):
    """A click command for a program, with --config, -v, -q, --debug, --version, and error handling.

    ``hidden_aliases`` maps an option to old names it also answers to (besides ``HIDDEN_ALIASES``);
    ``default_config`` is a file read when neither --config nor APELTOOLS_CONFIG names one (it must
    then exist); ``warn_unknown=False`` leaves the warnings about unknown keys to the programs that a
    program runs.

    The wrapped function receives a ``Context`` as its first argument. Library
    errors (``ApelError``) become ``Error: ...`` and exit 1; tracebacks only
    with ``--debug``. An interrupted run exits 130 (Ctrl-C) or 143 (SIGTERM).
    """
    default_config = settings.pop("default_config", None)
    warn_unknown = settings.pop("warn_unknown", True)
    config_default = default_config or "/etc/apeltools/apeltools.cfg if present"

    def decorate(function):
        @click.option("--config", "config_path", metavar="FILE", envvar="APELTOOLS_CONFIG", default=default_config,
                      help=f"Configuration file [default: {config_default}].")
        @click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debugging).")
        @click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
        @click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
        @version_option()
        @functools.wraps(function)
        def run(config_path, verbose, quiet, debug, **kwargs):
            context = None
            with _signals_restored(), handled(debug, lambda: context and context.interrupted_exit_code()):
                config = Config.load(config_path)
                logs.setup(program, verbose, quiet, config)
                if warn_unknown:
                    config.warn_unknown()
                events.configure(config, program)
                context = Context(program, config, debug)
                result = function(context, **kwargs)
                sys.stdout.flush()  # a write error of the output is the program's error, not the interpreter's
            code = context.interrupted_exit_code()
            if code:
                click.echo("Interrupted.", err=True)
                sys.exit(code)
            return result

        settings.setdefault("context_settings", HELP_SETTINGS)
        return click.command(program, cls=AliasedCommand, **settings)(run)

    return decorate


@contextlib.contextmanager
def _signals_restored():
    """SIGTERM raises ``Terminated`` during the run; the handlers are as before afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum, _frame):
        raise Terminated

    previous = {signum: signal.getsignal(signum) for signum in INTERRUPTED}
    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)


@contextlib.contextmanager
def handled(debug, interrupted=lambda: None):
    """Map library errors to click's ``Error:`` output and exit codes, and interrupts to 130 and 143.

    ``interrupted()`` is the exit code of a run a signal stopped gracefully
    (see ``Context.stop_on_signals``): an error on its way out exits with it.
    """
    try:
        yield
    except UsageError as error:
        raise click.UsageError(str(error)) from None  # the library's word for a wrong call: usage, exit 2
    except ApelError as error:
        if debug:
            raise
        log.debug("error", exc_info=True)
        raise SystemExitWithMessage(str(error), interrupted() or exit_code_for(error)) from None
    except OSError as error:
        if debug or error.errno == errno.EPIPE:
            raise  # a closed pipe (`| head`): click ends the program quietly
        log.debug("error", exc_info=True)
        _drop_unwritable_stdout()
        where = f"{error.filename}: " if error.filename is not None else ""
        raise SystemExitWithMessage(f"{where}{error.strerror or error}", interrupted() or 1) from None
    except (KeyboardInterrupt, Terminated) as error:
        if debug:
            raise
        click.echo("Interrupted.", err=True)
        sys.exit(INTERRUPTED[signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM])


def _drop_unwritable_stdout():
    """Point stdout at /dev/null when what it holds cannot be written (a full disk, ``> /dev/full``).

    Otherwise the interpreter's last flush fails again on the way out, with a
    traceback and exit code 120 after our one-line error.
    """
    try:
        sys.stdout.flush()
    except OSError:
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class SystemExitWithMessage(click.ClickException):
    """``Error: <message>`` on stderr and the error's exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.exit_code = code
