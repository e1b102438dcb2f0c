-- apeltools schema, migration 011: summaries grouped and chosen as the deployed summariser does
-- (SQLite).
--
-- 1. A super-summary group comes from one source only. When job records and a received
--    summary (or normalised summary) have the same super-summary key, the deployed
--    summariser keeps the summary's figures (a normalised summary's over both); ours added
--    them, counting twice the jobs of a site that switched from sending jobs to sending
--    summaries of the same month. SuperSummaries.Origin says which source a row holds
--    (0 job records, 1 summaries, 2 normalised summaries), so that new jobs' deltas are
--    not added to a row that a summary governs. Every site-month with summaries is marked,
--    so the next apel-summarise recomputes it with the precedence.
-- 2. Cloud summaries are keyed as the deployed CloudSummaries table is: by CpuCount (each
--    VM's count, no longer summed over a group) and not by CloudType. The summariser's own
--    rows are deleted and every site-month of cloud records is marked: the next
--    apel-summarise recomputes them. Received rows that now share a key (they differed by
--    CloudType only) keep the latest, as the deployed loader's REPLACE would have.
-- Stop apel-load and apel-summarise while this runs.
--
-- SQLite cannot change a primary key: CloudSummaries is copied into a new table that takes
-- its name. legacy_alter_table keeps the views that read it as they are (see 005).

PRAGMA legacy_alter_table = ON;
BEGIN;

ALTER TABLE SuperSummaries ADD COLUMN Origin INTEGER NOT NULL DEFAULT 0;

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT 'jobs', m.SiteID, m.Year, m.Month
  FROM (SELECT SiteID, Year, Month FROM Summaries
        UNION SELECT SiteID, Year, Month FROM NormalisedSummaries) AS m
  WHERE true
ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;

DELETE FROM CloudSummaries WHERE PublisherDNID IN (SELECT id FROM DNs WHERE name = 'apel-summarise');

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT DISTINCT 'cloud', SiteNameID, MeasurementYear, MeasurementMonth FROM CloudRecords
  WHERE true
ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;

UPDATE CloudSummaries SET CpuCount = 0 WHERE CpuCount IS NULL;

DELETE FROM CloudSummaries AS t WHERE EXISTS (
  SELECT 1 FROM CloudSummaries AS o
  WHERE o.SiteNameID = t.SiteNameID AND o.CloudComputeServiceID = t.CloudComputeServiceID
    AND o.Month = t.Month AND o.Year = t.Year AND o.GlobalUserNameID = t.GlobalUserNameID
    AND o.VOID = t.VOID AND o.VOGroupID = t.VOGroupID AND o.VORoleID = t.VORoleID
    AND o.Status = t.Status AND o.ImageId = t.ImageId AND o.CpuCount = t.CpuCount
    AND o.BenchmarkType = t.BenchmarkType AND o.Benchmark = t.Benchmark
    AND (o.UpdateTime > t.UpdateTime OR (o.UpdateTime = t.UpdateTime AND o.CloudType > t.CloudType)));

CREATE TABLE CloudSummaries_011 (
  SiteNameID INTEGER NOT NULL,
  CloudComputeServiceID INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  GlobalUserNameID INTEGER NOT NULL,
  VOID INTEGER NOT NULL,
  VOGroupID INTEGER NOT NULL,
  VORoleID INTEGER NOT NULL,
  Status TEXT NOT NULL,
  CloudType TEXT NOT NULL,
  ImageId TEXT NOT NULL,
  EarliestStartTime TEXT,
  LatestStartTime TEXT,
  WallDuration INTEGER,
  CpuDuration INTEGER,
  CpuCount INTEGER NOT NULL DEFAULT 0,
  NetworkInbound INTEGER,
  NetworkOutbound INTEGER,
  Memory INTEGER,
  Disk INTEGER,
  BenchmarkType TEXT NOT NULL,
  Benchmark REAL NOT NULL,
  NumberOfVMs INTEGER NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, Status, ImageId, CpuCount, BenchmarkType, Benchmark)
);

INSERT INTO CloudSummaries_011 SELECT
  SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, Status,
  CloudType, ImageId, EarliestStartTime, LatestStartTime, WallDuration, CpuDuration, CpuCount,
  NetworkInbound, NetworkOutbound, Memory, Disk, BenchmarkType, Benchmark, NumberOfVMs, PublisherDNID,
  UpdateTime
FROM CloudSummaries;

DROP TABLE CloudSummaries;
ALTER TABLE CloudSummaries_011 RENAME TO CloudSummaries;

COMMIT;
PRAGMA legacy_alter_table = OFF;
