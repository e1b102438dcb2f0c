"""What every database backend does: lookups, replacing records, load notes, transactions.

Dialects (``mysql.py``, ``sqlite.py``) supply the connection, error
classification and the bulk write; nothing outside ``apeltools.db`` imports a
driver or knows which backend it talks to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, ContextManager

from apeltools.db.rows import RowPlan, plan_for
from apeltools.db.summaries import DELTA_COLUMNS, TIME_COLUMNS, job_deltas
from apeltools.errors import DatabaseError, TransientDatabaseError
from apeltools.records.fields import epoch_of_sql_time
from apeltools.records.types import RecordType

log = logging.getLogger(__name__)

# Dialect-neutral SQL: "?" placeholders (MySQL's driver gets "%s"), identifiers quoted with
# backticks, which both MySQL and SQLite accept.
SELECT_IDS = "SELECT id, name FROM `{table}` WHERE name IN ({marks})"
SELECT_NAMES = "SELECT id, name FROM `{table}` WHERE id IN ({marks})"
COUNT_ROWS = "SELECT COUNT(*) FROM `{table}`"
# LoadToken: the loading transaction's (see Database.committed); None for a message rejected whole.
NOTE_COLUMNS = ("EmpaId", "SignerDN", "Format", "RecordCount", "RejectedCount", "LoadToken")
TOKEN = "SELECT 1 FROM LoadedMessages WHERE LoadToken = ? LIMIT 1"
LOOKUP_CHUNK = 500  # names per IN (...) list
# One message for Database.store_messages: (records, publisher DN, note, plain) as store() takes them.
StoredMessage = tuple[list[Any], str | None, tuple[str | None, str, int] | None, bool]


class Database:
    """A connection to an apeltools database; subclasses implement one dialect."""

    # Set by each dialect: its name (mysql, sqlite: the directory of its schema files), and see
    # "generic bulk statements" below.
    dialect: str
    NOW: str
    YEAR_OF: str  # the year of a DATETIME column ({} is the column)
    MONTH_OF: str
    TIME_MARK: str
    LEAST: str
    GREATEST: str
    NEW: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None  # the dialect's connection wrapper
        self._ids: dict[str, dict[str, int]] = {}  # lookup table -> {name: id}; only ids of committed rows
        self._depth = 0  # nesting of transaction() blocks

    # -- connection -------------------------------------------------------

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        self._depth = 0
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> Any:
        raise NotImplementedError

    def _classify(self, error: Exception) -> DatabaseError | None:
        """Turn a driver exception into TransientDatabaseError or DatabaseError."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        """Adapt dialect-neutral SQL to the driver's parameter style."""
        return sql

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Map driver errors; after a transient one, drop the connection so the next use reconnects."""
        try:
            yield
        except (DatabaseError,):
            raise
        except Exception as error:
            mapped = self._classify(error)
            if mapped is None:
                raise
            if isinstance(mapped, TransientDatabaseError):
                self.close()
            raise mapped from error

    @contextlib.contextmanager
    def transaction(self, snapshot: bool = False) -> Iterator[None]:
        """Run a block in one transaction: commit at the end, roll back on any error.

        Nested blocks join the outer transaction. ``snapshot`` makes every read
        of the block see one consistent state of the database (writers that
        commit meanwhile stay invisible), which summarising needs.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with self._errors():
            conn = self.conn
            conn.begin(snapshot)
            self._depth = 1
            try:
                yield
                conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                # Names added inside the rolled-back transaction are gone again.
                self._ids = {}
                raise
            finally:
                self._depth = 0

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement (no result rows)."""
        with self._errors():
            cursor = self.conn.cursor()
            try:
                cursor.execute(self._sql(sql), tuple(params))
                rowcount: int = cursor.rowcount
                return rowcount
            finally:
                cursor.close()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows as tuples."""
        with self._errors():
            cursor = self.conn.cursor()
            try:
                cursor.execute(self._sql(sql), tuple(params))
                rows: list[tuple[Any, ...]] = cursor.fetchall()
                return rows
            finally:
                cursor.close()

    def query_dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts keyed by column name."""
        with self._errors():
            cursor = self.conn.cursor()
            try:
                cursor.execute(self._sql(sql), tuple(params))
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            finally:
                cursor.close()

    def iterate(self, sql: str, params: Iterable[Any] = (), size: int = 5000) -> Iterator[dict[str, Any]]:
        """Yield the rows of a query as dicts, fetched ``size`` at a time (for large tables)."""
        with self._errors():
            cursor = self.conn.cursor()
            try:
                cursor.execute(self._sql(sql), tuple(params))
                names = [d[0] for d in cursor.description]
                while True:
                    rows = cursor.fetchmany(size)
                    if not rows:
                        break
                    for row in rows:
                        yield dict(zip(names, row))
            finally:
                cursor.close()

    def now(self) -> int:
        """The database's current time (UTC) as epoch seconds."""
        moment = epoch_of_sql_time(self.query(f"SELECT {self.NOW}")[0][0])
        assert moment is not None, "the current time is never NULL"
        return moment

    def get_mark(self, kind: str) -> int | None:
        """Epoch seconds stored for ``kind`` in LastUpdated, or None."""
        rows = self.query("SELECT UpdateTime FROM LastUpdated WHERE Type = ?", (kind,))
        return epoch_of_sql_time(rows[0][0]) if rows else None

    def set_mark(self, kind: str, epoch: int) -> None:
        """Store epoch seconds for ``kind`` in LastUpdated."""
        with self.transaction():
            self.execute("DELETE FROM LastUpdated WHERE Type = ?", (kind,))
            self.execute(f"INSERT INTO LastUpdated (Type, UpdateTime) VALUES (?, {self.TIME_MARK})", (kind, epoch))

    def count_rows(self, table: str) -> int:
        """The number of rows of a table (or view)."""
        return int(self.query(COUNT_ROWS.format(table=table))[0][0])

    def executescript(self, script: str) -> None:
        """Run a schema file: statements separated by ``;`` at the end of a line."""
        raise NotImplementedError

    def create_database(self) -> None:
        """Create the database (SQLite: the directory of its file) if it does not exist yet."""
        raise NotImplementedError

    def exclusive(self, name: str) -> ContextManager[None]:
        """Hold the run lock ``name`` for a block (one summariser, one join at a time); BusyError
        when another process holds it."""
        raise NotImplementedError

    def prepare_for_aggregation(self) -> None:
        """Let the large GROUP BYs of summarising run in memory, as far as the dialect can."""
        raise NotImplementedError

    # -- lookups ----------------------------------------------------------

    def lookup_ids(self, table: str, names: Iterable[str]) -> dict[str, int]:
        """{name: id} for ``names`` in a lookup table, adding the names that are missing.

        New names are committed at once in their own transaction, so a cached id
        always refers to a committed row even if the caller's data transaction
        later rolls back. Several loaders may add the same name at the same time:
        the UNIQUE constraint keeps one row and both read back its id.
        """
        known = self._ids.setdefault(table, {})
        # Sorted: every loader inserts a table's new names in one order, so that two loaders adding
        # the same names at once wait for each other instead of deadlocking on the unique key.
        missing = sorted({name for name in names if name not in known})
        if missing:
            with self.transaction():
                self._insert_names(table, missing)
            for start in range(0, len(missing), LOOKUP_CHUNK):
                chunk = missing[start:start + LOOKUP_CHUNK]
                sql = SELECT_IDS.format(table=table, marks=", ".join("?" * len(chunk)))
                for id_, name in self.query(sql, chunk):
                    known[name] = id_
            lost = [name for name in missing if name not in known]
            if lost:
                raise DatabaseError(f"names not found in {table} after adding them: {lost[:3]}")
        return known

    def lookup_names(self, table: str, ids: Iterable[int]) -> dict[int, str]:
        """{id: name} for the ``ids`` of a lookup table (those it holds)."""
        unique, found = list(dict.fromkeys(ids)), dict[int, str]()
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start:start + LOOKUP_CHUNK]
            found.update(self.query(SELECT_NAMES.format(table=table, marks=", ".join("?" * len(chunk))), chunk))
        return found

    def _insert_names(self, table: str, names: list[str]) -> None:
        raise NotImplementedError

    # -- records ----------------------------------------------------------

    def store(self, rtype: RecordType, records: list[Any], publisher_dn: str | None,
              note: tuple[str | None, str, int] | None = None, plain: bool = False) -> int:
        """Replace ``records`` of one type by natural key, in one transaction.

        ``note`` (empaid, format, rejected count) adds a LoadedMessages row in
        the same transaction, so the log of loads never disagrees with the data.
        ``plain`` promises that no text value holds a backslash, tab or line
        break, which lets a dialect skip escaping. Returns the number of
        records written.
        """
        self.store_messages(rtype, [(records, publisher_dn, note, plain)])
        return len(records)

    def store_messages(self, rtype: RecordType, messages: Sequence[StoredMessage], token: str | None = None) -> None:
        """Store several messages' records of one type in one transaction, as ``store`` would store
        them one after another: a record replaces a stored one (or one of an earlier message) with
        the same key, and each message with a note gets its LoadedMessages row. One commit and one
        bulk write per table for them all; their SummaryDeltas are summed together (the summariser
        adds them up anyway). ``token`` (32 characters, new for each batch) goes on the notes, for
        ``committed`` to find after a commit whose outcome was lost."""
        plan = plan_for(rtype)
        for table in plan.lookup_tables:
            self._ids.setdefault(table, {})
        payload: Any = None
        everything: list[Any] = []
        notes = []
        for records, publisher_dn, note, plain in messages:
            publisher_dn = publisher_dn or "None"
            publisher_id = self.lookup_ids("DNs", [publisher_dn])[publisher_dn]
            try:
                part = self._payload(plan, records, self._ids, publisher_id, plain)
            except KeyError:  # names this process has not seen yet
                for table, names in plan.names(records).items():
                    self.lookup_ids(table, names)
                part = self._payload(plan, records, self._ids, publisher_id, plain)
            if payload is None:
                payload = part
            else:
                payload += part  # in place: the dialect's kind of payload stays
            everything += records
            if note is not None:
                empaid, fmt, rejected = note
                notes.append((empaid, publisher_dn, fmt[:100], len(records), rejected, token))
        deltas = job_deltas(everything, self._ids) if rtype.name == "job" else None
        with self.transaction():
            if everything:
                self._replace_rows(plan, payload)
            if deltas:
                self.insert_rows("SummaryDeltas", DELTA_COLUMNS, deltas, TIME_COLUMNS)
            if notes:
                self._note(notes)

    def committed(self, token: str) -> bool:
        """Whether a ``store_messages`` transaction with notes and ``token`` committed: asked before
        storing a batch again after an error at COMMIT, where the client cannot tell whether the
        server committed (the connection lost at that instant, a Galera node killed after its
        write set replicated). Then the batch must not be stored, and noted, twice."""
        return bool(self._causal_query(TOKEN, (token,)))

    def on_galera(self) -> bool:
        """Whether the database is a node of a Galera cluster (MariaDB with wsrep_on)."""
        return False

    def _causal_query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """``query``, seeing every transaction committed anywhere before it (a dialect with
        asynchronously applied replicas waits for them here)."""
        return self.query(sql, params)

    def _payload(self, plan: RowPlan, records: Sequence[Any], ids: Mapping[str, Mapping[str, int]],
                 publisher_id: int, plain: bool) -> Any:
        """What ``_replace_rows`` writes: row tuples, unless a dialect prefers another form. A list
        (or a subclass), so that the payloads of several messages can be joined."""
        return plan.rows(records, ids, publisher_id)

    def takes_lines(self, rtype: RecordType) -> bool:
        """Whether ``store_lines`` can write records of ``rtype`` here (a dialect whose bulk path
        reads LOAD DATA lines; the import builds them itself from values it checked)."""
        return False

    def store_lines(self, rtype: RecordType, text: str, deltas: Sequence[Sequence[Any]] = ()) -> None:
        """Replace records of ``rtype`` given as LOAD DATA text (lines of ``plan_for(rtype).columns``
        as ``RowPlan.tsv_escaped`` makes them) and add their SummaryDeltas rows, in one transaction;
        only where ``takes_lines``."""
        raise NotImplementedError

    def note_rejected_message(self, empaid: str | None, signer_dn: str | None, fmt: str = "unrecognised") -> None:
        """Log a message that was rejected as a whole (nothing of it could be loaded)."""
        with self.transaction():
            self._note([(empaid, signer_dn or "None", fmt[:100], 0, 1, None)])

    def _note(self, rows: Sequence[tuple[str | None, str, str, int, int, str | None]]) -> None:
        """LoadedMessages rows (empaid, signer DN, format, records, rejected, token), and the loader's
        LastUpdated."""
        self.insert_rows("LoadedMessages", NOTE_COLUMNS, rows)
        self._touch("loader")

    def _replace_rows(self, plan: RowPlan, rows: Any) -> None:
        raise NotImplementedError

    # -- generic bulk statements -------------------------------------------------
    # Dialects set: TIME_MARK (epoch seconds -> DATETIME), LEAST and GREATEST (scalar
    # functions), NEW (how an upsert refers to the proposed value of a column) and
    # upsert_clause(keys, assignments, update_time): update_time says that the table has an
    # UpdateTime column to set on update (MySQL's ON UPDATE CURRENT_TIMESTAMP does it by itself).

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    time_columns: Collection[str] = frozenset()) -> None:
        """Insert rows (times as epoch seconds) with one multi-row statement per chunk."""
        self._insert_many(self._insert_head(table, columns), self._row_marks(columns, time_columns), "", rows)

    def add_rows(self, table: str, keys: Sequence[str], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 time_columns: Collection[str] = frozenset(), add: Iterable[str] = (),
                 least: Iterable[str] = (), greatest: Iterable[str] = ()) -> None:
        """Insert rows; where the key exists, add ``add`` columns, keep the least of ``least``
        and the greatest of ``greatest`` (NULL counts as unknown, not as smallest)."""
        self._insert_many(self._insert_head(table, columns), self._row_marks(columns, time_columns),
                          " " + self.upsert_clause(keys, self._merging(table, add, least, greatest)), rows)

    def upsert_rows(self, table: str, keys: Sequence[str], columns: Sequence[str], rows: Iterable[Sequence[Any]],
                    update: Iterable[str]) -> None:
        """Insert rows; where the key exists, replace its ``update`` columns by the new values
        (for tables without an UpdateTime column)."""
        sets = [f"`{c}` = {self.NEW.format(c)}" for c in update]
        self._insert_many(self._insert_head(table, columns), self._row_marks(columns, frozenset()),
                          " " + self.upsert_clause(keys, sets, update_time=False), list(rows))

    @staticmethod
    def upsert_clause(keys: Sequence[str], assignments: Sequence[str], update_time: bool = True) -> str:
        """The dialect's ``ON CONFLICT``/``ON DUPLICATE KEY`` clause for ``assignments``."""
        raise NotImplementedError

    def _merging(self, table: str, add: Iterable[str], least: Iterable[str], greatest: Iterable[str]) -> list[str]:
        new, assignments = self.NEW, []
        for c in add:
            assignments.append(f"`{c}` = `{table}`.`{c}` + {new.format(c)}")
        for c, function in [(c, self.LEAST) for c in least] + [(c, self.GREATEST) for c in greatest]:
            old = f"`{table}`.`{c}`"
            assignments.append(f"`{c}` = COALESCE({function}({old}, {new.format(c)}), {old}, {new.format(c)})")
        return assignments

    @staticmethod
    def _insert_head(table: str, columns: Sequence[str]) -> str:
        return f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in columns)}) VALUES "

    def _row_marks(self, columns: Sequence[str], time_columns: Collection[str]) -> str:
        return "(" + ", ".join(self.TIME_MARK if c in time_columns else "?" for c in columns) + ")"

    def _insert_many(self, head: str, row: str, tail: str, rows: Sequence[Sequence[Any]]) -> None:
        """``head row tail`` for every row (SQLite prepares it once and runs it per row)."""
        if not rows:
            return
        with self._errors():
            self.conn.executemany(self._sql(head + row + tail), rows)

    def _touch(self, kind: str) -> None:
        """Record that processing of ``kind`` just happened (the LastUpdated table)."""
        raise NotImplementedError
