-- apeltools schema, migration 001: the initial tables and compatibility views (MySQL 8 / MariaDB).
--
-- Names (sites, DNs, VOs, hosts...) live in lookup tables with UNIQUE names;
-- an absent name is stored as the name 'None'. Every record table's primary
-- key is its record type's natural key (apeltools/records/types.py), so a
-- record replaces the stored record with the same key. Times are UTC.
-- The V* views keep the names and columns that portals and monitoring read.
-- Works under strict SQL modes (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_DATE).

-- Lookup tables

CREATE TABLE Sites (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY Sites_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE SubmitHosts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY SubmitHosts_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE MachineNames (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY MachineNames_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE Queues (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY Queues_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE DNs (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(512) NOT NULL,
  UNIQUE KEY DNs_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE VOs (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY VOs_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE VOGroups (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY VOGroups_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE VORoles (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY VORoles_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE CloudComputeServices (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY CloudComputeServices_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Record tables

CREATE TABLE JobRecords (
  SiteID INT UNSIGNED NOT NULL,
  SubmitHostID INT UNSIGNED NOT NULL,
  MachineNameID INT UNSIGNED NOT NULL,
  QueueID INT UNSIGNED NOT NULL,
  LocalJobId VARCHAR(255) NOT NULL,
  LocalUserId VARCHAR(255),
  GlobalUserNameID INT UNSIGNED NOT NULL,
  FQAN VARCHAR(255),
  VOID INT UNSIGNED NOT NULL,
  VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL,
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  Processors INT,
  NodeCount INT,
  StartTime DATETIME NOT NULL,
  EndTime DATETIME NOT NULL,
  InfrastructureDescription VARCHAR(255),
  InfrastructureType VARCHAR(20),
  MemoryReal BIGINT,
  MemoryVirtual BIGINT,
  ServiceLevelType VARCHAR(50) NOT NULL,
  ServiceLevel DOUBLE NOT NULL,
  EndYear INT,
  EndMonth INT,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, LocalJobId, EndTime)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE Summaries (
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
  EarliestEndTime DATETIME,
  LatestEndTime DATETIME,
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  NumberOfJobs BIGINT NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE NormalisedSummaries (
  SiteID INT UNSIGNED NOT NULL,
  Month INT NOT NULL,
  Year INT NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL,
  VOID INT UNSIGNED NOT NULL,
  VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL,
  SubmitHostID INT UNSIGNED NOT NULL,
  Infrastructure VARCHAR(20) NOT NULL,
  InfrastructureDescription VARCHAR(255),
  NodeCount INT NOT NULL,
  Processors INT NOT NULL,
  EarliestEndTime DATETIME,
  LatestEndTime DATETIME,
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  NormalisedWallDuration BIGINT NOT NULL,
  NormalisedCpuDuration BIGINT NOT NULL,
  NumberOfJobs BIGINT NOT NULL,
  ServiceLevelType VARCHAR(50) NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, Infrastructure, NodeCount, Processors, ServiceLevelType)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE SyncRecords (
  SiteID INT UNSIGNED NOT NULL,
  SubmitHostID INT UNSIGNED NOT NULL,
  NumberOfJobs BIGINT NOT NULL,
  Month INT NOT NULL,
  Year INT NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, SubmitHostID, Month, Year)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE CloudRecords (
  RecordCreateTime DATETIME,
  VMUUID VARCHAR(255) NOT NULL,
  SiteNameID INT UNSIGNED NOT NULL,
  CloudComputeServiceID INT UNSIGNED NOT NULL,
  MachineName VARCHAR(255),
  LocalUserId VARCHAR(255),
  LocalGroupId VARCHAR(255),
  GlobalUserNameID INT UNSIGNED NOT NULL,
  FQAN VARCHAR(255),
  Status VARCHAR(20),
  StartTime DATETIME,
  EndTime DATETIME,
  SuspendDuration BIGINT,
  WallDuration BIGINT,
  CpuDuration BIGINT,
  CpuCount INT,
  NetworkType VARCHAR(50),
  NetworkInbound BIGINT,
  NetworkOutbound BIGINT,
  PublicIPCount INT,
  Memory BIGINT,
  Disk BIGINT,
  BenchmarkType VARCHAR(50),
  Benchmark DOUBLE,
  StorageRecordId VARCHAR(255),
  ImageId VARCHAR(255),
  CloudType VARCHAR(50),
  MeasurementTime DATETIME,
  MeasurementYear INT NOT NULL,
  MeasurementMonth INT NOT NULL,
  VOID INT UNSIGNED NOT NULL,
  VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (VMUUID, MeasurementMonth, MeasurementYear)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE CloudSummaries (
  SiteNameID INT UNSIGNED NOT NULL,
  CloudComputeServiceID INT UNSIGNED NOT NULL,
  Month INT NOT NULL,
  Year INT NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL,
  VOID INT UNSIGNED NOT NULL,
  VOGroupID INT UNSIGNED NOT NULL,
  VORoleID INT UNSIGNED NOT NULL,
  Status VARCHAR(20) NOT NULL,
  CloudType VARCHAR(50) NOT NULL,
  ImageId VARCHAR(255) NOT NULL,
  EarliestStartTime DATETIME,
  LatestStartTime DATETIME,
  WallDuration BIGINT,
  CpuDuration BIGINT,
  CpuCount INT,
  NetworkInbound BIGINT,
  NetworkOutbound BIGINT,
  Memory BIGINT,
  Disk BIGINT,
  BenchmarkType VARCHAR(50) NOT NULL,
  Benchmark DOUBLE NOT NULL,
  NumberOfVMs BIGINT NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, Status, CloudType, ImageId, BenchmarkType, Benchmark)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE StarRecords (
  RecordId VARCHAR(255) NOT NULL,
  CreateTime DATETIME NOT NULL,
  StorageSystem VARCHAR(255) NOT NULL,
  SiteID INT UNSIGNED NOT NULL,
  StorageShare VARCHAR(255),
  StorageMedia VARCHAR(50),
  StorageClass VARCHAR(50),
  FileCount INT,
  DirectoryPath VARCHAR(255),
  LocalUser VARCHAR(255),
  LocalGroup VARCHAR(255),
  UserIdentity VARCHAR(255),
  `Group` VARCHAR(255),
  SubGroup VARCHAR(255),
  Role VARCHAR(255),
  StartTime DATETIME NOT NULL,
  EndTime DATETIME NOT NULL,
  ResourceCapacityUsed BIGINT NOT NULL,
  LogicalCapacityUsed BIGINT,
  ResourceCapacityAllocated BIGINT,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (RecordId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE AcceleratorRecords (
  MeasurementMonth INT NOT NULL,
  MeasurementYear INT NOT NULL,
  AssociatedRecordType VARCHAR(20) NOT NULL,
  AssociatedRecord VARCHAR(255) NOT NULL,
  GlobalUserNameID INT UNSIGNED NOT NULL,
  FQAN VARCHAR(255),
  SiteNameID INT UNSIGNED NOT NULL,
  Count DOUBLE NOT NULL,
  Cores INT,
  ActiveDuration BIGINT,
  AvailableDuration BIGINT NOT NULL,
  BenchmarkType VARCHAR(50),
  Benchmark DOUBLE,
  Type VARCHAR(20) NOT NULL,
  Model VARCHAR(100) NOT NULL,
  PublisherDNID INT UNSIGNED NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (MeasurementMonth, MeasurementYear, AssociatedRecordType, AssociatedRecord, SiteNameID, Model)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Merged monthly summaries of every source (jobs, summaries, normalised summaries),
-- filled by apel-summarise; read through VSuperSummaries and VNormalisedSuperSummaries.
-- Normalised durations are kept unrounded (sums of duration x factor) so that adding
-- new jobs to a month gives exactly what summarising the month again gives; the view
-- rounds them.
CREATE TABLE SuperSummaries (
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
  EarliestEndTime DATETIME,
  LatestEndTime DATETIME,
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  NormalisedWallDuration DOUBLE NOT NULL,
  NormalisedCpuDuration DOUBLE NOT NULL,
  NumberOfJobs BIGINT NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- When each kind of processing last ran (e.g. Type 'loader').
CREATE TABLE LastUpdated (
  Type VARCHAR(50) NOT NULL PRIMARY KEY,
  UpdateTime DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per message apel-load has processed: what came, from whom, and how much was rejected.
CREATE TABLE LoadedMessages (
  Id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  LoadTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  EmpaId VARCHAR(255),
  SignerDN VARCHAR(512),
  Format VARCHAR(100) NOT NULL,
  RecordCount INT NOT NULL,
  RejectedCount INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Compatibility views

CREATE VIEW VJobRecords AS
SELECT
  l_Site.name AS Site,
  l_SubmitHost.name AS SubmitHost,
  l_MachineName.name AS MachineName,
  l_Queue.name AS Queue,
  t.LocalJobId,
  t.LocalUserId,
  l_GlobalUserName.name AS GlobalUserName,
  t.FQAN,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  t.WallDuration,
  t.CpuDuration,
  t.Processors,
  t.NodeCount,
  t.StartTime,
  t.EndTime,
  t.InfrastructureDescription,
  t.InfrastructureType,
  t.MemoryReal,
  t.MemoryVirtual,
  t.ServiceLevelType,
  t.ServiceLevel,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM JobRecords AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN MachineNames AS l_MachineName ON l_MachineName.id = t.MachineNameID
  JOIN Queues AS l_Queue ON l_Queue.id = t.QueueID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VSummaries AS
SELECT
  l_Site.name AS Site,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  l_SubmitHost.name AS SubmitHost,
  t.InfrastructureType,
  t.InfrastructureDescription,
  t.ServiceLevelType,
  t.ServiceLevel,
  t.NodeCount,
  t.Processors,
  t.EarliestEndTime,
  t.LatestEndTime,
  t.WallDuration,
  t.CpuDuration,
  t.NumberOfJobs,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM Summaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VNormalisedSummaries AS
SELECT
  l_Site.name AS Site,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  l_SubmitHost.name AS SubmitHost,
  t.Infrastructure,
  t.InfrastructureDescription,
  t.NodeCount,
  t.Processors,
  t.EarliestEndTime,
  t.LatestEndTime,
  t.WallDuration,
  t.CpuDuration,
  t.NormalisedWallDuration,
  t.NormalisedCpuDuration,
  t.NumberOfJobs,
  t.ServiceLevelType,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM NormalisedSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VSyncRecords AS
SELECT
  l_Site.name AS Site,
  l_SubmitHost.name AS SubmitHost,
  t.NumberOfJobs,
  t.Month,
  t.Year,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM SyncRecords AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VCloudRecords AS
SELECT
  t.RecordCreateTime,
  t.VMUUID,
  l_SiteName.name AS SiteName,
  l_CloudComputeService.name AS CloudComputeService,
  t.MachineName,
  t.LocalUserId,
  t.LocalGroupId,
  l_GlobalUserName.name AS GlobalUserName,
  t.FQAN,
  t.Status,
  t.StartTime,
  t.EndTime,
  t.SuspendDuration,
  t.WallDuration,
  t.CpuDuration,
  t.CpuCount,
  t.NetworkType,
  t.NetworkInbound,
  t.NetworkOutbound,
  t.PublicIPCount,
  t.Memory,
  t.Disk,
  t.BenchmarkType,
  t.Benchmark,
  t.StorageRecordId,
  t.ImageId,
  t.CloudType,
  t.MeasurementTime,
  t.MeasurementYear,
  t.MeasurementMonth,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM CloudRecords AS t
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN CloudComputeServices AS l_CloudComputeService ON l_CloudComputeService.id = t.CloudComputeServiceID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VCloudSummaries AS
SELECT
  l_SiteName.name AS SiteName,
  l_CloudComputeService.name AS CloudComputeService,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  t.Status,
  t.CloudType,
  t.ImageId,
  t.EarliestStartTime,
  t.LatestStartTime,
  t.WallDuration,
  t.CpuDuration,
  t.CpuCount,
  t.NetworkInbound,
  t.NetworkOutbound,
  t.Memory,
  t.Disk,
  t.BenchmarkType,
  t.Benchmark,
  t.NumberOfVMs,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM CloudSummaries AS t
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN CloudComputeServices AS l_CloudComputeService ON l_CloudComputeService.id = t.CloudComputeServiceID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VStarRecords AS
SELECT
  t.RecordId,
  t.CreateTime,
  t.StorageSystem,
  l_Site.name AS Site,
  t.StorageShare,
  t.StorageMedia,
  t.StorageClass,
  t.FileCount,
  t.DirectoryPath,
  t.LocalUser,
  t.LocalGroup,
  t.UserIdentity,
  t.`Group`,
  t.SubGroup,
  t.Role,
  t.StartTime,
  t.EndTime,
  t.ResourceCapacityUsed,
  t.LogicalCapacityUsed,
  t.ResourceCapacityAllocated,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM StarRecords AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VAcceleratorRecords AS
SELECT
  t.MeasurementMonth,
  t.MeasurementYear,
  t.AssociatedRecordType,
  t.AssociatedRecord,
  l_GlobalUserName.name AS GlobalUserName,
  t.FQAN,
  l_SiteName.name AS SiteName,
  t.Count,
  t.Cores,
  t.ActiveDuration,
  t.AvailableDuration,
  t.BenchmarkType,
  t.Benchmark,
  t.Type,
  t.Model,
  l_PublisherDN.name AS PublisherDN,
  t.UpdateTime
FROM AcceleratorRecords AS t
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VSuperSummaries AS
SELECT
  l_Site.name AS Site,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  l_SubmitHost.name AS SubmitHost,
  t.InfrastructureType,
  t.InfrastructureDescription,
  t.ServiceLevelType,
  t.ServiceLevel,
  t.NodeCount,
  t.Processors,
  t.EarliestEndTime,
  t.LatestEndTime,
  t.WallDuration,
  t.CpuDuration,
  t.NumberOfJobs,
  t.UpdateTime
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID;

CREATE VIEW VNormalisedSuperSummaries AS
SELECT
  l_Site.name AS Site,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  l_SubmitHost.name AS SubmitHost,
  t.InfrastructureType,
  t.InfrastructureDescription,
  t.ServiceLevelType,
  t.NodeCount,
  t.Processors,
  t.EarliestEndTime,
  t.LatestEndTime,
  t.WallDuration,
  t.CpuDuration,
  CAST(FLOOR(t.NormalisedWallDuration + 0.5) AS SIGNED) AS NormalisedWallDuration,
  CAST(FLOOR(t.NormalisedCpuDuration + 0.5) AS SIGNED) AS NormalisedCpuDuration,
  t.NumberOfJobs,
  t.UpdateTime
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID;
