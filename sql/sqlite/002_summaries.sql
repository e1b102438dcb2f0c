-- apeltools schema, migration 002: what incremental summarising needs (SQLite).
--
-- apel-summarise recomputes only what changed since its last run:
-- * SummaryDeltas: the sums of newly stored job records, written by the loader in the
--   same transaction as the records, added to SuperSummaries without re-reading a month;
-- * SummaryDirty: (kind, site, month) groups to recompute from their sources, marked by
--   the triggers below whenever a record is replaced, updated or deleted (and whenever a
--   summary, cloud or accelerator record arrives). Version grows with each mark, so a
--   mark made while the summariser runs is never cleared by it.

CREATE TABLE SummaryDeltas (
  Id INTEGER PRIMARY KEY AUTOINCREMENT,
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
  EarliestEndTime TEXT NOT NULL,
  LatestEndTime TEXT NOT NULL,
  WallDuration INTEGER NOT NULL,
  CpuDuration INTEGER NOT NULL,
  NormalisedWallDuration REAL NOT NULL,
  NormalisedCpuDuration REAL NOT NULL,
  NumberOfJobs INTEGER NOT NULL
);

CREATE TABLE SummaryDirty (
  Kind TEXT NOT NULL,
  SiteID INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (Kind, SiteID, Year, Month)
);

-- Accelerator usage per site, month, user, model and benchmark, made by apel-summarise.
CREATE TABLE AcceleratorSummaries (
  SiteNameID INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  GlobalUserNameID INTEGER NOT NULL,
  AssociatedRecordType TEXT NOT NULL,
  Type TEXT NOT NULL,
  Model TEXT NOT NULL,
  BenchmarkType TEXT NOT NULL,
  Benchmark REAL NOT NULL,
  Count REAL NOT NULL,
  Cores INTEGER NOT NULL,
  ActiveDuration INTEGER NOT NULL,
  AvailableDuration INTEGER NOT NULL,
  NumberOfRecords INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteNameID, Month, Year, GlobalUserNameID, AssociatedRecordType, Type, Model, BenchmarkType, Benchmark)
);

-- No index for recomputing a site-month's jobs: the primary key starts with SiteID, which
-- narrows the read to the site, and a second index on the biggest table would cost every
-- load about a third of its speed for a recompute that only replacements and deletions need.

CREATE INDEX CloudRecords_SiteMonth ON CloudRecords (SiteNameID, MeasurementYear, MeasurementMonth);

-- Marks: the job table marks only replacements, updates and deletions (new jobs come as
-- deltas from the loader, and a trigger per inserted row would slow loading down).
CREATE TRIGGER JobRecords_delete_mark AFTER DELETE ON JobRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.EndYear, OLD.EndMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER JobRecords_update_mark AFTER UPDATE ON JobRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.EndYear, NEW.EndMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER JobRecords_update_mark_old AFTER UPDATE ON JobRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.EndYear, OLD.EndMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER Summaries_insert_mark AFTER INSERT ON Summaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER Summaries_delete_mark AFTER DELETE ON Summaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER Summaries_update_mark AFTER UPDATE ON Summaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER Summaries_update_mark_old AFTER UPDATE ON Summaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER NormalisedSummaries_insert_mark AFTER INSERT ON NormalisedSummaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER NormalisedSummaries_delete_mark AFTER DELETE ON NormalisedSummaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER NormalisedSummaries_update_mark AFTER UPDATE ON NormalisedSummaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', NEW.SiteID, NEW.Year, NEW.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER NormalisedSummaries_update_mark_old AFTER UPDATE ON NormalisedSummaries FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('jobs', OLD.SiteID, OLD.Year, OLD.Month)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER CloudRecords_insert_mark AFTER INSERT ON CloudRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER CloudRecords_delete_mark AFTER DELETE ON CloudRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER CloudRecords_update_mark AFTER UPDATE ON CloudRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER CloudRecords_update_mark_old AFTER UPDATE ON CloudRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('cloud', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER AcceleratorRecords_insert_mark AFTER INSERT ON AcceleratorRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER AcceleratorRecords_delete_mark AFTER DELETE ON AcceleratorRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER AcceleratorRecords_update_mark AFTER UPDATE ON AcceleratorRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', NEW.SiteNameID, NEW.MeasurementYear, NEW.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

CREATE TRIGGER AcceleratorRecords_update_mark_old AFTER UPDATE ON AcceleratorRecords FOR EACH ROW BEGIN
  INSERT INTO SummaryDirty (Kind, SiteID, Year, Month) VALUES ('accelerator', OLD.SiteNameID, OLD.MeasurementYear, OLD.MeasurementMonth)
  ON CONFLICT (Kind, SiteID, Year, Month) DO UPDATE SET Version = Version + 1;
END;

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
