"""Ad-hoc questions about the accounting data: filtered, grouped job and summary figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apeltools.db import monitoring
from apeltools.db.job_pages import SERVED_ORDERS, JobFilter, job_page
from apeltools.db.base import Database
from apeltools.db.views import JOB_COLUMNS, JOB_FIGURES, SUMMARY_FIGURES, VIEWS, Selection, month_expressions
from apeltools.errors import ApelError, UsageError
from apeltools.quoting import quote
from apeltools.records.fields import epoch_of_sql_time, format_time, month_bounds, month_of

# Dimension name → view columns (jobs, summaries). Month is a year and a month.
DIMENSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "site": (("Site",), ("Site",)),
    "vo": (("VO",), ("VO",)),
    "vogroup": (("VOGroup",), ("VOGroup",)),
    "vorole": (("VORole",), ("VORole",)),
    "dn": (("GlobalUserName",), ("GlobalUserName",)),
    "submithost": (("SubmitHost",), ("SubmitHost",)),
    "infrastructure": (("InfrastructureType",), ("InfrastructureType",)),
    "benchmark": (("ServiceLevelType",), ("ServiceLevelType",)),
    "month": (("EndYear", "EndMonth"), ("Year", "Month")),
    "fqan": (("FQAN",), None),
}
ALIASES = {"ce": "submithost", "user": "dn", "infra": "infrastructure"}


@dataclass
class Filters:
    sites: tuple[str, ...] = ()
    submit_hosts: tuple[str, ...] = ()
    vos: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    fqans: tuple[str, ...] = ()
    infrastructure: str | None = None
    start: int | None = None  # epoch seconds (first month/day included)
    end: int | None = None  # epoch seconds (exclusive)

    def month_cut(self) -> tuple[str, tuple[int, int]] | None:
        """Which bound falls inside a month, and that month: summaries, being monthly, cannot honour it."""
        for bound, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and month_bounds(*month_of(moment))[0] != moment:
                return bound, month_of(moment)
        return None

    def whole_months(self) -> Filters:
        """The same filters with the dates widened to the months they fall in."""
        start = None if self.start is None else month_bounds(*month_of(self.start))[0]
        end = None if self.end is None else month_bounds(*month_of(self.end - 1))[1]
        return dataclasses.replace(self, start=start, end=end)


class MonthCut(UsageError):
    """Monthly summaries asked for with a bound on a day inside a month."""

    def __init__(self, bound: str, year: int, month: int) -> None:
        self.bound, self.year, self.month = bound, year, month
        super().__init__(f"summaries are monthly and cannot be cut by day: the {bound} falls inside "
                         f"{year:04d}-{month:02d}; give months, ask for jobs, or use whole_months")


def filters_for(what: str, filters: Filters, whole_months: bool) -> Filters:
    """The filters a question is asked with: widened to the months they fall in when asked;
    otherwise summaries, being monthly, refuse a bound inside a month (MonthCut)."""
    if whole_months:
        return filters.whole_months()
    if what == "summaries" and (cut := filters.month_cut()):
        bound, (year, month) = cut
        raise MonthCut(bound, year, month)
    return filters


@dataclass
class Answer:
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _dimensions(group_by: Sequence[str], source: str) -> list[str]:
    columns: list[str] = []
    for name in group_by:
        name = ALIASES.get(name, name)
        if name not in DIMENSIONS:
            raise UsageError(f"cannot group by {quote(name)}: choose from {', '.join(sorted(DIMENSIONS))}")
        found = DIMENSIONS[name][0 if source == "jobs" else 1]
        if found is None:
            raise UsageError(f"{name} is only known for individual jobs, not summaries")
        columns += found
    return columns


def _filter(selection: Selection, filters: Filters, source: str) -> None:
    selection.in_list("Site", filters.sites)
    selection.in_list("SubmitHost", filters.submit_hosts)
    selection.in_list("VO", filters.vos)
    selection.in_list("GlobalUserName", filters.dns)
    if filters.fqans:
        if source != "jobs":
            raise ApelError("FQANs are only known for individual jobs, not summaries")
        selection.in_list("FQAN", filters.fqans)
    if filters.infrastructure:
        selection.equals("InfrastructureType", filters.infrastructure)
    if filters.start is not None or filters.end is not None:
        selection.between(filters.start or 0, filters.end or 4102444800)


def _finish(answer: Answer, figures: bool) -> Answer:
    """Add efficiency and hours; seconds become hours with two decimals."""
    index = {name: i for i, name in enumerate(answer.columns)}
    if not figures:
        if "WallDuration" in index:
            answer.columns.append("Efficiency")
            for row in answer.rows:
                wall, cpu = row[index["WallDuration"]], row[index["CpuDuration"]]
                cores = row[index["Processors"]] if "Processors" in index else None
                core_seconds = (wall or 0) * (cores or 1)
                row.append(round(cpu / core_seconds, 3) if core_seconds else None)
        return answer
    names = ["WallSeconds", "CpuSeconds", "CoreSeconds", "NormalisedWallSeconds", "NormalisedCpuSeconds"]
    keep = [c for c in answer.columns if c not in names]
    rows = []
    for row in answer.rows:
        values = {c: row[i] for c, i in index.items()}
        wall, cpu = float(values["WallSeconds"] or 0), float(values["CpuSeconds"] or 0)
        core = float(values["CoreSeconds"] or 0)
        rows.append([values[c] if c != "Jobs" else int(values[c] or 0) for c in keep] + [
            round(wall / 3600, 2), round(cpu / 3600, 2), round(cpu / core, 3) if core else None,
            round(float(values["NormalisedWallSeconds"] or 0) / 3600, 2),
            round(float(values["NormalisedCpuSeconds"] or 0) / 3600, 2),
        ])
    answer.columns = keep + ["WallHours", "CpuHours", "Efficiency", "NormalisedWallHours", "NormalisedCpuHours"]
    answer.rows = rows
    return answer


def ask(db: Database, source: str, filters: Filters, group_by: Sequence[str] = (), limit: int | None = None,
        offset: int = 0, order: tuple[str, bool] | None = None) -> Answer:
    """Rows answering a question about ``jobs`` (individual records) or ``summaries`` (monthly).

    With ``group_by`` dimensions, one row per group with job counts, wall and
    CPU hours, efficiency (CPU time over wall time times cores) and normalised
    hours; without, the matching jobs (or summaries) themselves, in the view's
    order or by ``order`` = (column, descending) first.
    """
    view = VIEWS["jobs" if source == "jobs" else "normalised-summaries"]
    order_by = None
    if order is not None:
        if not order[0].isidentifier():
            raise UsageError(f"cannot sort by {quote(order[0])}")
        order_by = f"{order[0]} {'DESC' if order[1] else 'ASC'}, {view.order}"
    selection = Selection(db, view)
    _filter(selection, filters, source)
    dims = _dimensions(group_by, source)
    exprs, labels = month_expressions(db, dims)
    if dims:
        figures = JOB_FIGURES if source == "jobs" else SUMMARY_FIGURES
        select = ", ".join(f"{e} AS {label}" for e, label in zip(exprs, labels)) + ", " + figures
        sql, params = selection.select(select, group=", ".join(exprs), order=", ".join(exprs),
                                       limit=limit, offset=offset)
    elif source == "jobs":
        sql, params = selection.select(JOB_COLUMNS, order=order_by, limit=limit, offset=offset)
    else:
        sql, params = selection.select(order=order_by, limit=limit, offset=offset)
    if source == "jobs" and not dims and limit is not None and (order is None or order[0] in SERVED_ORDERS):
        # A page: the view's order and name filters are served by no index (db/job_pages.py).
        rows = job_page(db, JobFilter(filters.sites, filters.submit_hosts, filters.vos, filters.dns, filters.fqans,
                                      filters.infrastructure, filters.start, filters.end), limit, offset, order)
    else:
        rows = db.query_dicts(sql, params)
    columns = list(rows[0]) if rows else (labels + ["Jobs", "WallSeconds", "CpuSeconds", "CoreSeconds",
                                                    "NormalisedWallSeconds", "NormalisedCpuSeconds"] if dims else [])
    answer = Answer(columns, [[_plain(row[c]) for c in columns] for row in rows])
    return _finish(answer, bool(dims))


def silent_sites(db: Database, days: int, now: int) -> Answer:
    """Sites whose newest job ended more than ``days`` days before ``now``: (site, newest end, days)."""
    limit = now - days * 86400
    found: list[list[Any]] = []
    for site, newest in monitoring.latest_end_times(db).items():
        latest = epoch_of_sql_time(newest)
        if latest is None or latest < limit:
            found.append([site, format_time(latest) if latest else None,
                          (now - latest) // 86400 if latest else None])
    return Answer(["Site", "LatestEndTime", "DaysSince"], found)


def _plain(value: Any) -> Any:
    """Database values as plain Python: Decimals as int or float, datetimes as text."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    return value
