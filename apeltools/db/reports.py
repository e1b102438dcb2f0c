"""What ``apel-report monthly`` reads: one month's figures per VO, site, CE, user and day.

XX
database as in the repository); days from the job records (VJobRecords),
which only a database holding jobs has.
"""

from __future__ import annotations

from apeltools.db.base import Database
from apeltools.db.views import JOB_FIGURES, SUMMARY_FIGURES, VIEWS, Selection

GROUPS = {"vo": "VO", "site": "Site", "ce": "SubmitHost", "user": "GlobalUserName"}
FIGURES = ("Jobs", "WallSeconds", "CpuSeconds", "CoreSeconds", "NormalisedWallSeconds", "NormalisedCpuSeconds")
MONTH_FIGURES = f"SELECT {{group}}{SUMMARY_FIGURES} FROM VNormalisedSuperSummariesExt WHERE Year = ? AND Month = ?{{by}}"
ANY_BATCH_RECORD = "SELECT 1 FROM BatchRecords LIMIT 1"


def _figures(row: tuple) -> dict:
    return {name: int(value or 0) for name, value in zip(FIGURES, row)}


def month_totals(db: Database, year: int, month: int) -> dict:
    """{figure: value} of the month: jobs, wall, CPU, core and normalised seconds."""
    return _figures(db.query(MONTH_FIGURES.format(group="", by=""), (year, month))[0])


def month_groups(db: Database, year: int, month: int, by: str) -> list[tuple[str | None, dict]]:
    """[(value, figures)] of the month per ``by`` (vo, site, ce or user), most wall time first."""
    column = GROUPS[by]
    sql = MONTH_FIGURES.format(group=f"{column}, ", by=f" GROUP BY {column} ORDER BY SUM(WallDuration) DESC, {column}")
    return [(row[0], _figures(row[1:])) for row in db.query(sql, (year, month))]


def day_figures(db: Database, start: int, end: int) -> list[tuple[str, dict]]:
    """[(YYYY-MM-DD, figures)] per day of EndTime in [start, end) (epoch seconds) from the job records."""
    selection = Selection(db, VIEWS["jobs"])
    selection.between(start, end)
    # DATE() is a function of both dialects: SQLite gives text, MySQL a date.
    sql, params = selection.select(f"DATE(EndTime), {JOB_FIGURES}", group="DATE(EndTime)", order="DATE(EndTime)")
    return [(str(row[0]), _figures(row[1:])) for row in db.query(sql, params)]


def holds_batch_records(db: Database) -> bool:
    """A site's database (with batch records, so with job lifecycles) rather than a repository."""
    return bool(db.query(ANY_BATCH_RECORD))
