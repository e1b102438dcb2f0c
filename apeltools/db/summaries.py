"""SQL of summarising: reading sources per site-month, super-summary rows, deltas and marks.

A super-summary key is (site, month, year, DN, VO, VO group, VO role, submit
host, infrastructure type, benchmark type, benchmark value, node count,
processors), all as ids or values of the SuperSummaries columns. Values are
[InfrastructureDescription, EarliestEndTime, LatestEndTime, WallDuration,
CpuDuration, positive wall, positive cpu, received normalised wall, received
normalised cpu, NumberOfJobs] with times as epoch seconds, all sums exact
integers.

The benchmark value is part of the key, so a group's normalised duration is
its benchmark factor times its positive durations (of jobs and summaries), plus
the normalised durations that normalised summaries brought as they are. Only
the positive durations are summed; the product is taken once, exactly from the
benchmark's decimal form, and rounded half up as the deployed summariser
rounds its exact DECIMAL sum. Whatever order records and deltas arrive in, the
result is the same.

A group comes from one source, as in the deployed summariser (which replaces
the job-derived row by the summaries' row of the same key, and that by the
normalised summaries'): normalised summaries over summaries over job records.
A site that sent its jobs and then summaries of the same month (or a regional
server that forwards summaries of jobs also sent here) would otherwise be
counted twice; the records of the losing source stay in their tables.
SuperSummaries.Origin holds the source of a row (ORIGIN_JOBS, ORIGIN_SUMMARIES,
ORIGIN_NORMALISED), so that new jobs' deltas are not added to a row a summary
holds.
"""

import functools
from decimal import Decimal
from itertools import groupby

from apeltools.records.benchmark import BENCHMARK_TYPES, canonical_type
from apeltools.records.fields import epoch_of_sql_time, month_of

KEY_COLUMNS = (
    "SiteID", "Month", "Year", "GlobalUserNameID", "VOID", "VOGroupID", "VORoleID", "SubmitHostID",
    "InfrastructureType", "ServiceLevelType", "ServiceLevel", "NodeCount", "Processors",
)
# Positive*Duration: the durations the benchmark normalises (jobs' and summaries' positive ones).
VALUE_COLUMNS = (
    "InfrastructureDescription", "EarliestEndTime", "LatestEndTime", "WallDuration", "CpuDuration",
    "NormalisedWallDuration", "NormalisedCpuDuration", "NumberOfJobs", "PositiveWallDuration", "PositiveCpuDuration",
    "Origin",
)
# The sources of a group, in the order of precedence (a greater one replaces a smaller one).
ORIGIN_JOBS, ORIGIN_SUMMARIES, ORIGIN_NORMALISED = 0, 1, 2
SUPER_COLUMNS = KEY_COLUMNS + VALUE_COLUMNS
ADDED_COLUMNS = ("WallDuration", "CpuDuration", "NormalisedWallDuration", "NormalisedCpuDuration", "NumberOfJobs",
                 "PositiveWallDuration", "PositiveCpuDuration")
DELTA_COLUMNS = KEY_COLUMNS + (
    "InfrastructureDescription", "EarliestEndTime", "LatestEndTime", "WallDuration", "CpuDuration",
    "PositiveWallDuration", "PositiveCpuDuration", "NumberOfJobs",
)
TIME_COLUMNS = frozenset({"EarliestEndTime", "LatestEndTime"})

# Job records keep the benchmark type's spelling they came with (v0.4 ones lower case, as the
# deployed loader stores them); a group takes its canonical spelling, as summaries have it.
_JOB_TYPE = "CASE LOWER(ServiceLevelType) %s ELSE ServiceLevelType END" % " ".join(
    f"WHEN '{name.lower()}' THEN '{name}'" for name in BENCHMARK_TYPES)
_JOB_GROUP = (
    "SiteID, EndMonth, EndYear, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
    f"COALESCE(InfrastructureType, 'None'), {_JOB_TYPE}, ServiceLevel, COALESCE(NodeCount, 0), "
    "COALESCE(Processors, 0)"
)
JOB_AGGREGATE = (
    f"SELECT {_JOB_GROUP}, MAX(InfrastructureDescription), MIN(EndTime), MAX(EndTime), "
    "SUM(WallDuration), SUM(CpuDuration), SUM(CASE WHEN WallDuration > 0 THEN WallDuration ELSE 0 END), "
    "SUM(CASE WHEN CpuDuration > 0 THEN CpuDuration ELSE 0 END), COUNT(*) "
    "FROM JobRecords {where} GROUP BY " + _JOB_GROUP
)
SUMMARY_ROWS = (
    "SELECT SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
    "InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors, InfrastructureDescription, "
    "EarliestEndTime, LatestEndTime, WallDuration, CpuDuration, NumberOfJobs FROM Summaries {where}"
)
# Normalised summaries carry no benchmark value: they are merged under ServiceLevel 0.
NORMALISED_ROWS = (
    "SELECT SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
    "Infrastructure, ServiceLevelType, 0, NodeCount, Processors, InfrastructureDescription, "
    "EarliestEndTime, LatestEndTime, WallDuration, CpuDuration, NormalisedWallDuration, "
    "NormalisedCpuDuration, NumberOfJobs FROM NormalisedSummaries {where}"
)
JOB_MONTH = "WHERE SiteID = ? AND EndYear = ? AND EndMonth = ?"
SUMMARY_MONTH = "WHERE SiteID = ? AND Year = ? AND Month = ?"
DELETE_SUPER_MONTH = "DELETE FROM SuperSummaries WHERE SiteID = ? AND Year = ? AND Month = ?"
DELETE_SUPER_ALL = "DELETE FROM SuperSummaries"
_KEYS = ", ".join(KEY_COLUMNS)
SELECT_DIRTY = "SELECT Kind, SiteID, Year, Month, Version FROM SummaryDirty"
CLEAR_DIRTY = "DELETE FROM SummaryDirty WHERE Kind = ? AND SiteID = ? AND Year = ? AND Month = ? AND Version = ?"
SELECT_DELTAS = "SELECT Id, SiteID, Year, Month FROM SummaryDeltas"
# The deltas (in the summariser's snapshot: those SELECT_DELTAS read) summed per key, with
# the positive durations and origin of the SuperSummaries row they add to (NULL when there is none).
# Times come as text and sums as integers: they only go back to the database.
SUM_DELTAS = (
    f"SELECT {', '.join('d.' + c for c in KEY_COLUMNS)}, d.InfrastructureDescription, d.EarliestEndTime, "
    "d.LatestEndTime, d.WallDuration, d.CpuDuration, d.PositiveWallDuration, d.PositiveCpuDuration, "
    "d.NumberOfJobs, s.PositiveWallDuration, s.PositiveCpuDuration, s.Origin FROM ("
    f"SELECT {_KEYS}, MAX(InfrastructureDescription) AS InfrastructureDescription, "
    "CAST(MIN(EarliestEndTime) AS CHAR) AS EarliestEndTime, CAST(MAX(LatestEndTime) AS CHAR) AS LatestEndTime, "
    "CAST(SUM(WallDuration) AS SIGNED) AS WallDuration, CAST(SUM(CpuDuration) AS SIGNED) AS CpuDuration, "
    "CAST(SUM(PositiveWallDuration) AS SIGNED) AS PositiveWallDuration, "
    "CAST(SUM(PositiveCpuDuration) AS SIGNED) AS PositiveCpuDuration, "
    f"CAST(SUM(NumberOfJobs) AS SIGNED) AS NumberOfJobs FROM SummaryDeltas GROUP BY {_KEYS}) AS d "
    "LEFT JOIN SuperSummaries AS s ON " + " AND ".join(f"s.{c} = d.{c}" for c in KEY_COLUMNS)
)
DELETE_DELTAS = "DELETE FROM SummaryDeltas WHERE Id IN ({marks})"
DELETE_CHUNK = 5000  # delta ids per DELETE
DELETE_DELTA_RUNS = "DELETE FROM SummaryDeltas WHERE {runs}"
DELETE_RUNS_CHUNK = 500  # runs of consecutive ids per DELETE
# A full run needs no delta, only their site-months (one delta of each, for the events).
SELECT_DELTA_MONTHS = "SELECT MIN(Id), SiteID, Year, Month FROM SummaryDeltas GROUP BY SiteID, Year, Month"
DELETE_ALL_DELTAS = "DELETE FROM SummaryDeltas"


@functools.lru_cache(maxsize=4096)
def _factor(level_type, level):
    """A benchmark's normalisation factor as an exact fraction (numerator, denominator).

    Taken from the shortest decimal form of the stored value (10.1, not the
    binary double nearest to it), as the deployed schema's DECIMAL column
    holds it; si2k counts 1/250 (HEPSPEC-equivalent).
    """
    numerator, denominator = Decimal(repr(float(level))).as_integer_ratio()
    if level_type.lower() == "si2k":
        denominator *= 250
    return numerator, denominator


def normalised(level_type: str, level: float, seconds: int) -> int:
    """``seconds`` (not negative) times the benchmark factor, exactly, rounded half up."""
    numerator, denominator = _factor(level_type, level)
    return (2 * seconds * numerator + denominator) // (2 * denominator)


def merge(groups: dict, key: tuple, values: list) -> None:
    """Add one contribution (values in the module's order) to ``groups[key]``."""
    current = groups.get(key)
    if current is None:
        groups[key] = list(values)
        return
    description, earliest, latest = values[0], values[1], values[2]
    if description is not None and (current[0] is None or description > current[0]):
        current[0] = description
    if earliest is not None and (current[1] is None or earliest < current[1]):
        current[1] = earliest
    if latest is not None and (current[2] is None or latest > current[2]):
        current[2] = latest
    for i in range(3, 10):
        current[i] += values[i]


def super_row(key: tuple, values: list, origin: int) -> tuple:
    """A SuperSummaries row (SUPER_COLUMNS) of a group from ``origin``: its normalised durations
    taken here."""
    (description, earliest, latest, wall, cpu, positive_wall, positive_cpu, received_wall, received_cpu,
     count) = values
    level_type, level = key[9], key[10]
    return key + (description, earliest, latest, wall, cpu,
                  received_wall + normalised(level_type, level, positive_wall),
                  received_cpu + normalised(level_type, level, positive_cpu), count, positive_wall, positive_cpu,
                  origin)


def added_row(row: tuple) -> tuple:
    """What a SUM_DELTAS row adds to SuperSummaries (a row of SUPER_COLUMNS): its sums, and
    what the group's rounded normalised products grow by with its positive durations."""
    key = tuple(row[:13])
    (description, earliest, latest, wall, cpu, positive_wall, positive_cpu, count, old_wall, old_cpu,
     _origin) = row[13:]
    level_type, level = key[9], key[10]
    old_wall, old_cpu = old_wall or 0, old_cpu or 0  # NULL: a new row
    return key + (
        description, earliest, latest, wall, cpu,
        normalised(level_type, level, old_wall + positive_wall) - normalised(level_type, level, old_wall),
        normalised(level_type, level, old_cpu + positive_cpu) - normalised(level_type, level, old_cpu),
        count, positive_wall, positive_cpu, ORIGIN_JOBS,
    )


def job_aggregate_row(row: tuple) -> tuple:
    """(key, values) from a JOB_AGGREGATE row."""
    key = tuple(row[:13])
    (description, earliest, latest, wall, cpu, positive_wall, positive_cpu, count) = row[13:]
    return key, [description, epoch_of_sql_time(earliest), epoch_of_sql_time(latest), int(wall), int(cpu),
                 int(positive_wall), int(positive_cpu), 0, 0, int(count)]


def summary_row(row: tuple) -> tuple:
    """(key, values) from a SUMMARY_ROWS row."""
    key = tuple(row[:13])
    (description, earliest, latest, wall, cpu, count) = row[13:]
    return key, [description, epoch_of_sql_time(earliest), epoch_of_sql_time(latest), int(wall), int(cpu),
                 max(int(wall), 0), max(int(cpu), 0), 0, 0, int(count)]


def normalised_row(row: tuple) -> tuple:
    """(key, values) from a NORMALISED_ROWS row: its normalised durations count as they came."""
    key = tuple(row[:13])
    (description, earliest, latest, wall, cpu, nwall, ncpu, count) = row[13:]
    return key, [description, epoch_of_sql_time(earliest), epoch_of_sql_time(latest), int(wall), int(cpu),
                 0, 0, int(nwall), int(ncpu), int(count)]


def job_deltas(records: list, ids: dict) -> list:
    """Super-summary contributions of job records, aggregated by key (rows of DELTA_COLUMNS).

    Runs for every record the loader stores, so it is written for speed: one
    dictionary probe per record, integer sums; no normalisation (the
    summariser normalises a group's whole sum once).
    """
    sites, dns, vos = ids["Sites"], ids["DNs"], ids["VOs"]
    vo_groups, roles, hosts = ids["VOGroups"], ids["VORoles"], ids["SubmitHosts"]
    groups = {}
    spelt = {}  # a job's benchmark type → its canonical spelling (see _JOB_TYPE)
    for r in records:
        year, month = month_of(r.EndTime)
        key = (
            sites[r.Site], month, year,
            dns[r.GlobalUserName if r.GlobalUserName is not None else "None"],
            vos[r.VO if r.VO is not None else "None"],
            vo_groups[r.VOGroup if r.VOGroup is not None else "None"],
            roles[r.VORole if r.VORole is not None else "None"],
            hosts[r.SubmitHost if r.SubmitHost is not None else "None"],
            r.InfrastructureType if r.InfrastructureType is not None else "None",
            spelt.get(r.ServiceLevelType) or spelt.setdefault(r.ServiceLevelType, canonical_type(r.ServiceLevelType)),
            r.ServiceLevel,
            r.NodeCount if r.NodeCount is not None else 0,
            r.Processors if r.Processors is not None else 0,
        )
        fold_job(groups, key, r.InfrastructureDescription, r.EndTime, r.WallDuration, r.CpuDuration)
    return [key + tuple(g) for key, g in groups.items()]


def fold_job(groups: dict, key: tuple, description: str | None, end: int, wall: int, cpu: int) -> None:
    """Add one job to its delta group ``groups[key]``: [greatest InfrastructureDescription,
    earliest and latest EndTime, wall and CPU sums, their sums of positive values, job count]."""
    g = groups.get(key)
    if g is None:
        groups[key] = [description, end, end, wall, cpu, max(wall, 0), max(cpu, 0), 1]
        return
    if description is not None and (g[0] is None or description > g[0]):
        g[0] = description
    if end < g[1]:
        g[1] = end
    elif end > g[2]:
        g[2] = end
    g[3] += wall
    g[4] += cpu
    if wall > 0:
        g[5] += wall
    if cpu > 0:
        g[6] += cpu
    g[7] += 1



# -- the summariser's statements ---------------------------------------------------------


def dirty_marks(db) -> list:
    """Rows (kind, site id, year, month, version) of SummaryDirty: the site-months to recompute."""
    return [tuple(row) for row in db.query(SELECT_DIRTY)]


def clear_dirty(db, marks) -> None:
    """Remove SummaryDirty rows read by :func:`dirty_marks` (a version marked since stays)."""
    for mark in marks:
        db.execute(CLEAR_DIRTY, mark)


def pending_deltas(db) -> list:
    """[(id, site id, year, month)] of the SummaryDeltas rows the loader wrote."""
    return [tuple(row) for row in db.query(SELECT_DELTAS)]


def delete_deltas(db, ids) -> None:
    """Delete consumed deltas by id (only those read: a delta committed meanwhile stays).

    The ids read come mostly as runs of consecutive numbers (a loader's batch): each run is one
    ``Id BETWEEN first AND last``, which deletes no other row (no other id lies inside it), and
    the ids outside runs go by ``IN``. Fewer parameters, each substituted in Python by the
    connector."""
    runs, single = [], []
    # Consecutive ids share their difference to their position in the sorted list.
    for _, group in groupby(enumerate(sorted(ids)), lambda pair: pair[1] - pair[0]):
        run = [id_ for _, id_ in group]
        if len(run) >= 3:
            runs.append((run[0], run[-1]))
        else:
            single.extend(run)
    for first in range(0, len(runs), DELETE_RUNS_CHUNK):
        chunk = runs[first:first + DELETE_RUNS_CHUNK]
        db.execute(DELETE_DELTA_RUNS.format(runs=" OR ".join(["Id BETWEEN ? AND ?"] * len(chunk))),
                   [bound for run in chunk for bound in run])
    for first in range(0, len(single), DELETE_CHUNK):
        chunk = single[first:first + DELETE_CHUNK]
        db.execute(DELETE_DELTAS.format(marks=", ".join("?" * len(chunk))), chunk)


def consume_all_deltas(db) -> list:
    """Delete every delta, after a full rebuild in this transaction; returns [(id, site id, year,
    month)], one of each site-month's.

    Every delta is of jobs the rebuild counted. On MySQL/MariaDB its INSERT ... SELECT read the
    jobs as committed then, not as of the snapshot (a locking read, as INSERT ... SELECT is in
    REPEATABLE READ), and its shared locks on every job and gap keep loaders from committing jobs
    until this transaction ends; the loader writes a batch's deltas after its jobs, in the same
    transaction, so no delta of uncounted jobs is committed meanwhile. Hence locking reads here
    too (FOR UPDATE), not the snapshot's. On SQLite the transaction holds the only write lock.
    """
    if db.dialect == "mysql" and not builds_in_server(db):
        # The rebuild read the snapshot: so do these, and a delta committed since (on another node)
        # stays, for the next run to add.
        months = [tuple(row) for row in db.query(SELECT_DELTA_MONTHS)]
        delete_deltas(db, [row[0] for row in db.query(SELECT_DELTAS)])
        return months
    locking = " FOR UPDATE" if db.dialect == "mysql" else ""
    months = [tuple(row) for row in db.query(SELECT_DELTA_MONTHS + locking)]
    db.execute(DELETE_ALL_DELTAS)
    return months


def builds_in_server(db) -> bool:
    """Whether a full rebuild runs in the server (MySQL/MariaDB), or reads the snapshot through
    source_groups() (SQLite, and a Galera node).

    On a Galera node the in-server build's locks on every job do not hold off loaders on other
    nodes: each write set they commit that touches a locked job or gap, applied here, aborts the
    whole run (3 replays in one full run of 300,000 jobs while one loader wrote on another node).
    Reading the snapshot takes no locks, at about 1.7 times the in-server build's time."""
    return db.dialect == "mysql" and not db.on_galera()


def source_groups(db, month: tuple | None = None) -> dict:
    """{key: (origin, values)} of one (site id, year, month) or of everything: each group from
    its source of highest precedence (job records, then summaries, then normalised summaries);
    the rows of one source that share a key are merged."""
    where_job, where_summary, params = ("", "", ()) if month is None else (JOB_MONTH, SUMMARY_MONTH, month)
    groups = {}
    for origin, statement, where, read in (
            (ORIGIN_JOBS, JOB_AGGREGATE, where_job, job_aggregate_row),
            (ORIGIN_SUMMARIES, SUMMARY_ROWS, where_summary, summary_row),
            (ORIGIN_NORMALISED, NORMALISED_ROWS, where_summary, normalised_row)):
        found = {}
        for row in db.query(statement.format(where=where), params):
            merge(found, *read(row))
        groups.update((key, (origin, values)) for key, values in found.items())
    return groups


def replace_super_summaries(db, groups: dict, month: tuple | None = None) -> int:
    """Replace the SuperSummaries rows of one (site id, year, month), or all of them, by
    ``groups``; returns the number of rows written."""
    if month is None:
        db.execute(DELETE_SUPER_ALL)
    else:
        db.execute(DELETE_SUPER_MONTH, month)
    rows = [super_row(key, values, origin) for key, (origin, values) in groups.items()]
    db.insert_rows("SuperSummaries", SUPER_COLUMNS, rows, TIME_COLUMNS)
    return len(rows)


# -- a full rebuild in the database (MySQL/MariaDB) -------------------------------------
#
# The groups never leave the server: each source is aggregated straight into SuperSummaries
# in order of precedence (a greater source's row replaces a smaller one's of the same key,
# ON DUPLICATE KEY), with the positive durations summed; then the normalised durations are
# taken from them with each benchmark's exact factor (_factor, the same fraction the Python
# path uses), rounded half up in DECIMAL arithmetic. The result is the rows of
# source_groups() + replace_super_summaries(), bit for bit.

_VALUES_REPLACED = ", ".join(f"{c} = VALUES({c})" for c in VALUE_COLUMNS)
_BUILD_HEAD = f"INSERT INTO SuperSummaries ({', '.join(SUPER_COLUMNS)}) "
BUILD_JOBS = _BUILD_HEAD + (
    f"SELECT {_JOB_GROUP}, MAX(InfrastructureDescription), MIN(EndTime), MAX(EndTime), "
    "SUM(WallDuration), SUM(CpuDuration), 0, 0, COUNT(*), "
    "SUM(CASE WHEN WallDuration > 0 THEN WallDuration ELSE 0 END), "
    f"SUM(CASE WHEN CpuDuration > 0 THEN CpuDuration ELSE 0 END), {ORIGIN_JOBS} "
    "FROM JobRecords GROUP BY " + _JOB_GROUP
)
_SUMMARY_GROUP = ("SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
                  "InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors")
BUILD_SUMMARIES = _BUILD_HEAD + (
    f"SELECT {_SUMMARY_GROUP}, MAX(InfrastructureDescription), MIN(EarliestEndTime), MAX(LatestEndTime), "
    "SUM(WallDuration), SUM(CpuDuration), 0, 0, SUM(NumberOfJobs), "
    "SUM(CASE WHEN WallDuration > 0 THEN WallDuration ELSE 0 END), "
    f"SUM(CASE WHEN CpuDuration > 0 THEN CpuDuration ELSE 0 END), {ORIGIN_SUMMARIES} "
    f"FROM Summaries GROUP BY {_SUMMARY_GROUP} ON DUPLICATE KEY UPDATE {_VALUES_REPLACED}"
)
_NORMALISED_GROUP = ("SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, "
                     "Infrastructure, ServiceLevelType, NodeCount, Processors")
BUILD_NORMALISED = _BUILD_HEAD + (
    "SELECT SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, Infrastructure, "
    "ServiceLevelType, 0, NodeCount, Processors, MAX(InfrastructureDescription), MIN(EarliestEndTime), "
    "MAX(LatestEndTime), SUM(WallDuration), SUM(CpuDuration), SUM(NormalisedWallDuration), "
    f"SUM(NormalisedCpuDuration), SUM(NumberOfJobs), 0, 0, {ORIGIN_NORMALISED} "
    f"FROM NormalisedSummaries GROUP BY {_NORMALISED_GROUP} ON DUPLICATE KEY UPDATE {_VALUES_REPLACED}"
)
BUILT_LEVELS = ("SELECT DISTINCT ServiceLevelType, ServiceLevel FROM SuperSummaries "
                "WHERE PositiveWallDuration > 0 OR PositiveCpuDuration > 0")
# f: (type, level, numerator, denominator) rows; normalised() of the positive sums, in DECIMAL.
NORMALISE_BUILT = (
    "UPDATE SuperSummaries AS s JOIN ({factors}) AS f ON s.ServiceLevelType = f.t AND s.ServiceLevel = f.l "
    "SET s.NormalisedWallDuration = s.NormalisedWallDuration "
    "+ (2 * CAST(s.PositiveWallDuration AS DECIMAL(65, 0)) * f.n + f.d) DIV (2 * f.d), "
    "s.NormalisedCpuDuration = s.NormalisedCpuDuration "
    "+ (2 * CAST(s.PositiveCpuDuration AS DECIMAL(65, 0)) * f.n + f.d) DIV (2 * f.d)"
)
FACTOR_ROW = "SELECT ? AS t, ? AS l, CAST(? AS DECIMAL(65, 0)) AS n, CAST(? AS DECIMAL(65, 0)) AS d"
FACTORS_CHUNK = 500
COUNT_BUILT = "SELECT COUNT(*), COUNT(DISTINCT SiteID, Year, Month) FROM SuperSummaries"


def rebuild_super_summaries(db) -> tuple[int, int]:
    """Replace every SuperSummaries row by what the sources give; returns (rows written,
    site-months). In the server or through source_groups(): see builds_in_server()."""
    if not builds_in_server(db):
        groups = source_groups(db)
        return replace_super_summaries(db, groups), len({key[:3] for key in groups})
    db.execute(DELETE_SUPER_ALL)
    for statement in (BUILD_JOBS, BUILD_SUMMARIES, BUILD_NORMALISED):
        db.execute(statement)
    levels = db.query(BUILT_LEVELS)
    for start in range(0, len(levels), FACTORS_CHUNK):
        chunk = levels[start:start + FACTORS_CHUNK]
        params = [value for level_type, level in chunk
                  for value in (level_type, level, *(str(n) for n in _factor(level_type, level)))]
        db.execute(NORMALISE_BUILT.format(factors=" UNION ALL ".join([FACTOR_ROW] * len(chunk))), params)
    rows, months = db.query(COUNT_BUILT)[0]
    return int(rows), int(months)


def add_deltas(db, skip_months) -> None:
    """Add the summed deltas to SuperSummaries in place, except those of ``skip_months``
    ({(site id, year, month)}, recomputed from their sources instead) and those whose row a
    summary holds (its figures replace the jobs', as a recompute would have it)."""
    rows = [added_row(row) for row in db.query(SUM_DELTAS)
            if (row[0], row[2], row[1]) not in skip_months and not row[-1]]
    db.add_rows("SuperSummaries", KEY_COLUMNS, SUPER_COLUMNS, rows, add=ADDED_COLUMNS,
                least=("EarliestEndTime",), greatest=("LatestEndTime", "InfrastructureDescription"))


# -- cloud ----------------------------------------------------------------------------

# As the deployed CloudSummaries table is keyed (CLOUD_SUMMARY's key): VMs of one CpuCount
# together, whatever their CloudType (a group takes the greatest of its VMs' cloud types).
CLOUD_SUMMARY_KEY = (
    "SiteName", "CloudComputeService", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole",
    "Status", "ImageId", "CpuCount", "BenchmarkType", "Benchmark",
)
# Cumulative per VM (usage is the difference between months) and summed as they are.
CLOUD_CUMULATIVE = ("WallDuration", "CpuDuration", "NetworkInbound", "NetworkOutbound")
CLOUD_SUMMED = CLOUD_CUMULATIVE + ("Memory", "Disk")
CLOUD_RECORDS = (
    "SELECT t.SiteNameID, s.name AS SiteName, c.name AS CloudComputeService, "
    "t.MeasurementMonth AS Month, t.MeasurementYear AS Year, t.MeasurementMonth, t.MeasurementYear, "
    "d.name AS GlobalUserName, vo.name AS VO, g.name AS VOGroup, r.name AS VORole, "
    "t.Status, t.CloudType, t.ImageId, t.BenchmarkType, t.Benchmark, t.VMUUID, t.StartTime, "
    "t.WallDuration, t.CpuDuration, t.NetworkInbound, t.NetworkOutbound, t.CpuCount, t.Memory, t.Disk "
    "FROM CloudRecords AS t "
    "JOIN Sites AS s ON s.id = t.SiteNameID "
    "JOIN CloudComputeServices AS c ON c.id = t.CloudComputeServiceID "
    "JOIN DNs AS d ON d.id = t.GlobalUserNameID "
    "JOIN VOs AS vo ON vo.id = t.VOID "
    "JOIN VOGroups AS g ON g.id = t.VOGroupID "
    "JOIN VORoles AS r ON r.id = t.VORoleID "
    "{where} ORDER BY t.VMUUID, t.MeasurementYear, t.MeasurementMonth"
)
CLOUD_SITES = "WHERE t.SiteNameID IN ({marks})"
DELETE_COMPUTED_CLOUD_ALL = "DELETE FROM CloudSummaries WHERE PublisherDNID = ?"
DELETE_COMPUTED_CLOUD_FROM = (
    "DELETE FROM CloudSummaries WHERE PublisherDNID = ? AND SiteNameID = ? AND Year * 12 + Month >= ?"
)


def cloud_records(db, sites=None) -> list:
    """Cloud records as dicts (names, not ids), by VM and month: of the site ids ``sites``, or all."""
    if sites is None:
        return db.query_dicts(CLOUD_RECORDS.format(where=""))
    sites = list(sites)
    return db.query_dicts(CLOUD_RECORDS.format(where=CLOUD_SITES.format(marks=", ".join("?" * len(sites)))), sites)


def delete_computed_cloud(db, publisher_id: int, site: int | None = None, first: tuple | None = None) -> None:
    """Delete the cloud summaries that ``publisher_id`` (the summariser) computed: all of them, or
    those of site id ``site`` from (year, month) ``first`` on."""
    if site is None:
        db.execute(DELETE_COMPUTED_CLOUD_ALL, (publisher_id,))
    else:
        db.execute(DELETE_COMPUTED_CLOUD_FROM, (publisher_id, site, first[0] * 12 + first[1]))

# -- accelerators -----------------------------------------------------------------------

ACCELERATOR_COLUMNS = (
    "SiteNameID", "Month", "Year", "GlobalUserNameID", "AssociatedRecordType", "Type", "Model",
    "BenchmarkType", "Benchmark", "Count", "Cores", "ActiveDuration", "AvailableDuration", "NumberOfRecords",
)
_ACCELERATOR_GROUP = (
    "SiteNameID, MeasurementMonth, MeasurementYear, GlobalUserNameID, AssociatedRecordType, Type, "
    "COALESCE(Model, 'None'), COALESCE(BenchmarkType, 'None'), COALESCE(Benchmark, 0)"
)
ACCELERATOR_AGGREGATE = (
    f"SELECT {_ACCELERATOR_GROUP}, SUM(Count), SUM(COALESCE(Cores, 0)), "
    "SUM(COALESCE(ActiveDuration, AvailableDuration)), "
    "SUM(AvailableDuration), COUNT(*) FROM AcceleratorRecords {where} GROUP BY " + _ACCELERATOR_GROUP
)
ACCELERATOR_MONTH = "WHERE SiteNameID = ? AND MeasurementYear = ? AND MeasurementMonth = ?"
DELETE_ACCELERATOR_ALL = "DELETE FROM AcceleratorSummaries"
DELETE_ACCELERATOR_MONTH = "DELETE FROM AcceleratorSummaries WHERE SiteNameID = ? AND Year = ? AND Month = ?"


def replace_accelerator_summaries(db, month: tuple | None = None) -> list:
    """Recompute the accelerator summaries of one (site id, year, month), or all of them;
    returns the rows written (ACCELERATOR_COLUMNS)."""
    if month is None:
        rows = db.query(ACCELERATOR_AGGREGATE.format(where=""))
        db.execute(DELETE_ACCELERATOR_ALL)
    else:
        rows = db.query(ACCELERATOR_AGGREGATE.format(where=ACCELERATOR_MONTH), month)
        db.execute(DELETE_ACCELERATOR_MONTH, month)
    rows = [tuple(row) for row in rows]
    db.insert_rows("AcceleratorSummaries", ACCELERATOR_COLUMNS, rows)
    return rows
