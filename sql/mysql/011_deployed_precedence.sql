-- apeltools schema, migration 011: summaries grouped and chosen as the deployed summariser does
-- (MySQL 8 / MariaDB).
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
-- Stop apel-load and apel-summarise while this runs. Works under strict SQL modes.

ALTER TABLE SuperSummaries ADD COLUMN Origin TINYINT NOT NULL DEFAULT 0 AFTER PositiveCpuDuration;

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT 'jobs', m.SiteID, m.Year, m.Month
  FROM (SELECT SiteID, Year, Month FROM Summaries
        UNION SELECT SiteID, Year, Month FROM NormalisedSummaries) AS m
ON DUPLICATE KEY UPDATE Version = Version + 1;

DELETE FROM CloudSummaries WHERE PublisherDNID IN (SELECT id FROM DNs WHERE name = 'apel-summarise');

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT DISTINCT 'cloud', SiteNameID, MeasurementYear, MeasurementMonth FROM CloudRecords
ON DUPLICATE KEY UPDATE Version = Version + 1;

UPDATE CloudSummaries SET CpuCount = 0 WHERE CpuCount IS NULL;

DELETE t FROM CloudSummaries AS t
  JOIN CloudSummaries AS o
    ON o.SiteNameID = t.SiteNameID AND o.CloudComputeServiceID = t.CloudComputeServiceID
   AND o.Month = t.Month AND o.Year = t.Year AND o.GlobalUserNameID = t.GlobalUserNameID
   AND o.VOID = t.VOID AND o.VOGroupID = t.VOGroupID AND o.VORoleID = t.VORoleID
   AND o.Status = t.Status AND o.ImageId = t.ImageId AND o.CpuCount = t.CpuCount
   AND o.BenchmarkType = t.BenchmarkType AND o.Benchmark = t.Benchmark
   AND (o.UpdateTime > t.UpdateTime OR (o.UpdateTime = t.UpdateTime AND o.CloudType > t.CloudType));

ALTER TABLE CloudSummaries
  MODIFY CpuCount DECIMAL(16,3) NOT NULL DEFAULT 0,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID,
                   VORoleID, Status, ImageId, CpuCount, BenchmarkType, Benchmark);
