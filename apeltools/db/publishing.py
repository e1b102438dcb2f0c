"""SQL of publishing and querying: selecting records of a view by time, VO and infrastructure."""

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """A compatibility view records are read from, and how its rows are placed in time.

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
    "normalised-summaries": View("VNormalisedSuperSummaries", has_vo=True, has_infrastructure=True,
                                 order="Site, Year, Month, VO, GlobalUserName, SubmitHost"),
    "received-summaries": View("VSummaries", has_vo=True, has_infrastructure=True, order="Site, Year, Month"),
    "cloud": View("VCloudRecords", year="MeasurementYear", month="MeasurementMonth",
                  order="SiteName, VMUUID, MeasurementYear, MeasurementMonth"),
    "cloud-summaries": View("VCloudSummaries", has_vo=True, order="SiteName, Year, Month"),
    "storage": View("VStarRecords", time="EndTime", order="RecordId"),
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
