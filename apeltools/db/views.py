"""Selecting rows of the views for apel-query and apel-publish: by time, VO and infrastructure.

Also the figures apel-query sums (jobs, durations, normalised durations) and
its month expressions in each dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from apeltools.db.base import Database
from apeltools.records.fields import month_of


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

    def __init__(self, db: Database, view: View) -> None:
        self.db = db
        self.view = view
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def updated_since(self, epoch: int) -> None:
        self.conditions.append(f"UpdateTime >= {self.db.TIME_MARK}")
        self.params.append(epoch)

    def between(self, start: int, end: int) -> None:
        """Rows of [start, end): epoch seconds; months from start's month to end's month."""
        view = self.view
        if view.time:
            self.conditions.append(f"{view.time} >= {self.db.TIME_MARK} AND {view.time} < {self.db.TIME_MARK}")
            self.params += [start, end]
        else:
            first, last = month_of(start), month_of(end - 1)
            self.conditions.append(f"{view.year} * 12 + {view.month} BETWEEN ? AND ?")
            self.params += [first[0] * 12 + first[1], last[0] * 12 + last[1]]

    def in_list(self, column: str, values: Collection[Any], negate: bool = False) -> None:
        if values:
            marks = ", ".join("?" * len(values))
            self.conditions.append(f"{column} {'NOT IN' if negate else 'IN'} ({marks})")
            self.params += list(values)

    def equals(self, column: str, value: Any) -> None:
        self.conditions.append(f"{column} = ?")
        self.params.append(value)

    def grid_only(self) -> None:
        self.conditions.append("(InfrastructureType IS NULL OR InfrastructureType <> 'local')")

    def where(self) -> str:
        return (" WHERE " + " AND ".join(self.conditions)) if self.conditions else ""

    def select(self, columns: str = "*", group: str | None = None, order: str | None = None,
               limit: int | None = None, offset: int | None = None) -> tuple[str, list[Any]]:
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


def month_expressions(db: Database, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(expressions, labels) for grouping columns; VJobRecords has no month columns, so
    EndYear/EndMonth become the year and month of EndTime in the database's dialect."""
    expressions = {"EndYear": db.YEAR_OF.format("EndTime"), "EndMonth": db.MONTH_OF.format("EndTime")}
    labels = {"EndYear": "Year", "EndMonth": "Month"}
    return [expressions.get(c, c) for c in columns], [labels.get(c, c) for c in columns]


def view_months(db: Database, view: View, since: int | None = None) -> set[tuple[Any, ...]]:
    """{(site, year, month)} with rows in a summary view (updated since ``since``, when given)."""
    selection = Selection(db, view)
    if since is not None:
        selection.updated_since(since)
    sql, params = selection.select(f"DISTINCT Site, {view.year}, {view.month}", order="")
    return {tuple(row) for row in db.query(sql, params)}
