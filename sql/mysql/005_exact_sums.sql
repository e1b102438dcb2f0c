-- apeltools schema, migration 005: exact normalised sums (MySQL 8 / MariaDB).
--
-- SuperSummaries held normalised durations as DOUBLE sums of per-message products, so
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

INSERT INTO SummaryDirty (Kind, SiteID, Year, Month)
  SELECT 'jobs', m.SiteID, m.Year, m.Month
  FROM (SELECT SiteID, Year, Month FROM SuperSummaries
        UNION SELECT SiteID, Year, Month FROM SummaryDeltas) AS m
ON DUPLICATE KEY UPDATE Version = Version + 1;

UPDATE SuperSummaries
  SET NormalisedWallDuration = ROUND(NormalisedWallDuration), NormalisedCpuDuration = ROUND(NormalisedCpuDuration);

ALTER TABLE SuperSummaries
  MODIFY NormalisedWallDuration BIGINT NOT NULL,
  MODIFY NormalisedCpuDuration BIGINT NOT NULL,
  ADD COLUMN PositiveWallDuration BIGINT NOT NULL DEFAULT 0 AFTER NumberOfJobs,
  ADD COLUMN PositiveCpuDuration BIGINT NOT NULL DEFAULT 0 AFTER PositiveWallDuration;

-- Its months are marked above: the waiting deltas are recomputed with them.
DELETE FROM SummaryDeltas;

ALTER TABLE SummaryDeltas
  CHANGE NormalisedWallDuration PositiveWallDuration BIGINT NOT NULL,
  CHANGE NormalisedCpuDuration PositiveCpuDuration BIGINT NOT NULL;
