-- apeltools schema, migration 002: what incremental summarising needs (MySQL 8 / MariaDB).
--
-- apel-summarise recomputes only what changed since its last run:
-- * SummaryDeltas: the sums of newly stored job records, written by the loader in the
--   same transaction as the records, added to SuperSummaries without re-reading a month;
-- * SummaryDirty: (kind, site, month) groups to recompute from their sources, marked by
--   the triggers below whenever a record is replaced, updated or deleted (and whenever a
--   summary, cloud or accelerator record arrives). Version grows with each mark, so a
--   mark made while the summariser runs is never cleared by it.

CREATE TABLE SummaryDeltas (
  Id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  SiteID INT UNSIGNED NOT NULL,
  Month INT NOT NULL,
  Year INT NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL,
  VOID INT UNSIGNED NOT NULL,
  VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL,
  SubmitHostID INT UNSIGNED NOT NULL,
  InfrastructureType VARCHAR(20) NOT NULL,
  InfrastructureDescription VARCHAR(255),
  ServiceLevelType VARCHAR(50) NOT NULL,
  ServiceLevel DOUBLE NOT NULL,
  NodeCount INT NOT NULL,
  Processors INT NOT NULL,
  EarliestEndTime DATETIME NOT NULL,
  LatestEndTime DATETIME NOT NULL,
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  NormalisedWallDuration DOUBLE NOT NULL,
  NormalisedCpuDuration DOUBLE NOT NULL,
  NumberOfJobs BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE SummaryDirty (
  Kind VARCHAR(20) NOT NULL,
  SiteID INT UNSIGNED NOT NULL,
  Year INT NOT NULL,
  Month INT NOT NULL,
  Version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (Kind, SiteID, Year, Month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Accelerator usage per site, month, user, model and benchmark, made by apel-summarise.
CREATE TABLE AcceleratorSummaries (
  SiteNameID INT UNSIGNED NOT NULL,
  Month INT NOT NULL,
  Year INT NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL,
  AssociatedRecordType VARCHAR(20) NOT NULL,
  Type VARCHAR(20) NOT NULL,
  Model VARCHAR(100) NOT NULL,
  BenchmarkType VARCHAR(50) NOT NULL,
  Benchmark DOUBLE NOT NULL,
  Count DOUBLE NOT NULL,
  Cores BIGINT NOT NULL,
  ActiveDuration BIGINT NOT NULL,
  AvailableDuration BIGINT NOT NULL,
  NumberOfRecords BIGINT NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteNameID, Month, Year, GlobalUserNameID, AssociatedRecordType, Type, Model, BenchmarkType, Benchmark)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- No index for recomputing a site-month's jobs: the primary key starts with SiteID, which
-- narrows the read to the site, and a second index on the biggest table would cost every
-- load about a third of its speed for a recompute that only replacements and deletions need.

CREATE INDEX CloudRecords_SiteMonth ON CloudRecords (SiteNameID, MeasurementYear, MeasurementMonth);

-- Marks: the job table marks only replacements, updates and deletions (new jobs come as
-- deltas from the loader, and a trigger per inserted row would slow loading down).
CREATE TRIGGER JobRecords_delete_mark AFTER DELETE ON JobRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.EndYear, OLD.EndMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER JobRecords_update_mark AFTER UPDATE ON JobRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.EndYear, NEW.EndMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER JobRecords_update_mark_old AFTER UPDATE ON JobRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.EndYear, OLD.EndMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER Summaries_insert_mark AFTER INSERT ON Summaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER Summaries_delete_mark AFTER DELETE ON Summaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER Summaries_update_mark AFTER UPDATE ON Summaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER Summaries_update_mark_old AFTER UPDATE ON Summaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER NormalisedSummaries_insert_mark AFTER INSERT ON NormalisedSummaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER NormalisedSummaries_delete_mark AFTER DELETE ON NormalisedSummaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER NormalisedSummaries_update_mark AFTER UPDATE ON NormalisedSummaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER NormalisedSummaries_update_mark_old AFTER UPDATE ON NormalisedSummaries FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER CloudRecords_insert_mark AFTER INSERT ON CloudRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER CloudRecords_delete_mark AFTER DELETE ON CloudRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER CloudRecords_update_mark AFTER UPDATE ON CloudRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER CloudRecords_update_mark_old AFTER UPDATE ON CloudRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER AcceleratorRecords_insert_mark AFTER INSERT ON AcceleratorRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER AcceleratorRecords_delete_mark AFTER DELETE ON AcceleratorRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER AcceleratorRecords_update_mark AFTER UPDATE ON AcceleratorRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

CREATE TRIGGER AcceleratorRecords_update_mark_old AFTER UPDATE ON AcceleratorRecords FOR EACH ROW
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON DUPLICATE KEY UPDATE Version = Version + 1;

-- How many jobs ran under each benchmark value, per site and month (read by the portal).
CREATE VIEW VBenchmarkHistory AS
SELECT
  l_Site.name AS Site,
  t.Year,
  t.Month,
  t.ServiceLevelType,
  t.ServiceLevel,
  SUM(t.NumberOfJobs) AS NumberOfJobs
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
GROUP BY l_Site.name, t.Year, t.Month, t.ServiceLevelType, t.ServiceLevel;

CREATE VIEW VAcceleratorSummaries AS
SELECT
  l_Site.name AS SiteName,
  t.Month,
  t.Year,
  l_DN.name AS GlobalUserName,
  t.AssociatedRecordType,
  t.Type,
  t.Model,
  t.BenchmarkType,
  t.Benchmark,
  t.Count,
  t.Cores,
  t.ActiveDuration,
  t.AvailableDuration,
  t.NumberOfRecords,
  t.UpdateTime
FROM AcceleratorSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteNameID
  JOIN DNs AS l_DN ON l_DN.id = t.GlobalUserNameID;
