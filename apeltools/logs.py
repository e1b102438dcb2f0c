"""Logging for programs: people on stderr, operators in a log file, nothing on a quiet success.

stderr gets warnings and errors (cron mails stderr, so a quiet successful run
prints nothing there); ``-v`` adds the per-message lines and the summary, on a
terminal too. On a terminal the lines go through the console that draws the
progress bars (:mod:`apeltools.progress`), so that a line never lands on the
bar's line. ``[logging] logfile`` (and ``level``) send a complete record to a
file that logrotate may move away at any time.
"""

import logging
import logging.handlers
import sys

from apeltools import progress
from apeltools.errors import ConfigError

FILE_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"


def setup(program, verbose=0, quiet=False, config=None):
    """Configure the root logger for one program run."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    console = _ProgressConsoleHandler() if sys.stderr.isatty() else logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter(f"{program}: %(message)s"))
    root.addHandler(console)
    root.setLevel(min(level, logging.INFO))
    if config is not None:
        logfile = config.get("logging", "logfile")
        if logfile:
            file_level = (config.get("logging", "level") or "INFO").upper()
            if file_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
                raise ConfigError(f"[logging] level must be DEBUG, INFO, WARNING or ERROR, not {file_level}")
            try:
                handler = logging.handlers.WatchedFileHandler(logfile)
            except OSError as error:
                raise ConfigError(f"cannot open [logging] logfile {logfile}: {error.strerror}") from None
            handler.setLevel(file_level)
            handler.setFormatter(logging.Formatter(FILE_FORMAT))
            root.addHandler(handler)
            root.setLevel(min(root.level, handler.level))
            if not config.get_bool("logging", "console", True):
                root.removeHandler(console)
    for noisy in ("stomp.py", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _ProgressConsoleHandler(logging.Handler):
    """Log lines printed by the console of the progress bars: above a bar, never on its line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress.console().print(self.format(record))
        except Exception:  # as logging.StreamHandler: a line that cannot be written never stops the program
            self.handleError(record)
