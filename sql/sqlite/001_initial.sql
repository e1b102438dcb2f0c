-- apeltools schema, migration 001: the initial tables and compatibility views (SQLite).
--
-- Names (sites, DNs, VOs, hosts...) live in lookup tables with UNIQUE names;
-- an absent name is stored as the name 'None'. Every record table's primary
-- key is its record type's natural key (apeltools/records/types.py), so a
-- record replaces the stored record with the same key. Times are UTC.
-- The V* views keep the names and columns that portals and monitoring read.

-- Lookup tables

CREATE TABLE Sites (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE SubmitHosts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE MachineNames (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE Queues (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE DNs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE VOs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE VOGroups (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE VORoles (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE CloudComputeServices (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

-- Record tables

CREATE TABLE JobRecords (
  SiteID INTEGER NOT NULL,
  SubmitHostID INTEGER NOT NULL,
  MachineNameID INTEGER NOT NULL,
  QueueID INTEGER NOT NULL,
  LocalJobId TEXT NOT NULL,
  LocalUserId TEXT,
  GlobalUserNameID INTEGER NOT NULL,
  FQAN TEXT,
  VOID INTEGER NOT NULL,
  VOGroupID INTEGER NOT NULL,
  VORoleID INTEGER NOT NULL,
  WallDuration INTEGER NOT NULL,
  CpuDuration INTEGER NOT NULL,
  Processors INTEGER,
  NodeCount INTEGER,
  StartTime TEXT NOT NULL,
  EndTime TEXT NOT NULL,
  InfrastructureDescription TEXT,
  InfrastructureType TEXT,
  MemoryReal INTEGER,
  MemoryVirtual INTEGER,
  ServiceLevelType TEXT NOT NULL,
  ServiceLevel REAL NOT NULL,
  EndYear INTEGER,
  EndMonth INTEGER,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, LocalJobId, EndTime)
);

CREATE TABLE Summaries (
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
  NumberOfJobs INTEGER NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors)
);

CREATE TABLE NormalisedSummaries (
  SiteID INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  GlobalUserNameID INTEGER NOT NULL,
  VOID INTEGER NOT NULL,
  VOGroupID INTEGER NOT NULL,
  VORoleID INTEGER NOT NULL,
  SubmitHostID INTEGER NOT NULL,
  Infrastructure TEXT NOT NULL,
  InfrastructureDescription TEXT,
  NodeCount INTEGER NOT NULL,
  Processors INTEGER NOT NULL,
  EarliestEndTime TEXT,
  LatestEndTime TEXT,
  WallDuration INTEGER NOT NULL,
  CpuDuration INTEGER NOT NULL,
  NormalisedWallDuration INTEGER NOT NULL,
  NormalisedCpuDuration INTEGER NOT NULL,
  NumberOfJobs INTEGER NOT NULL,
  ServiceLevelType TEXT NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, Infrastructure, NodeCount, Processors, ServiceLevelType)
);

CREATE TABLE SyncRecords (
  SiteID INTEGER NOT NULL,
  SubmitHostID INTEGER NOT NULL,
  NumberOfJobs INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  Year INTEGER NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, SubmitHostID, Month, Year)
);

CREATE TABLE CloudRecords (
  RecordCreateTime TEXT,
  VMUUID TEXT NOT NULL,
  SiteNameID INTEGER NOT NULL,
  CloudComputeServiceID INTEGER NOT NULL,
  MachineName TEXT,
  LocalUserId TEXT,
  LocalGroupId TEXT,
  GlobalUserNameID INTEGER NOT NULL,
  FQAN TEXT,
  Status TEXT,
  StartTime TEXT,
  EndTime TEXT,
  SuspendDuration INTEGER,
  WallDuration INTEGER,
  CpuDuration INTEGER,
  CpuCount INTEGER,
  NetworkType TEXT,
  NetworkInbound INTEGER,
  NetworkOutbound INTEGER,
  PublicIPCount INTEGER,
  Memory INTEGER,
  Disk INTEGER,
  BenchmarkType TEXT,
  Benchmark REAL,
  StorageRecordId TEXT,
  ImageId TEXT,
  CloudType TEXT,
  MeasurementTime TEXT,
  MeasurementYear INTEGER NOT NULL,
  MeasurementMonth INTEGER NOT NULL,
  VOID INTEGER NOT NULL,
  VOGroupID INTEGER NOT NULL,
  VORoleID INTEGER NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (VMUUID, MeasurementMonth, MeasurementYear)
);

CREATE TABLE CloudSummaries (
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
  CpuCount INTEGER,
  NetworkInbound INTEGER,
  NetworkOutbound INTEGER,
  Memory INTEGER,
  Disk INTEGER,
  BenchmarkType TEXT NOT NULL,
  Benchmark REAL NOT NULL,
  NumberOfVMs INTEGER NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteNameID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, Status, CloudType, ImageId, BenchmarkType, Benchmark)
);

CREATE TABLE StarRecords (
  RecordId TEXT NOT NULL,
  CreateTime TEXT NOT NULL,
  StorageSystem TEXT NOT NULL,
  SiteID INTEGER NOT NULL,
  StorageShare TEXT,
  StorageMedia TEXT,
  StorageClass TEXT,
  FileCount INTEGER,
  DirectoryPath TEXT,
  LocalUser TEXT,
  LocalGroup TEXT,
  UserIdentity TEXT,
  `Group` TEXT,
  SubGroup TEXT,
  Role TEXT,
  StartTime TEXT NOT NULL,
  EndTime TEXT NOT NULL,
  ResourceCapacityUsed INTEGER NOT NULL,
  LogicalCapacityUsed INTEGER,
  ResourceCapacityAllocated INTEGER,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (RecordId)
);

CREATE TABLE AcceleratorRecords (
  MeasurementMonth INTEGER NOT NULL,
  MeasurementYear INTEGER NOT NULL,
  AssociatedRecordType TEXT NOT NULL,
  AssociatedRecord TEXT NOT NULL,
  GlobalUserNameID INTEGER NOT NULL,
  FQAN TEXT,
  SiteNameID INTEGER NOT NULL,
  Count REAL NOT NULL,
  Cores INTEGER,
  ActiveDuration INTEGER,
  AvailableDuration INTEGER NOT NULL,
  BenchmarkType TEXT,
  Benchmark REAL,
  Type TEXT NOT NULL,
  Model TEXT NOT NULL,
  PublisherDNID INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (MeasurementMonth, MeasurementYear, AssociatedRecordType, AssociatedRecord, SiteNameID, Model)
);

-- Merged monthly summaries of every source (jobs, summaries, normalised summaries),
-- filled by apel-summarise; read through VSuperSummaries and VNormalisedSuperSummaries.
-- Normalised durations are kept unrounded (sums of duration x factor) so that adding
-- new jobs to a month gives exactly what summarising the month again gives; the view
-- rounds them.
CREATE TABLE SuperSummaries (
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
  NormalisedWallDuration REAL NOT NULL,
  NormalisedCpuDuration REAL NOT NULL,
  NumberOfJobs INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors)
);

-- When each kind of processing last ran (e.g. Type 'loader').
CREATE TABLE LastUpdated (
  Type TEXT NOT NULL PRIMARY KEY,
  UpdateTime TEXT NOT NULL
);

-- One row per message apel-load has processed: what came, from whom, and how much was rejected.
CREATE TABLE LoadedMessages (
  Id INTEGER PRIMARY KEY,
  LoadTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  EmpaId TEXT,
  SignerDN TEXT,
  Format TEXT NOT NULL,
  RecordCount INTEGER NOT NULL,
  RejectedCount INTEGER NOT NULL
);

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
  CAST(t.NormalisedWallDuration + 0.5 AS INTEGER) AS NormalisedWallDuration,
  CAST(t.NormalisedCpuDuration + 0.5 AS INTEGER) AS NormalisedCpuDuration,
  t.NumberOfJobs,
  t.UpdateTime
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID;
