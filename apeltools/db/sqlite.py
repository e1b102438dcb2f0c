"""SQLite, the embedded default: connection, error classes, and the bulk write."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from apeltools.db.base import Database
from apeltools.db.rows import RowPlan
from apeltools.errors import BusyError, ConfigError, DatabaseError, TransientDatabaseError

BUSY_TIMEOUT_MS = 30000


class SQLiteDatabase(Database):
    dialect = "sqlite"
    TIME_MARK = "datetime(?, 'unixepoch')"
    LEAST, GREATEST = "MIN", "MAX"
    NEW = "excluded.`{}`"
    YEAR_OF, MONTH_OF = "CAST(strftime('%Y', {}) AS INTEGER)", "CAST(strftime('%m', {}) AS INTEGER)"
    NOW = "datetime('now')"

    @staticmethod
    def upsert_clause(keys: Sequence[str], assignments: Sequence[str], update_time: bool = True) -> str:
        if update_time:  # MySQL's ON UPDATE CURRENT_TIMESTAMP does this by itself.
            assignments = list(assignments) + ["UpdateTime = CURRENT_TIMESTAMP"]
        return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(assignments)

    def __init__(self, url: str, path: str, must_exist: bool = False, read_only: bool = False) -> None:
        super().__init__(url)
        self.path = path
        self.read_only = read_only and path != ":memory:"
        self.must_exist = (must_exist or read_only) and path != ":memory:"

    def _connect(self) -> _Connection:
        target, uri = self.path, False
        if self.must_exist:  # both modes open an existing file only
            mode = "ro" if self.read_only else "rw"
            target, uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?mode={mode}", True
        conn = self._open(target, uri)
        if self.read_only:
            try:
                conn.execute("PRAGMA schema_version")
            except sqlite3.OperationalError as error:
                if error.sqlite_errorname != "SQLITE_CANTOPEN":
                    raise ConfigError(f"cannot read SQLite database {self.path}: {error}") from error
                # A WAL database that no process has open, in a directory this user may not write:
                # SQLite cannot create the shared-memory file beside it. With no writer there is
                # nothing to coordinate with, so read the file as it stands.
                conn.close()
                conn = self._open(target + "&immutable=1", uri)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not self.read_only:  # switching the journal mode writes the file: writers do it, readers find it so
            # WAL lets readers (reports, probes) run while a loader writes.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        # REPLACE fires delete triggers (which mark months for re-summarising) only with this.
        conn.execute("PRAGMA recursive_triggers = ON")
        return _Connection(conn)

    def _open(self, target: str, uri: bool) -> sqlite3.Connection:
        try:
            return sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=uri)
        except sqlite3.Error as error:
            if self.must_exist and not os.path.exists(self.path):
                raise ConfigError(f"no SQLite database at {self.path}") from None
            raise ConfigError(f"cannot open SQLite database {self.path}: {error}") from error

    def create_database(self) -> None:
        """Create the directory of the database file; SQLite creates the file itself."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create {directory}: {error.strerror}") from None

    def prepare_for_aggregation(self) -> None:
        """Let large GROUP BYs (summarising) sort in memory."""
        self.execute("PRAGMA temp_store = MEMORY")

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold an OS lock beside the database file (freed by the kernel if this process dies)."""
        path = f"{self.path}.{name}.lock"
        try:
            handle = open(path, "a")
        except OSError as error:
            raise ConfigError(f"cannot open lock file {path}: {error.strerror}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BusyError(f"another apel-{name} is running on {self.url}") from None
            yield
        finally:
            handle.close()

    def _classify(self, error: Exception) -> DatabaseError | None:
        if not isinstance(error, sqlite3.Error):
            return None
        text = str(error)
        if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return TransientDatabaseError(f"database busy: {error}")
        if isinstance(error, sqlite3.OperationalError) and "disk" in text:
            return TransientDatabaseError(f"database cannot write: {error}")
        return DatabaseError(f"database error: {error}")

    def executescript(self, script: str) -> None:
        with self._errors():
            self.conn.raw.executescript(script)

    def _insert_names(self, table: str, names: list[str]) -> None:
        self.conn.executemany(f"INSERT OR IGNORE INTO `{table}` (name) VALUES (?)", [(n,) for n in names])

    def _touch(self, kind: str) -> None:
        self.execute(
            "INSERT INTO LastUpdated (Type, UpdateTime) VALUES (?, datetime('now')) "
            "ON CONFLICT (Type) DO UPDATE SET UpdateTime = excluded.UpdateTime",
            (kind,),
        )

    def _replace_rows(self, plan: RowPlan, rows: Any) -> None:
        columns = plan.columns
        marks = ", ".join("datetime(?, 'unixepoch')" if c in plan.time_columns else "?" for c in columns)
        names = ", ".join(f"`{c}`" for c in columns)
        newer = plan.rtype.newer
        if newer is None:
            sql = f"INSERT OR REPLACE INTO `{plan.rtype.table}` ({names}) VALUES ({marks})"
        else:
            keys = set(plan.key_columns)
            sets = ", ".join(f"`{c}` = excluded.`{c}`" for c in columns if c not in keys)
            sql = (
                f"INSERT INTO `{plan.rtype.table}` ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({', '.join(plan.key_columns)}) DO UPDATE SET {sets}, "
                "UpdateTime = CURRENT_TIMESTAMP "
                f"WHERE excluded.`{newer}` >= `{plan.rtype.table}`.`{newer}`"
            )
        with self._errors():
            self.conn.executemany(sql, rows)


class _Connection:
    """A sqlite3 connection with explicit write transactions.

    The stdlib's implicit transactions start late and as readers; a reader
    that later writes can fail at once when another process wrote meanwhile.
    ``begin`` takes the write lock up front (``BEGIN IMMEDIATE``, waiting up to
    the busy timeout) and reads outside transactions are autocommit.
    """

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def begin(self, snapshot: bool = False) -> None:
        # The write lock taken up front also makes every read of the block consistent.
        self.raw.execute("BEGIN IMMEDIATE")

    def cursor(self) -> sqlite3.Cursor:
        return self.raw.cursor()

    def executemany(self, sql: str, rows: Any) -> None:
        self.raw.executemany(sql, rows)

    def commit(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self.raw.close()
