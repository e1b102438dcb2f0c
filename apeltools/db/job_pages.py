"""Pages of jobs (apel-report serve, apel-query --limit) read through indexes instead of the jobs view.

The jobs view joins the lookup tables and shows their names; its order (Site
name, EndTime, LocalJobId) and its name filters are served by no index, so a
page of 100 out of millions made the database sort or scan every job. Here
the filters' names are resolved to ids first, and the sites are taken in the
order of their names, each read through JobRecords_SiteEnd (SiteID, EndTime,
LocalJobId) or, for a user's jobs, JobRecords_UserSiteEnd (migration 013).
Rows, columns and order are the view's (tests/test_report_serve.py compares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apeltools.db.base import Database

# The jobs view's joins, to a page's keys (p) chosen first from JobRecords alone: joined in one query, the
# database starts from a one-row lookup table and sorts every job of the site. An inner join drops a job
# whose lookup row is missing, as the view does.
_TABLES = (
    "JobRecords AS t ON t.SiteID = p.SiteID AND t.LocalJobId = p.LocalJobId AND t.EndTime = p.EndTime "
    "JOIN Sites AS l_Site ON l_Site.id = t.SiteID "
    "JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID "
    "JOIN MachineNames AS l_MachineName ON l_MachineName.id = t.MachineNameID "
    "JOIN Queues AS l_Queue ON l_Queue.id = t.QueueID "
    "JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID "
    "JOIN VOs AS l_VO ON l_VO.id = t.VOID "
    "JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID "
    "JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID "
    "JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID"
)
# views.JOB_COLUMNS of the view, in its order.
_COLUMNS = (
    "l_Site.name AS Site, l_SubmitHost.name AS SubmitHost, t.LocalJobId, l_GlobalUserName.name AS GlobalUserName, "
    "l_VO.name AS VO, t.FQAN, t.InfrastructureType, t.StartTime, t.EndTime, t.WallDuration, t.CpuDuration, "
    "t.Processors, t.ServiceLevelType, t.ServiceLevel"
)
# Orders these pages serve: the view's own (by Site) and by EndTime; others go through the view.
SERVED_ORDERS = ("Site", "EndTime")


@dataclass
class JobFilter:
    """apel-query's job filters: names as the view shows them, times as epoch seconds ([start, end))."""

    sites: Sequence[str] = ()
    submit_hosts: Sequence[str] = ()
    vos: Sequence[str] = ()
    dns: Sequence[str] = ()
    fqans: Sequence[str] = ()
    infrastructure: str | None = None
    start: int | None = None
    end: int | None = None


def _ids(db: Database, table: str, names: Sequence[str]) -> list[int]:
    marks = ", ".join("?" * len(names))
    return [row[0] for row in db.query(f"SELECT id FROM {table} WHERE name IN ({marks})", list(names))]


def _conditions(db: Database, wanted: JobFilter) -> tuple[list[str], list[Any]] | None:
    """WHERE conditions on JobRecords' own columns (names resolved to ids); None when no job can match."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, table, names in (("SubmitHostID", "SubmitHosts", wanted.submit_hosts),
                                 ("VOID", "VOs", wanted.vos), ("GlobalUserNameID", "DNs", wanted.dns)):
        if names:
            ids = _ids(db, table, names)
            if not ids:
                return None
            conditions.append(f"t.{column} IN ({', '.join('?' * len(ids))})")
            params += ids
    if wanted.fqans:
        conditions.append(f"t.FQAN IN ({', '.join('?' * len(wanted.fqans))})")
        params += list(wanted.fqans)
    if wanted.infrastructure:
        conditions.append("t.InfrastructureType = ?")
        params.append(wanted.infrastructure)
    if wanted.start is not None or wanted.end is not None:
        conditions.append(f"t.EndTime >= {db.TIME_MARK} AND t.EndTime < {db.TIME_MARK}")
        params += [wanted.start or 0, wanted.end or 4102444800]
    else:
        # True of every job (the least DATETIME), but a range on EndTime: without one MariaDB reads a deep
        # page of a site through the primary key and sorts all the site's jobs (0.4 s at 1,000,000 jobs).
        conditions.append("t.EndTime >= '1000-01-01 00:00:00'")
    return conditions, params


def _sites(db: Database, wanted: JobFilter, descending: bool) -> list[int]:
    """Site ids in the order of their names (the view orders by the name, under the same collation)."""
    where, params = "", []
    if wanted.sites:
        where = f" WHERE name IN ({', '.join('?' * len(wanted.sites))})"
        params = list(wanted.sites)
    return [row[0] for row in db.query(f"SELECT id FROM Sites{where} ORDER BY name {'DESC' if descending else 'ASC'}",
                                       params)]


def job_page(db: Database, wanted: JobFilter, limit: int, offset: int = 0,
             order: tuple[str, bool] | None = None) -> list[dict[str, Any]]:
    """The jobs view's rows ``offset`` to ``offset + limit`` in its order, or by ``order`` = (column, descending)
    first, for a column of SERVED_ORDERS."""
    found = _conditions(db, wanted)
    by_end = order is not None and order[0] == "EndTime"
    sites = _sites(db, wanted, descending=order is not None and order[0] == "Site" and order[1])
    if found is None or not sites:
        return []
    conditions, params = found
    if by_end:
        assert order is not None
        return _by_end_time(db, sites, conditions, params, limit, offset, order[1])
    rows: list[dict[str, Any]] = []
    for site in sites:
        where = " AND ".join(["t.SiteID = ?"] + conditions)
        if offset:
            # How many of the skipped rows this site holds, counted no further than the offset left.
            (held,), = db.query(f"SELECT COUNT(*) FROM (SELECT 1 FROM JobRecords AS t WHERE {where} LIMIT ?) AS c",
                                [site] + params + [offset])
            if held < offset:
                offset -= held
                continue
        rows += _rows(db, where, [site] + params, "t.EndTime, t.LocalJobId", limit - len(rows), offset,
                      "t.EndTime, t.LocalJobId")
        offset = 0
        if len(rows) == limit:
            break
    return rows


def _by_end_time(db: Database, sites: list[int], conditions: list[str], params: list[Any], limit: int, offset: int,
                 descending: bool) -> list[dict[str, Any]]:
    """By EndTime, then the view's order: the page's rows all end at or past the (offset + limit)-th end time,
    found from each site's first ones by its index; only the rows up to that time are then sorted."""
    direction = "DESC" if descending else "ASC"
    wanted = offset + limit
    ends: list[Any] = []
    for site in sites:
        where = " AND ".join(["t.SiteID = ?"] + conditions)
        ends += [row[0] for row in db.query(f"SELECT t.EndTime FROM JobRecords AS t WHERE {where} "
                                            f"ORDER BY t.EndTime {direction} LIMIT ?", [site] + params + [wanted])]
    if not ends:
        return []
    ends.sort(reverse=descending)
    bound = ends[min(wanted, len(ends)) - 1]
    # Every job ending strictly before the bound (after it, descending) is in its site's list: fewer than
    # ``wanted`` do. Those and the ones ending at the bound are the rows the page is taken from.
    before = sum(1 for end in ends if end != bound and (end > bound if descending else end < bound))
    where = " AND ".join([f"t.SiteID IN ({', '.join('?' * len(sites))})"] + conditions)
    (ties,), = db.query(f"SELECT COUNT(*) FROM JobRecords AS t WHERE {where} AND t.EndTime = ?",
                        list(sites) + params + [bound])
    where += " AND t.EndTime >= ?" if descending else " AND t.EndTime <= ?"
    return _rows(db, where, list(sites) + params + [bound], f"t.EndTime {direction}", before + ties, 0,
                 f"t.EndTime {direction}, l_Site.name, t.EndTime, t.LocalJobId", limit, offset)


def _rows(db: Database, where: str, params: list[Any], order: str, count: int, skip: int, outer_order: str,
          limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """The view's columns of the ``count`` jobs after ``skip`` in ``order`` matching ``where``; of those,
    ``limit`` rows after ``offset`` in ``outer_order`` (all of them when no limit)."""
    keys = (f"SELECT t.SiteID, t.LocalJobId, t.EndTime FROM JobRecords AS t WHERE {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?")
    sql = f"SELECT {_COLUMNS} FROM ({keys}) AS p JOIN {_TABLES} ORDER BY {outer_order}"
    params = params + [count, skip]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return db.query_dicts(sql, params)
