"""SQL of importing a deployed APEL database: reading its tables in key order, and the import's own state.

The source is a database in the deployed server or client layout (MySQL or
MariaDB); it is only ever read. Its tables are read in the order of their
primary key, one page at a time from just after the last key imported, so an
interrupted import continues where it stopped. The target keeps, in the same
transaction as the records, the last key of each table (ImportProgress) and
the rows it refused (ImportIssues, migration 007).
"""

import datetime
import hashlib
import json

from apeltools.records.fields import epoch_of_sql_time

TABLES_IN_SOURCE = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
COLUMNS_IN_SOURCE = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = DATABASE()"
)
LOOKUP_NAMES = "SELECT id, name FROM `{table}`"
LAST_UPDATED = "SELECT Type, UpdateTime FROM LastUpdated"


def source_tables(db) -> dict:
    """{table: {column: data type}} of the source database (names as the server spells them)."""
    found = {}
    for table, column, data_type in db.query(COLUMNS_IN_SOURCE):
        found.setdefault(table, {})[column] = data_type.lower()
    return found


def read_expression(column: str, kind: str, data_type: str) -> str:
    """How a source column is read: DATETIME as epoch seconds (the session is UTC; a zero date is
    NULL), DECIMAL into a float field as a DOUBLE, anything else as it is."""
    if data_type in ("datetime", "timestamp") and kind == "time":
        return f"NULLIF(UNIX_TIMESTAMP(`{column}`), 0)"
    if data_type == "decimal" and kind == "float":
        return f"`{column}` * 1e0"
    return f"`{column}`"


def lookup_names(db, table: str) -> dict:
    """{id: name} of a source lookup table."""
    return dict(db.query(LOOKUP_NAMES.format(table=table)))


def last_updated(db) -> dict:
    """{Type: epoch seconds} of the source's LastUpdated table."""
    return {kind: epoch_of_sql_time(moment) for kind, moment in db.query(LAST_UPDATED)}


def _beyond(key, op, last):
    """``(k1, k2, …) > (?, ?, …)`` (``op`` and ``last`` '>') or ``<= (?, ?, …)`` ('<', '<=')
    spelt out, which MySQL turns into one range of the primary key."""
    first = f"`{key[0]}`"
    if len(key) == 1:
        return f"{first} {last} ?"
    return f"({first} {op} ? OR ({first} = ? AND {_beyond(key[1:], op, last)}))"


def _beyond_params(values):
    if len(values) == 1:
        return [values[0]]
    return [values[0], values[0]] + _beyond_params(values[1:])


def page_sql(table: str, expressions, key, after, limit: int, upto=None):
    """(sql, params) of the next ``limit`` rows of ``table`` after key values ``after`` (None: from
    the start) and up to ``upto`` (None: to the end), in key order: each row holds
    ``expressions``, then the key's columns as stored."""
    conditions, params = [], []
    for bound, op, last in ((after, ">", ">"), (upto, "<", "<=")):
        if bound is not None:
            conditions.append(_beyond(key, op, last))
            params += _beyond_params(list(bound))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = ", ".join(f"`{c}`" for c in key)
    selected = ", ".join(list(expressions) + [f"`{c}`" for c in key])
    return f"SELECT {selected} FROM `{table}`{where} ORDER BY {order} LIMIT {int(limit)}", params


KEY_AT = "SELECT {key} FROM `{table}` ORDER BY {key} LIMIT 1 OFFSET {offset}"


def split_keys(db, table: str, key, rows: int, parts: int) -> list:
    """Keys that cut ``table`` (about ``rows`` rows), in key order, into ``parts`` ranges of about
    equal size: range k holds the keys after cut k-1 (none: from the start) up to cut k (none:
    to the end). Each cut costs the server a walk of the primary key up to it."""
    columns = ", ".join(f"`{c}`" for c in key)
    cuts = []
    for k in range(1, parts):
        found = db.query(KEY_AT.format(key=columns, table=table, offset=max(rows * k // parts - 1, 0)))
        if found:
            cuts.append(list(found[0]))
    return cuts


def read_page(db, table, expressions, key, after, limit, upto=None) -> list:
    """The next page of rows after ``after`` (see ``page_sql``)."""
    sql, params = page_sql(table, expressions, key, after, limit, upto)
    return db.query(sql, params)


def read_raw_page(db, table, expressions, key, after, limit, upto=None) -> tuple:
    """(rows, typed) of the next page after ``after`` (see ``page_sql``): the rows as the server
    sent them and how to make one the row ``read_page`` would give (``Database.query_raw``)."""
    sql, params = page_sql(table, expressions, key, after, limit, upto)
    return db.query_raw(sql, params)


# -- verification -------------------------------------------------------------------------

SOURCE_MONTHS = (
    "SELECT s.name, t.Year, t.Month, SUM(t.NumberOfJobs), SUM(t.WallDuration), SUM(t.CpuDuration){normalised} "
    "FROM `{table}` AS t JOIN Sites AS s ON s.id = t.SiteID GROUP BY s.name, t.Year, t.Month"
)
OUR_MONTHS = (
    "SELECT s.name, t.Year, t.Month, SUM(t.NumberOfJobs), SUM(t.WallDuration), SUM(t.CpuDuration), "
    "SUM(t.NormalisedWallDuration) FROM SuperSummaries AS t JOIN Sites AS s ON s.id = t.SiteID "
    "GROUP BY s.name, t.Year, t.Month"
)


def month_totals(db, table: str | None = None, normalised: bool = True) -> dict:
    """{(site, year, month): (jobs, wall, cpu, normalised wall or None)} of a super-summary table:
    ours when ``table`` is None, else the source's ``table``."""
    if table is None:
        sql = OUR_MONTHS
    else:
        sql = SOURCE_MONTHS.format(table=table, normalised=", SUM(t.NormalisedWallDuration)" if normalised else "")
    totals = {}
    for row in db.query(sql):
        figures = tuple(int(v) for v in row[3:]) + ((None,) if len(row) == 6 else ())
        totals[(row[0], int(row[1]), int(row[2]))] = figures
    return totals


# -- the import's state in the target (migration 007) ------------------------------------

SELECT_PROGRESS = (
    "SELECT SourceTable, LastKey, RowsRead, Imported, Held, Done FROM ImportProgress WHERE Source = ?"
)
DELETE_PROGRESS = "DELETE FROM ImportProgress WHERE Source = ? AND SourceTable = ?"
INSERT_PROGRESS = (
    "INSERT INTO ImportProgress (Source, SourceTable, LastKey, RowsRead, Imported, Held, Done) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ISSUE_COLUMNS = ("IssueHash", "Source", "SourceTable", "SourceKey", "Field", "Reason", "Action")
DELETE_ISSUES = "DELETE FROM ImportIssues WHERE IssueHash IN ({marks})"
SELECT_ISSUES = (
    "SELECT SourceTable, SourceKey, Field, Reason, Action FROM ImportIssues WHERE Source = ? "
    "ORDER BY SourceTable, SourceKey"
)


def _json_value(value):
    """Key values as JSON keeps them: times as their text, decimals as text."""
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)


def key_text(values) -> str:
    return json.dumps([_json_value(v) for v in values], separators=(",", ":"))


def get_progress(db, source: str) -> dict:
    """{table: (last key as a list or None, rows read, imported, held, done)} of an import."""
    progress = {}
    for table, last, read, imported, held, done in db.query(SELECT_PROGRESS, (source,)):
        progress[table] = (json.loads(last) if last else None, int(read), int(imported), int(held), bool(done))
    return progress


def save_progress(db, source, table, last_key, read, imported, held, done) -> None:
    """Keep how far a table is imported (call inside the transaction that stores its records)."""
    db.execute(DELETE_PROGRESS, (source, table))
    db.execute(INSERT_PROGRESS, (source, table, None if last_key is None else key_text(last_key),
                                 read, imported, held, int(done)))


def save_issues(db, source, issues) -> None:
    """Keep refused rows ``[(table, key values, field, reason, action)]``, one row per source row."""
    rows = {}
    for table, key, field, reason, action in issues:
        text = key_text(key)
        digest = hashlib.sha256(f"{source}\n{table}\n{text}".encode("utf-8")).hexdigest()
        rows[digest] = (digest, source, table, text, field, reason, action)
    if not rows:
        return
    hashes = list(rows)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start:start + 500]
        db.execute(DELETE_ISSUES.format(marks=", ".join("?" * len(chunk))), chunk)
    db.insert_rows("ImportIssues", ISSUE_COLUMNS, list(rows.values()))


def issues(db, source: str) -> list:
    """[(table, key text, field, reason, action)] of the rows an import refused."""
    return [tuple(row) for row in db.query(SELECT_ISSUES, (source,))]


# -- a site's client tables ---------------------------------------------------------------

SET_JOIN_STATUS = "UPDATE BatchRecords SET JoinStatus = ? WHERE {jobs}"
JOB_OF_BATCH = "(BatchSystem = ? AND LocalJobId = ? AND EndTime = ?)"  # one unique-key lookup each
JOIN_STATUS_CHUNK = 200  # jobs per UPDATE
NEWEST_IDS = "SELECT (SELECT MAX(id) FROM BatchRecords), (SELECT MAX(id) FROM BlahRecords)"
SPEC_COLUMNS = ("CE", "ServiceLevelType", "ServiceLevel", "StartTime", "StopTime", "Source")
UNSENT_JOBS = (
    "SELECT s.name, j.LocalJobId, j.EndTime FROM JobRecords AS j JOIN Sites AS s ON s.id = j.SiteID "
    "WHERE j.UpdateTime > ?"
)
TOUCH_JOB = (
    "UPDATE JobRecords SET UpdateTime = {mark} WHERE SiteID = (SELECT id FROM Sites WHERE name = ?) "
    "AND LocalJobId = ? AND EndTime = {mark}"
)
TOUCH_MONTH = (
    "UPDATE SuperSummaries SET UpdateTime = {mark} WHERE SiteID = (SELECT id FROM Sites WHERE name = ?) "
    "AND Year = ? AND Month = ?"
)


def set_join_statuses(db, rows) -> None:
    """Set BatchRecords.JoinStatus: ``rows`` of (status, batch system, local job id, end time),
    one statement per status and chunk of jobs (a site's local jobs may be most of a page)."""
    jobs_by_status = {}
    for status, *job in rows:
        jobs_by_status.setdefault(status, []).append(job)
    for status, jobs in jobs_by_status.items():
        for start in range(0, len(jobs), JOIN_STATUS_CHUNK):
            chunk = jobs[start:start + JOIN_STATUS_CHUNK]
            db.execute(SET_JOIN_STATUS.format(jobs=" OR ".join([JOB_OF_BATCH] * len(chunk))),
                       [status] + [value for job in chunk for value in job])


def newest_site_ids(db) -> tuple:
    """(newest BatchRecords id, newest BlahRecords id), 0 for an empty table."""
    batch, blah = db.query(NEWEST_IDS)[0]
    return int(batch or 0), int(blah or 0)


def store_spec_periods(db, periods) -> None:
    """Benchmark periods (CE, type, value, start, stop, source) into SpecHistory, replacing a CE's
    period that starts at the same time."""
    db.upsert_rows("SpecHistory", ("CE", "StartTime"), SPEC_COLUMNS, periods, SPEC_COLUMNS[1:])


def unsent_jobs(db, since: int) -> list:
    """[(site, local job id, end time as epoch)] of a client's jobs updated after ``since``
    (epoch seconds): what its last publish did not cover."""
    rows = db.query(UNSENT_JOBS, (datetime.datetime.fromtimestamp(since, datetime.timezone.utc)
                                  .replace(tzinfo=None),))
    return [(site, job, epoch_of_sql_time(end)) for site, job, end in rows]


def touch(db, jobs, months, epoch) -> None:
    """Set the UpdateTime of our ``jobs`` (site, local job id, end) and of the super-summaries of
    ``months`` (site, year, month) to ``epoch``, so that the next ``latest`` publish sends them."""
    mark = db.TIME_MARK
    with db.transaction():
        for site, job, end in jobs:
            db.execute(TOUCH_JOB.format(mark=mark), (epoch, site, job, end))
        for site, year, month in months:
            db.execute(TOUCH_MONTH.format(mark=mark), (epoch, site, year, month))


def processed_hashes(db) -> dict:
    """{hash: lines} of the files the deployed parser read (ProcessedFiles: an MD5 of the file's
    whole content, gzip decompressed, and its number of lines)."""
    return {digest: int(lines or 0) for digest, lines in db.query("SELECT Hash, StopLine FROM ProcessedFiles")}
