"""SQL of publishing and querying: selecting records of a view by time, VO and infrastructure."""

import hashlib
import json
from dataclasses import dataclass

from apeltools.records.fields import epoch_of_sql_time


@dataclass(frozen=True)
class View:
    """A view records are read from (formats.md §4, or ours), and how its rows are placed in time.

    ``time`` names a DATETIME column, or is None when rows are placed by
    ``year``/``month`` columns.
    """

    name: str
    time: str | None = None
    year: str = "Year"
    month: str = "Month"
    has_vo: bool = False
    has_infrastructure: bool = False
    order: str = ""


VIEWS = {
    "jobs": View("VJobRecords", time="EndTime", has_vo=True, has_infrastructure=True,
                 order="Site, EndTime, LocalJobId"),
    "summaries": View("VSuperSummaries", has_vo=True, has_infrastructure=True,
                      order="Site, Year, Month, VO, GlobalUserName, SubmitHost"),
    # Ours: the compatibility view calls its infrastructure column Infrastructure.
    "normalised-summaries": View("VNormalisedSuperSummariesExt", has_vo=True, has_infrastructure=True,
                                 order="Site, Year, Month, VO, GlobalUserName, SubmitHost"),
    "received-summaries": View("VSummaries", has_vo=True, has_infrastructure=True, order="Site, Year, Month"),
    "cloud": View("VCloudRecords", year="MeasurementYear", month="MeasurementMonth",
                  order="SiteName, VMUUID, MeasurementYear, MeasurementMonth"),
    "cloud-summaries": View("VCloudSummaries", has_vo=True, order="SiteName, Year, Month"),
    # Ours: the compatibility view has no UpdateTime.
    "storage": View("VStarRecordsExt", time="EndTime", order="RecordId"),
    "accelerator": View("VAcceleratorRecords", year="MeasurementYear", month="MeasurementMonth",
                        order="SiteName, MeasurementYear, MeasurementMonth, AssociatedRecord"),
    "sync": View("VSyncRecords", order="Site, Year, Month, SubmitHost"),
}


class Selection:
    """A WHERE clause and its parameters, built from filters; values are always bound."""

    def __init__(self, db, view):
        self.db = db
        self.view = view
        self.conditions = []
        self.params = []

    def updated_since(self, epoch):
        self.conditions.append(f"UpdateTime >= {self.db.TIME_MARK}")
        self.params.append(epoch)

    def between(self, start, end):
        """Rows of [start, end): epoch seconds; months from start's month to end's month."""
        view = self.view
        if view.time:
            self.conditions.append(f"{view.time} >= {self.db.TIME_MARK} AND {view.time} < {self.db.TIME_MARK}")
            self.params += [start, end]
        else:
            from apeltools.records.fields import month_of

            first, last = month_of(start), month_of(end - 1)
            self.conditions.append(f"{view.year} * 12 + {view.month} BETWEEN ? AND ?")
            self.params += [first[0] * 12 + first[1], last[0] * 12 + last[1]]

    def in_list(self, column, values, negate=False):
        if values:
            marks = ", ".join("?" * len(values))
            self.conditions.append(f"{column} {'NOT IN' if negate else 'IN'} ({marks})")
            self.params += list(values)

    def equals(self, column, value):
        self.conditions.append(f"{column} = ?")
        self.params.append(value)

    def grid_only(self):
        self.conditions.append("(InfrastructureType IS NULL OR InfrastructureType <> 'local')")

    def where(self):
        return (" WHERE " + " AND ".join(self.conditions)) if self.conditions else ""

    def select(self, columns="*", group=None, order=None, limit=None, offset=None):
        sql = f"SELECT {columns} FROM {self.view.name}{self.where()}"
        if group:
            sql += f" GROUP BY {group}"
        order = order if order is not None else self.view.order
        if order:
            sql += f" ORDER BY {order}"
        params = list(self.params)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset or 0]
        return sql, params


# -- questions (apel-query) -------------------------------------------------------------

_FACTOR = "(CASE WHEN LOWER(ServiceLevelType) = 'si2k' THEN ServiceLevel / 250 ELSE ServiceLevel END)"
_CORES = "COALESCE(NULLIF(Processors, 0), 1)"
JOB_FIGURES = (
    "COUNT(*) AS Jobs, SUM(WallDuration) AS WallSeconds, SUM(CpuDuration) AS CpuSeconds, "
    f"SUM(WallDuration * {_CORES}) AS CoreSeconds, "
    f"SUM(WallDuration * {_FACTOR}) AS NormalisedWallSeconds, SUM(CpuDuration * {_FACTOR}) AS NormalisedCpuSeconds"
)
SUMMARY_FIGURES = (
    "SUM(NumberOfJobs) AS Jobs, SUM(WallDuration) AS WallSeconds, SUM(CpuDuration) AS CpuSeconds, "
    f"SUM(WallDuration * {_CORES}) AS CoreSeconds, "
    "SUM(NormalisedWallDuration) AS NormalisedWallSeconds, SUM(NormalisedCpuDuration) AS NormalisedCpuSeconds"
)
JOB_COLUMNS = ("Site, SubmitHost, LocalJobId, GlobalUserName, VO, FQAN, InfrastructureType, StartTime, EndTime, "
               "WallDuration, CpuDuration, Processors, ServiceLevelType, ServiceLevel")


def month_expressions(db, columns):
    """(expressions, labels) for grouping columns; VJobRecords has no month columns, so
    EndYear/EndMonth become the year and month of EndTime in the database's dialect."""
    expressions = {"EndYear": db.YEAR_OF.format("EndTime"), "EndMonth": db.MONTH_OF.format("EndTime")}
    labels = {"EndYear": "Year", "EndMonth": "Month"}
    return [expressions.get(c, c) for c in columns], [labels.get(c, c) for c in columns]


# -- what apel-publish remembers per source and destination (migration 006) ----------------

LEGACY_MARK_LENGTH = 50  # LastUpdated names of before migration 006 were cut to this
_GROUP_COLUMNS = ("DestinationHash", "Source", "GroupHash", "Site", "Year", "Month", "GroupKey")
_GROUP_CHUNK = 500


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def get_watermark(db, source: str, destination: str) -> int | None:
    """Epoch seconds of the last ``latest`` publish of ``source`` to ``destination``, or None.

    A watermark kept before migration 006 (a LastUpdated row named
    ``publish <source> <destination>``) is adopted here at its first use when
    its name was not cut to 50 characters; a cut name may have been moved by
    another source's publish, so it is ignored and this source publishes
    everything once more (receivers replace by natural key).
    """
    rows = db.query("SELECT UpdateTime FROM PublishWatermarks WHERE Source = ? AND DestinationHash = ?",
                    (source, _digest(destination)))
    if rows:
        return epoch_of_sql_time(rows[0][0])
    legacy = f"publish {source} {destination}"
    epoch = db.get_mark(legacy) if len(legacy) <= LEGACY_MARK_LENGTH else None
    if epoch is not None:
        with db.transaction():
            set_watermark(db, source, destination, epoch)
            db.execute("DELETE FROM LastUpdated WHERE Type = ?", (legacy,))
    return epoch


def set_watermark(db, source: str, destination: str, epoch: int) -> None:
    """Keep epoch seconds as the ``latest`` watermark of ``source`` to ``destination``."""
    digest = _digest(destination)
    with db.transaction():
        db.execute("DELETE FROM PublishWatermarks WHERE Source = ? AND DestinationHash = ?", (source, digest))
        db.execute("INSERT INTO PublishWatermarks (Source, DestinationHash, Destination, UpdateTime) "
                   f"VALUES (?, ?, ?, {db.TIME_MARK})", (source, digest, destination, epoch))


def _group_text(key):
    return json.dumps(list(key), separators=(",", ":"))


def remember_groups(db, source: str, destination: str, groups) -> None:
    """Note that groups ``[(site, year, month, key)]`` of ``source`` went to ``destination``
    (``key``: the values of the record type's natural key)."""
    digest = _digest(destination)
    rows = {}
    for site, year, month, key in groups:
        text = _group_text(key)
        rows[_digest(text)] = (digest, source, _digest(text), site, year, month, text)
    with db.transaction():
        _delete_groups(db, digest, source, list(rows))
        db.insert_rows("PublishedGroups", _GROUP_COLUMNS, list(rows.values()))


def forget_groups(db, source: str, destination: str, keys) -> None:
    """Forget groups (natural key values) of ``source`` at ``destination``."""
    with db.transaction():
        _delete_groups(db, _digest(destination), source, [_digest(_group_text(key)) for key in keys])


def _delete_groups(db, digest, source, hashes):
    for start in range(0, len(hashes), _GROUP_CHUNK):
        chunk = hashes[start:start + _GROUP_CHUNK]
        db.execute("DELETE FROM PublishedGroups WHERE DestinationHash = ? AND Source = ? AND GroupHash IN "
                   f"({', '.join('?' * len(chunk))})", [digest, source, *chunk])


def published_months(db, source: str, destination: str) -> set:
    """{(site, year, month)} of the groups of ``source`` remembered for ``destination``."""
    return {tuple(row) for row in db.query(
        "SELECT DISTINCT Site, Year, Month FROM PublishedGroups WHERE DestinationHash = ? AND Source = ?",
        (_digest(destination), source))}


def published_groups(db, source: str, destination: str, site: str, year: int, month: int) -> set:
    """{key} of the groups of one site-month of ``source`` remembered for ``destination``."""
    return {tuple(json.loads(row[0])) for row in db.query(
        "SELECT GroupKey FROM PublishedGroups WHERE DestinationHash = ? AND Source = ? AND Site = ? "
        "AND Year = ? AND Month = ?", (_digest(destination), source, site, year, month))}


def view_months(db, view: View, since: int | None = None) -> set:
    """{(site, year, month)} with rows in a summary view (updated since ``since``, when given)."""
    selection = Selection(db, view)
    if since is not None:
        selection.updated_since(since)
    sql, params = selection.select(f"DISTINCT Site, {view.year}, {view.month}", order="")
    return {tuple(row) for row in db.query(sql, params)}
