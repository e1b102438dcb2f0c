"""Configuration: one INI file with the sections operators know, plus environment overrides.

Precedence: command-line flag, then ``APELTOOLS_<SECTION>_<KEY>`` in the
environment, then the file (``--config``, ``APELTOOLS_CONFIG``, or
``/etc/apeltools/apeltools.cfg`` when it exists), then the default. The
existing programs' files (``loader.cfg``, ``db.cfg``, ``receiver.cfg``, ...)
use the same sections and keys and can be given to ``--config`` as they are; a
program that took two files (``-d db.cfg -c loader.cfg``) takes the db.cfg
through :meth:`Config.read_db_file`.

A section or key that no program reads (:mod:`apeltools.config_keys`) is
most likely a typo that leaves a default in force: :meth:`Config.warn_unknown`
logs one warning for each, naming the known key nearest to it.
"""

import configparser
import logging
import os

from apeltools.config_keys import FALSE, TRUE, unknown  # noqa: F401 (TRUE, FALSE: for the programs)
from apeltools.errors import ConfigError
from apeltools.quoting import quote

log = logging.getLogger(__name__)

DEFAULT_PATH = "/etc/apeltools/apeltools.cfg"


class Config:
    """Values from an INI file, overridable from the environment."""

    def __init__(self, parser=None, path=None, environ=None):
        self.parser = parser or configparser.ConfigParser(interpolation=None)
        self.path = path
        self.environ = os.environ if environ is None else environ
        # What no program reads, in this file and any read_db_file added; see warn_unknown().
        self.unknown = unknown(self.parser, path) if path else []
        self._warned = 0

    @classmethod
    def load(cls, path=None, environ=None):
        """Read the configuration file; an explicitly named file must exist."""
        environ = os.environ if environ is None else environ
        explicit = path or environ.get("APELTOOLS_CONFIG")
        path = explicit or DEFAULT_PATH
        parser = configparser.ConfigParser(interpolation=None)
        if explicit or os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    parser.read_file(handle)
            except OSError as error:
                raise ConfigError(f"cannot read configuration {path}: {error.strerror}") from None
            except configparser.Error as error:
                raise ConfigError(f"configuration {path} is not a valid INI file: {error}") from None
        else:
            path = None
        return cls(parser, path, environ)

    def read_db_file(self, path: str) -> None:
        """Take ``[db]`` from a file of its own, as the existing loader, summariser and unloader
        read it (``-d db.cfg``): its keys replace the main file's ``[db]``; the environment
        still wins over both."""
        db_file = Config.load(path, self.environ)
        if not db_file.parser.has_section("db"):
            raise ConfigError(f"database configuration {path} has no [db] section")
        self.parser.remove_section("db")
        self.parser.read_dict({"db": dict(db_file.parser.items("db"))})
        self.unknown += db_file.unknown
        self.warn_unknown()

    def warn_unknown(self) -> None:
        """Log a warning for each section and key that no program reads, once each.

        Programs call it once logging is set up; :meth:`read_db_file` for the file it adds.
        """
        for problem in self.unknown[self._warned:]:
            log.warning("%s", problem)
        self._warned = len(self.unknown)

    def get(self, section, key, default=None):
        """A value: environment ``APELTOOLS_<SECTION>_<KEY>``, then the file, then ``default``."""
        env = f"APELTOOLS_{section}_{key}".upper()
        if env in self.environ:
            return self.environ[env]
        if self.parser.has_option(section, key):
            return self.parser.get(section, key)
        return default

    def get_bool(self, section, key, default=False):
        value = self.get(section, key)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ConfigError(f"[{section}] {key} must be true or false, not {quote(value)}")

    def get_float(self, section, key, default=None):
        value = self.get(section, key)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"[{section}] {key} must be a number, not {quote(value)}") from None

    def db_url(self):
        """The database URL from ``[db]``: ``url``, or the existing ``backend``/``hostname``/... keys."""
        url = self.get("db", "url")
        if url:
            return url
        backend = (self.get("db", "backend") or "").lower()
        if backend == "sqlite":
            path = self.get("db", "path") or self.get("db", "name")
            if not path:
                raise ConfigError("[db] backend = sqlite needs path = /path/to/apel.db")
            return "sqlite:///" + os.path.abspath(path)
        if backend in ("mysql", "mariadb") or self.get("db", "hostname"):
            host = self.get("db", "hostname", "localhost")
            port = self.get("db", "port", "3306")
            name = self.get("db", "name")
            user = self.get("db", "username", "apel")
            if not name:
                raise ConfigError("[db] needs name = <database name>")
            return f"mysql://{user}@{host}:{port}/{name}"
        return None

    def db_password(self):
        """The MySQL password: ``APELTOOLS_DB_PASSWORD``, ``[db] password``, or a ``password_file``."""
        password = self.get("db", "password")
        if password is not None:
            return password
        password_file = self.get("db", "password_file")
        if password_file:
            try:
                with open(password_file, encoding="utf-8") as handle:
                    return handle.read().strip()
            except OSError as error:
                raise ConfigError(f"cannot read [db] password_file {password_file}: {error.strerror}") from None
        return None
