"""``apel-report monthly``: one month's accounting as a self-contained HTML page, plain text and JSON.

Figures per VO, per site (repository) or CE (site database), per user (the
top N and the rest), per day, with the change against the previous month;
on a site database also how jobs ended and how long they waited, from the
job lifecycles (apeltools.lifecycle and apeltools.stats, as apel-query
stats reads them). The HTML carries its charts as inline SVG and its style
inline, so it reads the same in a browser, offline and in a mail client.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from apeltools import lifecycle, stats
from apeltools.clock import iso
from apeltools.db import reports as sql
from apeltools.files import atomic_write
from apeltools.query import Filters
from apeltools.records.fields import month_bounds
from apeltools.reports import charts, environment

HOUR = 3600.0
FINAL = stats.STATE_COLUMNS + ("Unknown",)


def last_complete_month(now: dt.datetime) -> tuple[int, int]:
    first = now.date().replace(day=1) - dt.timedelta(days=1)
    return first.year, first.month


def _previous(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _hours(figures: dict) -> dict:
    """The figures people read: jobs, hours, normalised hours, CPU efficiency."""
    cores = figures["CoreSeconds"]
    return {"jobs": figures["Jobs"], "wall_hours": round(figures["WallSeconds"] / HOUR, 2),
            "cpu_hours": round(figures["CpuSeconds"] / HOUR, 2),
            "normalised_hours": round(figures["NormalisedWallSeconds"] / HOUR, 2),
            "efficiency": round(figures["CpuSeconds"] / cores, 3) if cores else None}


def _change(now: float, before: float) -> float | None:
    return None if not before else round((now - before) * 100.0 / before, 1)


def _top(groups: list, top: int) -> list[dict]:
    rows = [{"name": name, **_hours(figures)} for name, figures in groups[:top]]
    rest = groups[top:]
    if rest:
        summed = {key: sum(figures[key] for _, figures in rest) for key in sql.FIGURES}
        rows.append({"name": f"{len(rest)} others", **_hours(summed)})
    return rows


def _lifecycles(db, start: int, end: int) -> dict:
    """Final states and waiting times of the month's jobs, in all and per VO."""
    jobs = list(lifecycle.read_jobs(db, lifecycle.JobSelection(filters=Filters(start=start, end=end))))
    result = {}
    for key, group_by in (("all", ()), ("per_vo", ("vo",))):
        answer = stats.statistics_of(jobs, group_by)
        result[key] = [dict(zip(answer.columns, row)) for row in answer.rows]
    return result


def monthly_report(db, year: int, month: int, now: dt.datetime, top: int = 10) -> dict:
    """The report of a month as plain data (what the JSON holds)."""
    site_database = sql.holds_batch_records(db)
    place = "ce" if site_database else "site"
    start, end = month_bounds(year, month)
    totals = _hours(sql.month_totals(db, year, month))
    before = _hours(sql.month_totals(db, *_previous(year, month)))
    report = {
        "format": "apeltools-monthly-report", "version": 1,
        "month": f"{year:04d}-{month:02d}", "generated": iso(now),
        "database": "site" if site_database else "repository",
        "totals": totals,
        "previous": {"month": "%04d-%02d" % _previous(year, month), **before},
        "change_percent": {key: _change(totals[key], before[key])
                           for key in ("jobs", "wall_hours", "cpu_hours", "normalised_hours")},
        "per_vo": [{"name": name, **_hours(f)} for name, f in sql.month_groups(db, year, month, "vo")],
        "place": place,
        "per_place": [{"name": name, **_hours(f)} for name, f in sql.month_groups(db, year, month, place)],
        "top": top,
        "per_user": _top(sql.month_groups(db, year, month, "user"), top),
        "per_day": [{"day": day, **_hours(f)} for day, f in sql.day_figures(db, start, end)],
        "lifecycle": _lifecycles(db, start, end) if site_database else None,
    }
    return report


# -- rendering ----------------------------------------------------------------------------------

PLACE = {"site": "Site", "ce": "CE"}


def _vo_bars(rows: list[dict], key: str) -> list[charts.Bar]:
    return [charts.Bar(row["name"] or "none", row[key], charts.colour_of(row["name"])) for row in rows]


def render_charts(report: dict) -> dict[str, str]:
    """{name: inline SVG} of the report's charts."""
    place = PLACE[report["place"]]
    days = report["per_day"]
    found = {
        "vo_hours": charts.bars("Wall-clock hours per VO", _vo_bars(report["per_vo"], "wall_hours"), "hours"),
        "vo_normalised": charts.bars("Normalised hours per VO", _vo_bars(report["per_vo"], "normalised_hours"),
                                     "normalised hours (HS06 h)"),
        "place_hours": charts.bars(f"Wall-clock hours per {place}",
                                   [charts.Bar(r["name"] or "none", r["wall_hours"]) for r in report["per_place"]],
                                   "hours"),
        "user_hours": charts.bars(f"Wall-clock hours of the top {report['top']} users",
                                  [charts.Bar(r["name"] or "none", r["wall_hours"]) for r in report["per_user"]],
                                  "hours", label_width=170),
        "day_hours": charts.columns("Wall-clock hours per day", [(d["day"][8:], d["wall_hours"]) for d in days],
                                    "hours", f"day of {report['month']} (job end, UTC)", every=max(len(days) // 10, 1)),
        "vo_efficiency": charts.bars("CPU efficiency per VO (CPU time / core wall time)",
                                     [charts.Bar(r["name"] or "none", round((r["efficiency"] or 0) * 100, 1),
                                                 charts.colour_of(r["name"])) for r in report["per_vo"]], "percent"),
    }
    life = report["lifecycle"]
    if life:
        every = life["all"][0]
        found["states"] = charts.bars("How the month's jobs ended",
                                      [charts.Bar(name, every[name]) for name in FINAL if every[name]], "jobs")
        found["waiting"] = charts.bars("Median wait in the queue per VO",
                                       [charts.Bar(row["vo"] or "none", round((row["WaitMedian"] or 0) / 60, 1),
                                                   charts.colour_of(row["vo"])) for row in life["per_vo"]],
                                       "minutes")
    return found


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _change_text(value) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def render_html(report: dict) -> str:
    return environment.get_template("monthly.html").render(
        report=report, charts=render_charts(report), place=PLACE[report["place"]], number=_number,
        change=_change_text, final=FINAL)


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [header] + [[_number(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in cells]


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f} %"


def _hour_rows(rows: list[dict], key: str = "name") -> list[list]:
    return [[row[key] or "none", row["jobs"], row["wall_hours"], row["normalised_hours"], row["cpu_hours"],
             _percent(row["efficiency"])] for row in rows]


def render_text(report: dict) -> str:
    """The plain-text version (the mail's text part)."""
    totals, change = report["totals"], report["change_percent"]
    header = ["Jobs", "Wall h", "Normalised h", "CPU h", "Efficiency"]
    lines = [f"APEL accounting for {report['month']} ({report['database']} database), generated "
             f"{report['generated']}", "",
             f"Jobs {_number(totals['jobs'])} ({_change_text(change['jobs'])} against {report['previous']['month']}),"
             f" wall-clock hours {_number(totals['wall_hours'])} ({_change_text(change['wall_hours'])}),"
             f" normalised hours {_number(totals['normalised_hours'])} ({_change_text(change['normalised_hours'])}),"
             f" CPU efficiency {_percent(totals['efficiency'])}"]
    for title, rows, key, first in (
            ("Per VO", report["per_vo"], "name", "VO"),
            (f"Per {PLACE[report['place']]}", report["per_place"], "name", PLACE[report["place"]]),
            (f"Top {report['top']} users", report["per_user"], "name", "User"),
            ("Per day (job end, UTC)", report["per_day"], "day", "Day")):
        lines += ["", title, ""] + _table([first] + header, _hour_rows(rows, key))
    life = report["lifecycle"]
    if life:
        states = [name for name in FINAL if life["all"][0][name]]
        lines += ["", "Final states and waiting (seconds) per VO", ""]
        lines += _table(["VO", "Jobs"] + states + ["WaitMedian", "WaitP90"],
                        [[row["vo"] or "none", row["Jobs"]] + [row[s] for s in states]
                         + [row["WaitMedian"], row["WaitP90"]] for row in life["per_vo"]])
    return "\n".join(lines) + "\n"


def write_report(report: dict, directory: str) -> dict[str, str]:
    """Write monthly-YYYY-MM.html, .txt and .json into ``directory``; {"html"|"text"|"json": path}."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, f"monthly-{report['month']}")
    texts = {"html": render_html(report), "text": render_text(report), "json": json.dumps(report, indent=1) + "\n"}
    paths = {}
    for kind, suffix in (("html", ".html"), ("text", ".txt"), ("json", ".json")):
        atomic_write(base + suffix, texts[kind])
        paths[kind] = base + suffix
    return paths
