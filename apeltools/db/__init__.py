"""The only code that talks SQL: connections, dialects, schema and bulk writes.

``connect(url)`` takes ``sqlite:///path/apel.db`` (or a plain path) or
``mysql://user@host:3306/name``; the MySQL password comes from the caller
(configuration or ``APELTOOLS_DB_PASSWORD``), never from the URL.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from apeltools.db.base import Database
from apeltools.errors import ConfigError
from apeltools.quoting import quote

DEFAULT_MYSQL_PORT = 3306


def connect(url: str, password: str | None = None, *, must_exist: bool = False,
            read_only: bool = False) -> Database:
    """A ``Database`` for a URL; connecting happens on first use.

    With ``must_exist`` a missing SQLite file is an error instead of being
    created empty. ``read_only`` (for readers: queries, reports, probes, which
    must change nothing) opens an SQLite file read-only, so that a user who
    may only read it can, and implies ``must_exist``.
    """
    if "://" not in url:
        url = "sqlite:///" + os.path.abspath(url)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from apeltools.db.sqlite import SQLiteDatabase

        path = unquote(parts.path)
        if parts.netloc or not path:
            raise ConfigError(f"bad SQLite URL {quote(url)}: use sqlite:///path/to/apel.db")
        if path != ":memory:" and url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        return SQLiteDatabase(url, path, must_exist=must_exist, read_only=read_only)
    if parts.scheme in ("mysql", "mariadb"):
        from apeltools.db.mysql import MySQLDatabase

        if parts.password:
            raise ConfigError(
                "do not put the database password in the URL (it shows in process lists): "
                "set it in the [db] section of the configuration file or in APELTOOLS_DB_PASSWORD"
            )
        name = parts.path.lstrip("/")
        if not name or not parts.hostname:
            raise ConfigError(f"bad MySQL URL {quote(url)}: use mysql://user@host:3306/database")
        if password is None:
            password = os.environ.get("APELTOOLS_DB_PASSWORD", "")
        return MySQLDatabase(
            url, parts.hostname, parts.port or DEFAULT_MYSQL_PORT, unquote(parts.username or "apel"),
            password, name,
        )
    raise ConfigError(f"unknown database URL scheme {parts.scheme!r} (use sqlite:// or mysql://)")
