"""What every program shares: common options, configuration, logging, and error → exit code."""

import calendar
import contextlib
import datetime
import functools
import logging
import sys

import click

from apeltools import logs
from apeltools.config import Config
from apeltools.errors import ApelError, exit_code_for
from apeltools.records.fields import month_bounds

log = logging.getLogger(__name__)


class Context:
    """What a program's command receives: its configuration and how to reach the database."""

    def __init__(self, program, config, debug):
        self.program = program
        self.config = config
        self.debug = debug

    def database(self, url=None):
        """The database from ``--db``, else APELTOOLS_DB_URL or ``[db]``; an error when none is set."""
        from apeltools import db

        url = url or self.config.db_url()
        if not url:
            raise click.UsageError("no database configured: give --db URL or set [db] in the configuration")
        return db.connect(url, password=self.config.db_password())


def command(program, **settings):
    """A click command for a program, with --config, -v, -q and --debug, and error handling.

    The wrapped function receives a ``Context`` as its first argument. Library
    errors (``ApelError``) become ``Error: ...`` and exit 1; tracebacks only
    with ``--debug``.
    """

    def decorate(function):
        @click.option("--config", "config_path", metavar="FILE", envvar="APELTOOLS_CONFIG",
                      help="Configuration file [default: /etc/apeltools/apeltools.cfg if present].")
        @click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debugging).")
        @click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
        @click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
        @functools.wraps(function)
        def run(config_path, verbose, quiet, debug, **kwargs):
            with handled(debug):
                config = Config.load(config_path)
                logs.setup(program, verbose, quiet, config)
                return function(Context(program, config, debug), **kwargs)

        settings.setdefault("context_settings", {"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
        return click.command(program, **settings)(run)

    return decorate


@contextlib.contextmanager
def handled(debug):
    """Map library errors to click's ``Error:`` output and exit codes."""
    try:
        yield
    except ApelError as error:
        if debug:
            raise
        log.debug("error", exc_info=True)
        raise SystemExitWithMessage(str(error), exit_code_for(error)) from None
    except KeyboardInterrupt:
        if debug:
            raise
        click.echo("Interrupted.", err=True)
        sys.exit(130)


def day_or_month_start(value):
    """Epoch seconds of the start of a YYYY-MM-DD day or a YYYY-MM month (UTC), for date options."""
    for fmt in ("%Y-%m-%d", "%Y-%m"):
        try:
            return calendar.timegm(datetime.datetime.strptime(value, fmt).timetuple())
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM)")


def day_or_month_end(value):
    """Epoch seconds just after the end of a YYYY-MM-DD day or a YYYY-MM month (UTC)."""
    start = day_or_month_start(value)
    if len(value) == 7:
        return month_bounds(*map(int, value.split("-")))[1]
    return start + 86400


def comma_list(value):
    """The items of a comma-separated option value, blanks dropped."""
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


class SystemExitWithMessage(click.ClickException):
    """``Error: <message>`` on stderr and the error's exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.exit_code = code
