-- apeltools schema, migration 005: exact normalised sums (SQLite).
--
-- SuperSummaries held normalised durations as REAL sums of per-message products, so
-- an incremental summarise and a full one could round a group ending in .5 differently.
-- Now a group keeps the exact integer sum of the durations its benchmark normalises
-- (PositiveWallDuration, PositiveCpuDuration: jobs' and summaries' positive durations),
-- and NormalisedWallDuration/NormalisedCpuDuration hold whole seconds: that sum times the
-- benchmark, taken exactly and rounded half up (as the deployed summariser's ROUND of a
-- DECIMAL sum), plus what normalised summaries brought. The views read them unchanged.
-- SummaryDeltas carries the positive durations instead of float products.
--
-- Existing rows cannot tell their positive durations: every summarised site-month (and
-- every month with deltas still waiting) is marked, so the next apel-summarise recomputes
-- them from their records; until then the normalised figures are the old ones, rounded.
-- Stop apel-load and apel-summarise while this runs.
--
-- SQLite cannot change a column's type: SuperSummaries is copied into a new table that
-- takes its name. legacy_alter_table keeps the views that read it as they are (they name
-- the table, and find the new one), whatever migration 004 or later made of them.

PRAGMA legacy_alter_table = ON;
BEGIN;

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT 'jobs', m.SiteID, m.Year, m.Month
  FROM (SELECT SiteID, Year, Month FROM SuperSummaries
        UNION SELECT SiteID, Year, Month FROM SummaryDeltas) AS m
  WHERE true
ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;

CREATE TABLE SuperSummaries_005 (
  SiteID INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  GlobalUserNameID INTEGER NOT NULL,
  VOID INTEGER NOT NULL,
  VOGroupID INTEGER NOT NULL,
  VORoleID INTEGER NOT NULL,
  SubmitHostID INTEGER NOT NULL,
  InfrastructureType TEXT NOT NULL,
  InfrastructureDescription TEXT,
  ServiceLevelType TEXT NOT NULL,
  ServiceLevel REAL NOT NULL,
  NodeCount INTEGER NOT NULL,
  Processors INTEGER NOT NULL,
  EarliestEndTime TEXT,
  LatestEndTime TEXT,
  WallDuration INTEGER NOT NULL,
  CpuDuration INTEGER NOT NULL,
  NormalisedWallDuration INTEGER NOT NULL,
  NormalisedCpuDuration INTEGER NOT NULL,
  NumberOfJobs INTEGER NOT NULL,
  PositiveWallDuration INTEGER NOT NULL DEFAULT 0,
  PositiveCpuDuration INTEGER NOT NULL DEFAULT 0,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors)
);

INSERT INTO SuperSummaries_005 (
  SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, InfrastructureType,
  InfrastructureDescription, ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime,
  LatestEndTime, WallDuration, CpuDuration, NormalisedWallDuration, NormalisedCpuDuration, NumberOfJobs,
  UpdateTime)
SELECT
  SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, SubmitHostID, InfrastructureType,
  InfrastructureDescription, ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime,
  LatestEndTime, WallDuration, CpuDuration, CAST(ROUND(NormalisedWallDuration) AS INTEGER),
  CAST(ROUND(NormalisedCpuDuration) AS INTEGER), NumberOfJobs, UpdateTime
FROM SuperSummaries;

DROP TABLE SuperSummaries;
ALTER TABLE SuperSummaries_005 RENAME TO SuperSummaries;

-- Its months are marked above: the waiting deltas are recomputed with them. (No view
-- reads this table, so its columns can simply be dropped.)
DELETE FROM SummaryDeltas;
ALTER TABLE SummaryDeltas DROP COLUMN NormalisedWallDuration;
ALTER TABLE SummaryDeltas DROP COLUMN NormalisedCpuDuration;
ALTER TABLE SummaryDeltas ADD COLUMN PositiveWallDuration INTEGER NOT NULL DEFAULT 0;
ALTER TABLE SummaryDeltas ADD COLUMN PositiveCpuDuration INTEGER NOT NULL DEFAULT 0;

COMMIT;
PRAGMA legacy_alter_table = OFF;
