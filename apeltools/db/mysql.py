"""MySQL 8 / MariaDB: connection, error classes, and the bulk write through LOAD DATA."""

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import uuid

from apeltools.db.base import Database
from apeltools.db.rows import TSV_NULL, plan_for, tsv_escape
from apeltools.db.summaries import DELTA_COLUMNS, TIME_COLUMNS as DELTA_TIME_COLUMNS
from apeltools.errors import (BusyError, ConfigError, ConflictError, DataRejected, DatabaseError,
                              TransientDatabaseError, WriteSetTooLarge)

log = logging.getLogger(__name__)

# A transaction that lost to a concurrent one: lock wait timeout, deadlock (and a Galera
# certification conflict, reported as a deadlock at commit).
CONFLICT_ERRNOS = frozenset({1205, 1213})
# Server and client error numbers after which the same work may succeed later.
TRANSIENT_ERRNOS = frozenset({
    1040,  # too many connections
    1053,  # server shutdown in progress
    1317,  # query interrupted
    1927,  # connection killed
    2002, 2003, 2006, 2013, 2055,  # cannot connect, server gone, lost connection
    4031,  # disconnected by the server (idle)
})
# Galera: a node outside the primary component (or still joining) refuses statements with
# 1047 "WSREP has not yet prepared node for application use"; 1047 is also "Unknown command",
# hence the check of the message.
WSREP_NOT_READY = 1047
# Galera refuses a transaction whose write set passes wsrep_max_ws_rows or wsrep_max_ws_size:
# waiting will not make it fit. MariaDB 10.11 says so as 1180 "wsrep_max_ws_rows exceeded", 1105
# "Maximum writeset size exceeded", or (a multi-table UPDATE over the size) only 4165 "Galera
# replication not supported".
WRITE_SET_TOO_LARGE = {1180: "wsrep_max_ws", 1105: "writeset size"}
REPLICATION_REFUSED = 4165
# Unknown server host: a mistyped name (or a name the resolver cannot find) that waiting will not fix.
UNKNOWN_HOST = 2005
# Errors about the values themselves: the data of that message cannot be stored as it is.
DATA_ERRNOS = frozenset({1048, 1264, 1292, 1366, 1406})
STRICT_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
LOCAL_INFILE_REFUSED = frozenset({1148, 2068, 3948, 3950})


class MySQLDatabase(Database):
    dialect = "mysql"
    TIME_MARK = "FROM_UNIXTIME(?)"
    LEAST, GREATEST = "LEAST", "GREATEST"
    NEW = "VALUES(`{}`)"
    YEAR_OF, MONTH_OF = "YEAR({})", "MONTH({})"
    NOW = "UTC_TIMESTAMP()"

    @staticmethod
    def upsert_clause(keys, assignments, update_time=True):
        return "ON DUPLICATE KEY UPDATE " + ", ".join(assignments)

    def __init__(self, url, host, port, user, password, database):
        super().__init__(url)
        self._params = dict(host=host, port=port, user=user, password=password, database=database)
        self._infile_dir = None
        self._local_infile = True

    def _connect(self):
        import mysql.connector

        self._infile_dir = self._infile_dir or tempfile.mkdtemp(prefix="apeltools-load-")
        try:
            conn = mysql.connector.connect(
                **self._params,
                use_pure=False,
                # Reads outside transaction() blocks must not hold a transaction (and its
                # metadata locks) open; transaction() starts one explicitly.
                autocommit=True,
                charset="utf8mb4",
                connection_timeout=10,
                allow_local_infile=True,
                allow_local_infile_in_path=self._infile_dir,
            )
        except mysql.connector.Error as error:
            raise self._classify(error) from error
        if not type(conn).__name__.startswith("CMySQL"):
            log.warning("mysql-connector's C extension is not in use: loading will be slower")
        cursor = conn.cursor()
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute(f"SET SESSION sql_mode = '{STRICT_MODE}'")
        # Every statement sees what others committed (lookups added by other
        # loaders, probes reading fresh data) and REPLACE takes fewer gap locks.
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.close()
        return _Connection(conn)

    def create_database(self):
        """Create the database named in the URL if it does not exist yet."""
        import mysql.connector

        params = dict(self._params)
        name = params.pop("database")
        try:
            conn = mysql.connector.connect(**params, use_pure=False, connection_timeout=10)
        except mysql.connector.Error as error:
            raise self._classify(error) from error
        try:
            cursor = conn.cursor()
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name.replace('`', '``')}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        except mysql.connector.Error as error:
            raise self._classify(error) from error
        finally:
            conn.close()

    def on_galera(self):
        rows = self.query("SHOW VARIABLES LIKE 'wsrep_on'")
        return bool(rows) and rows[0][1] == "ON"

    def _causal_query(self, sql, params):
        """On a Galera node, a read waits for the write sets certified before it to be applied
        here (wsrep_sync_wait); a node that just rejoined may not have applied them yet."""
        if not self.on_galera():
            return self.query(sql, params)
        self.execute("SET SESSION wsrep_sync_wait = 1")
        try:
            return self.query(sql, params)
        finally:
            self.execute("SET SESSION wsrep_sync_wait = DEFAULT")

    @property
    def uses_c_extension(self):
        return type(self.conn.raw).__name__.startswith("CMySQL")

    def close(self):
        """Close the connection, and remove the directory of its LOAD DATA files (a process that
        ends with os._exit, as apel-load's workers do, never runs ``__del__``)."""
        super().close()
        if self._infile_dir:
            shutil.rmtree(self._infile_dir, ignore_errors=True)
            self._infile_dir = None

    def __del__(self):
        if self._infile_dir:
            shutil.rmtree(self._infile_dir, ignore_errors=True)

    def _classify(self, error):
        import mysql.connector

        error = _connector_error(error)
        if not isinstance(error, mysql.connector.Error):
            return None
        errno = getattr(error, "errno", None)
        if errno in CONFLICT_ERRNOS:
            return ConflictError(f"database unavailable: {error}")
        if errno in TRANSIENT_ERRNOS or (errno in (None, -1) and isinstance(
            error, (mysql.connector.InterfaceError, mysql.connector.OperationalError)
        )) or (errno == WSREP_NOT_READY and "WSREP" in str(error)):
            return TransientDatabaseError(f"database unavailable: {error}")
        if errno == UNKNOWN_HOST:
            return ConfigError(f"cannot use database {self.url}: {error.msg}; is the host name right?")
        if errno in (1045, 1044, 1049):
            return ConfigError(f"cannot use database {self.url}: {error}")
        too_large = errno in WRITE_SET_TOO_LARGE and WRITE_SET_TOO_LARGE[errno] in str(error)
        if too_large or errno == REPLICATION_REFUSED:
            return WriteSetTooLarge(
                f"database error: {error}: {'the' if too_large else 'most likely the'} transaction is larger "
                "than the Galera cluster lets one transaction be; raise wsrep_max_ws_rows/wsrep_max_ws_size "
                "(MariaDB's defaults: no row limit, 2 GiB) on every node, or (apel-load) have smaller messages sent, "
                "(apel-join) give a smaller --chunk")
        if errno in DATA_ERRNOS:
            return DataRejected(f"database refused the values: {error}")
        return DatabaseError(f"database error: {error}")

    def _sql(self, sql):
        return sql.replace("?", "%s")

    def prepare_for_aggregation(self):
        """Let large GROUP BYs (summarising) keep their temporary tables in memory."""
        self.execute("SET SESSION tmp_table_size = 1073741824")
        self.execute("SET SESSION max_heap_table_size = 1073741824")

    @contextlib.contextmanager
    def exclusive(self, name):
        """Hold the run lock ``name``: a row of RunLocks, so that it holds across a Galera cluster.

        GET_LOCK would be local to one node. The row is inserted in a transaction of its own and
        kept alive by a heartbeat on a connection of its own (this one may be inside a long
        transaction, whose writes others would not see); a holder that died leaves a row that
        others take over once it has expired, or at once when it names a gone process of this host.
        """
        holder = _RunLock(self._spare(), name, self.url)
        holder.acquire()
        try:
            yield
        finally:
            holder.release()

    def _spare(self):
        """Another connection to the same database, for work that must commit on its own."""
        return MySQLDatabase(self.url, **self._params)

    def executescript(self, script):
        with self._errors():
            cursor = self.conn.cursor()
            try:
                for statement in split_statements(script):
                    cursor.execute(statement)
            finally:
                cursor.close()

    def _insert_names(self, table, names):
        marks = ", ".join(["(?)"] * len(names))
        self.execute(f"INSERT IGNORE INTO `{table}` (name) VALUES {marks}", names)

    def _touch(self, kind):
        self.execute(
            "INSERT INTO LastUpdated (Type, UpdateTime) VALUES (?, UTC_TIMESTAMP()) "
            "ON DUPLICATE KEY UPDATE UpdateTime = VALUES(UpdateTime)",
            (kind,),
        )

    def _insert_many(self, head, row, tail, rows):
        """One multi-row statement per 500 rows: each statement is a round trip to the server."""
        if not rows:
            return
        with self._errors():
            cursor = self.conn.cursor()
            try:
                for start in range(0, len(rows), 500):
                    chunk = rows[start:start + 500]
                    sql = self._sql(head + ", ".join([row] * len(chunk)) + tail)
                    cursor.execute(sql, [value for values in chunk for value in values])
            finally:
                cursor.close()

    def query_raw(self, sql, params=()):
        """(rows, typed) of a query: the rows as the server sent them (bytes, None for NULL), and
        ``typed(row)``, the row as ``query`` would have returned it. For reading millions of rows
        whose values the caller mostly passes on as text: making a Python object of every value
        costs more than the caller's own work on them."""
        from mysql.connector.conversion import MySQLConverter

        with self._errors():
            cursor = self.conn.raw.cursor(raw=True)
            try:
                cursor.execute(self._sql(sql), tuple(params))
                rows = cursor.fetchall()
                description = cursor.description
            finally:
                cursor.close()
        convert = MySQLConverter("utf8mb4").to_python
        columns = list(enumerate(description or ()))
        return rows, lambda row: tuple(None if row[i] is None else convert(d, row[i]) for i, d in columns)

    def takes_lines(self, rtype):
        return rtype.newer is None and self._local_infile

    def store_lines(self, rtype, text, deltas=()):
        plan = plan_for(rtype)
        with self.transaction():
            if text:
                self._replace_rows(plan, _Lines([text]))
            if deltas:
                self.insert_rows("SummaryDeltas", DELTA_COLUMNS, deltas, DELTA_TIME_COLUMNS)

    def _payload(self, plan, records, ids, publisher_id, plain):
        """LOAD DATA lines, or rows when that path is not used for this record type."""
        if plan.rtype.newer is None and self._local_infile:
            build = plan.tsv if plain else plan.tsv_escaped
            return _Lines(build(records, ids, publisher_id))
        return plan.rows(records, ids, publisher_id)

    def _replace_rows(self, plan, rows):
        if isinstance(rows, _Lines):
            try:
                return self._load_data(plan, rows)
            except DatabaseError as error:
                cause = error.__cause__
                if getattr(cause, "errno", None) not in LOCAL_INFILE_REFUSED:
                    raise
                log.warning("the server refuses LOAD DATA LOCAL (%s): using INSERT", cause)
                self._local_infile = False
                raise TransientDatabaseError("switching to INSERT; retry") from error
        return self._upsert(plan, rows)

    def _load_data(self, plan, lines):
        self._load_lines(plan.rtype.table, plan.columns, plan.time_columns, lines)

    def insert_rows(self, table, columns, rows, time_columns=frozenset()):
        """Bulk insert through LOAD DATA (many times faster than INSERT for large sets: the connector
        puts each parameter into a multi-row INSERT in Python; from 50 rows on LOAD DATA is faster)."""
        if len(rows) < 50 or not self._local_infile:
            return super().insert_rows(table, columns, rows, time_columns)
        self._load_lines(table, columns, time_columns, ["\t".join(map(_tsv, row)) for row in rows])

    def _load_lines(self, table, columns, time_columns, lines):
        """Bulk replace through LOAD DATA LOCAL INFILE: the server's fastest path.

        Times go through user variables to be converted from epoch seconds
        (the session time zone is UTC). With LOCAL the server turns value
        errors into warnings, so any warning fails the load.
        """
        targets = [f"@{c}" if c in time_columns else f"`{c}`" for c in columns]
        assignments = [f"`{c}` = FROM_UNIXTIME(@{c})" for c in columns if c in time_columns]
        fd, path = tempfile.mkstemp(dir=self._infile_dir, suffix=".tsv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write("\n".join(lines))
                out.write("\n")
            sql = (
                f"LOAD DATA LOCAL INFILE '{path}' REPLACE INTO TABLE `{table}` "
                "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                f"LINES TERMINATED BY '\\n' ({', '.join(targets)})"
                + (f" SET {', '.join(assignments)}" if assignments else "")
            )
            with self._errors():
                cursor = self.conn.cursor()
                try:
                    cursor.execute(sql)
                    if cursor.warning_count:
                        cursor.execute("SHOW WARNINGS LIMIT 3")
                        warnings = "; ".join(str(w[2]) for w in cursor.fetchall())
                        raise DataRejected(f"database refused the values: {warnings}")
                finally:
                    cursor.close()
        finally:
            with contextlib.suppress(FileNotFoundError):  # a lost connection's close() removed it
                os.unlink(path)

    def _upsert(self, plan, rows):
        """Multi-row INSERT ... ON DUPLICATE KEY UPDATE.

        With ``newer`` set, a stored row is only overwritten by a row whose
        ``newer`` column is at least as recent; that column is assigned last
        because MySQL applies the assignments in order.
        """
        columns = plan.columns
        newer = plan.rtype.newer
        keys = set(plan.key_columns)
        updated = [c for c in columns if c not in keys and c != newer] + ([newer] if newer else [])
        if newer:
            condition = f"VALUES(`{newer}`) >= `{newer}`"
            sets = [f"`{c}` = IF({condition}, VALUES(`{c}`), `{c}`)" for c in updated]
        else:
            sets = [f"`{c}` = VALUES(`{c}`)" for c in updated]
        self._insert_many(self._insert_head(plan.rtype.table, columns), self._row_marks(columns, plan.time_columns),
                          " ON DUPLICATE KEY UPDATE " + ", ".join(sets), rows)


def _tsv(value):
    """One value as a LOAD DATA field (default escaping)."""
    if isinstance(value, str):
        return tsv_escape(value)
    return TSV_NULL if value is None else str(value)


class _Lines(list):
    """Rows already written as LOAD DATA lines."""


class _RunLock:
    """One row of RunLocks held by this process, with its heartbeat thread (see ``exclusive``)."""

    TTL = 120  # seconds a lock outlives its last heartbeat
    BEAT = 30

    def __init__(self, db, name, url):
        self.db, self.name, self.url = db, name, url
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.stopped = threading.Event()
        self.thread = None

    def acquire(self):
        for _ in range(3):
            self._clear_stale()
            try:
                self.db.execute(
                    "INSERT INTO RunLocks (Name, Owner, Host, Pid, Acquired, Expires) "
                    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL ? SECOND)",
                    (self.name, self.owner, self.host, os.getpid(), self.TTL))
            except DatabaseError as error:
                # A duplicate key (1062) here, or a certification conflict (1213) when two nodes
                # inserted at once: whoever's row is there holds the lock.
                holder = self._holder()
                if holder is not None:
                    host, pid, acquired, expires = holder
                    raise BusyError(
                        f"another apel-{self.name} is running on {self.url} (on {host}, pid {pid}, "
                        f"since {acquired:%Y-%m-%d %H:%M:%S} UTC; its lock expires at "
                        f"{expires:%H:%M:%S} UTC unless renewed)") from error
                if not isinstance(error, TransientDatabaseError):
                    raise
                continue
            self.thread = threading.Thread(target=self._beat, name=f"lock {self.name}", daemon=True)
            self.thread.start()
            return
        raise BusyError(f"cannot take the apel-{self.name} lock on {self.url}: it keeps changing hands")

    def _holder(self):
        rows = self.db.query("SELECT Host, Pid, Acquired, Expires FROM RunLocks WHERE Name = ?", (self.name,))
        return rows[0] if rows else None

    def _clear_stale(self):
        self.db.execute("DELETE FROM RunLocks WHERE Name = ? AND Expires < UTC_TIMESTAMP()", (self.name,))
        holder = self._holder()
        if holder is not None and holder[0] == self.host and not _alive(holder[1]):
            self.db.execute("DELETE FROM RunLocks WHERE Name = ? AND Host = ? AND Pid = ?",
                            (self.name, self.host, holder[1]))

    def _beat(self):
        while not self.stopped.wait(self.BEAT):
            try:
                self.db.execute("UPDATE RunLocks SET Expires = UTC_TIMESTAMP() + INTERVAL ? SECOND "
                                "WHERE Name = ? AND Owner = ?", (self.TTL, self.name, self.owner))
            except DatabaseError as error:  # the work itself will fail if the database is gone
                log.warning("cannot renew the apel-%s lock: %s", self.name, error)

    def release(self):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
        try:
            self.db.execute("DELETE FROM RunLocks WHERE Name = ? AND Owner = ?", (self.name, self.owner))
        except DatabaseError as error:  # it expires by itself
            log.warning("cannot release the apel-%s lock (it expires in %d s): %s", self.name, self.TTL, error)
        finally:
            self.db.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _connector_error(error):
    """The mysql.connector exception for ``error``; the C extension's own ``MySQLInterfaceError``
    (raised as it is by ``commit()``: a Galera certification conflict, "Deadlock found when
    trying to get lock", 1213) becomes the exception class its errno maps to."""
    from mysql.connector import errors

    try:
        from _mysql_connector import MySQLError as CExtensionError
    except ImportError:  # pure-Python connector only
        return error
    if isinstance(error, CExtensionError):
        return errors.get_mysql_exception(getattr(error, "errno", -1), getattr(error, "msg", str(error)),
                                          getattr(error, "sqlstate", None))
    return error


class _Connection:
    """A mysql-connector connection in autocommit mode; ``begin`` starts a transaction."""

    def __init__(self, raw):
        self.raw = raw
        self.cursor = _cursor_maker(raw)
        self.commit = raw.commit
        self.executemany = None  # multi-row statements instead: see MySQLDatabase._insert_many
        self.rollback = raw.rollback
        self.close = raw.close

    def begin(self, snapshot=False):
        cursor = self.cursor()
        if snapshot:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        else:
            cursor.execute("START TRANSACTION")
        cursor.close()


def _cursor_maker(raw):
    """What makes a plain cursor on ``raw``. The connector's ``cursor()`` pings the server first,
    a round trip for every statement; a connection that is gone fails the statement itself
    (a transient error: the caller reconnects), so the C extension's cursors are made directly."""
    try:
        from mysql.connector.cursor_cext import CMySQLCursor
    except ImportError:  # pure-Python connector only
        return raw.cursor
    if not type(raw).__name__.startswith("CMySQL"):
        return raw.cursor
    return lambda: CMySQLCursor(raw)  # what cursor() makes of a connection opened as _connect does


def split_statements(script):
    """The statements of a schema file: ``;`` at the end of a line ends one; ``--`` lines are comments."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements
