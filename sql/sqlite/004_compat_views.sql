-- apeltools schema, migration 004: the views exactly as the deployed schemas have them (SQLite).
--
-- Unloaders, portal exporters and site scripts read the V* views with SELECT * and map
-- columns by name, some by position: every view of the deployed server.sql,
-- server-extra.sql, cloud.sql and storage.sql exists here with the same columns in the same
-- order (formats.md section 4). What apeltools adds (the publisher DN, UpdateTime of storage
-- records) is in views of its own, named <view>Ext, each with the compatibility view's
-- columns and its additions after them; most compatibility views are those Ext views less
-- the additions. VNormalisedSuperSummariesExt instead names its infrastructure column
-- InfrastructureType, as every other job view does.
--
-- Normalised durations are kept unrounded in SuperSummaries; the deployed table holds
-- them rounded per row, and its views sum the rounded values, so these views do the same
-- (half up: durations are never negative).
-- Lookup names are unique, so grouping by names groups as the deployed views group by ids;
-- values the deployed views take from any row of a group are taken as MAX here, as in
-- the MySQL schema. ServiceLevel is DECIMAL(10,3) in the deployed tables: the benchmark
-- history views round it to 3 decimals. SQLite has no DATE, TIME or DECIMAL types: dates
-- and times are 'YYYY-MM-DD' and 'HH:MM:SS' text, whole hours are integers, the rest REAL.

DROP VIEW IF EXISTS VJobRecords;
DROP VIEW IF EXISTS VSummaries;
DROP VIEW IF EXISTS VNormalisedSummaries;
DROP VIEW IF EXISTS VSyncRecords;
DROP VIEW IF EXISTS VCloudRecords;
DROP VIEW IF EXISTS VCloudSummaries;
DROP VIEW IF EXISTS VStarRecords;
DROP VIEW IF EXISTS VSuperSummaries;
DROP VIEW IF EXISTS VNormalisedSuperSummaries;

-- Our views: the compatibility columns, then ours.

CREATE VIEW VJobRecordsExt AS
SELECT
  t.UpdateTime,
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
  l_PublisherDN.name AS PublisherDN
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

CREATE VIEW VSummariesExt AS
SELECT
  t.UpdateTime,
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
  l_PublisherDN.name AS PublisherDN
FROM Summaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VNormalisedSummariesExt AS
SELECT
  t.UpdateTime,
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
  t.ServiceLevelType,
  t.NodeCount,
  t.Processors,
  t.EarliestEndTime,
  t.LatestEndTime,
  t.WallDuration,
  t.CpuDuration,
  t.NormalisedWallDuration,
  t.NormalisedCpuDuration,
  t.NumberOfJobs,
  l_PublisherDN.name AS PublisherDN
FROM NormalisedSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VSyncRecordsExt AS
SELECT
  t.UpdateTime,
  l_Site.name AS Site,
  l_SubmitHost.name AS SubmitHost,
  t.NumberOfJobs,
  t.Month,
  t.Year,
  l_PublisherDN.name AS PublisherDN
FROM SyncRecords AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VCloudRecordsExt AS
SELECT
  t.UpdateTime,
  t.RecordCreateTime,
  t.VMUUID,
  l_SiteName.name AS SiteName,
  l_CloudComputeService.name AS CloudComputeService,
  t.MachineName,
  t.LocalUserId,
  t.LocalGroupId,
  l_GlobalUserName.name AS GlobalUserName,
  t.FQAN,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  t.Status,
  t.StartTime,
  t.EndTime,
  t.MeasurementTime,
  t.MeasurementMonth,
  t.MeasurementYear,
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
  l_PublisherDN.name AS PublisherDN
FROM CloudRecords AS t
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN CloudComputeServices AS l_CloudComputeService ON l_CloudComputeService.id = t.CloudComputeServiceID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

CREATE VIEW VCloudSummariesExt AS
SELECT
  t.UpdateTime,
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
  l_PublisherDN.name AS PublisherDN
FROM CloudSummaries AS t
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN CloudComputeServices AS l_CloudComputeService ON l_CloudComputeService.id = t.CloudComputeServiceID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN DNs AS l_PublisherDN ON l_PublisherDN.id = t.PublisherDNID;

-- The deployed storage view has no UpdateTime: publishing what changed needs it.
CREATE VIEW VStarRecordsExt AS
SELECT
  t.CreateTime,
  t.RecordId,
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
  t.Role,
  t.SubGroup,
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

-- One row per normalised summary: the super summaries of a month run under several
-- benchmark values, summed. Its infrastructure column is named InfrastructureType, as in
-- every other job view (the deployed view alone calls it Infrastructure).
CREATE VIEW VNormalisedSuperSummariesExt AS
SELECT
  MAX(t.UpdateTime) AS UpdateTime,
  l_Site.name AS Site,
  t.Month,
  t.Year,
  l_GlobalUserName.name AS GlobalUserName,
  l_VO.name AS VO,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  l_SubmitHost.name AS SubmitHost,
  t.InfrastructureType,
  MAX(t.InfrastructureDescription) AS InfrastructureDescription,
  t.ServiceLevelType,
  t.NodeCount,
  t.Processors,
  MIN(t.EarliestEndTime) AS EarliestEndTime,
  MAX(t.LatestEndTime) AS LatestEndTime,
  SUM(t.WallDuration) AS WallDuration,
  SUM(t.CpuDuration) AS CpuDuration,
  SUM(CAST(t.NormalisedWallDuration + 0.5 AS INTEGER)) AS NormalisedWallDuration,
  SUM(CAST(t.NormalisedCpuDuration + 0.5 AS INTEGER)) AS NormalisedCpuDuration,
  SUM(t.NumberOfJobs) AS NumberOfJobs
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID
GROUP BY l_Site.name, t.Month, t.Year, l_GlobalUserName.name, l_VO.name, l_VOGroup.name, l_VORole.name,
  l_SubmitHost.name, t.InfrastructureType, t.ServiceLevelType, t.NodeCount, t.Processors;

-- Compatibility views: server.sql

CREATE VIEW VJobRecords AS
SELECT
  UpdateTime, Site, SubmitHost, MachineName, Queue, LocalJobId, LocalUserId, GlobalUserName, FQAN,
  VO, VOGroup, VORole, WallDuration, CpuDuration, Processors, NodeCount, StartTime, EndTime,
  InfrastructureDescription, InfrastructureType, MemoryReal, MemoryVirtual, ServiceLevelType, ServiceLevel
FROM VJobRecordsExt;

CREATE VIEW VSummaries AS
SELECT
  UpdateTime, Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost, InfrastructureType,
  InfrastructureDescription, ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime,
  LatestEndTime, WallDuration, CpuDuration, NumberOfJobs
FROM VSummariesExt;

CREATE VIEW VNormalisedSummaries AS
SELECT
  UpdateTime, Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost, Infrastructure,
  InfrastructureDescription, ServiceLevelType, NodeCount, Processors, EarliestEndTime, LatestEndTime,
  WallDuration, CpuDuration, NormalisedWallDuration, NormalisedCpuDuration, NumberOfJobs
FROM VNormalisedSummariesExt;

CREATE VIEW VSyncRecords AS
SELECT UpdateTime, Site, SubmitHost, NumberOfJobs, Month, Year
FROM VSyncRecordsExt;

CREATE VIEW VSuperSummaries AS
SELECT
  t.UpdateTime,
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
  t.NumberOfJobs
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
  JOIN SubmitHosts AS l_SubmitHost ON l_SubmitHost.id = t.SubmitHostID;

CREATE VIEW VNormalisedSuperSummaries AS
SELECT
  UpdateTime, Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost,
  InfrastructureType AS Infrastructure, InfrastructureDescription, ServiceLevelType, NodeCount, Processors,
  EarliestEndTime, LatestEndTime, WallDuration, CpuDuration, NormalisedWallDuration, NormalisedCpuDuration,
  NumberOfJobs
FROM VNormalisedSuperSummariesExt;

-- Usage per user and month, normalised hours with two decimals.
CREATE VIEW VUserSummaries AS
SELECT
  t.Year,
  t.Month,
  l_Site.name AS Site,
  l_VO.name AS VO,
  l_GlobalUserName.name AS GlobalUserName,
  l_VOGroup.name AS VOGroup,
  l_VORole.name AS VORole,
  SUM(t.WallDuration) AS TotalWallDuration,
  SUM(t.CpuDuration) AS TotalCpuDuration,
  ROUND(SUM(CAST(t.NormalisedWallDuration + 0.5 AS INTEGER)) / 3600.0, 2) AS NormalisedWallDuration,
  ROUND(SUM(CAST(t.NormalisedCpuDuration + 0.5 AS INTEGER)) / 3600.0, 2) AS NormalisedCpuDuration,
  SUM(t.NumberOfJobs) AS TotalNumberOfJobs,
  MIN(t.EarliestEndTime) AS EarliestEndTime,
  MAX(t.LatestEndTime) AS LatestEndTime
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
GROUP BY l_Site.name, l_VO.name, l_GlobalUserName.name, l_VOGroup.name, l_VORole.name, t.Year, t.Month;

-- Compatibility views: server-extra.sql (the central repository's portal feeds)

-- Jobs per benchmark value (HEPSPEC06; SpecInt2000 benchmarks divided by 250), site and month.
-- Rows without a benchmark type (normalised summaries from before v0.4) are left out.
CREATE VIEW VHepSpecHistory AS
SELECT
  l_Site.name AS Site,
  CASE WHEN LOWER(t.ServiceLevelType) = 'si2k' THEN ROUND(t.ServiceLevel, 3) / 250.0
       ELSE ROUND(t.ServiceLevel, 3) END AS HepSpec06,
  SUM(t.NumberOfJobs) AS NumberOfJobs,
  t.Year,
  t.Month,
  date(MIN(t.EarliestEndTime)) AS EarliestEndDate,
  date(MAX(t.LatestEndTime)) AS LatestEndDate
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
WHERE t.ServiceLevelType <> ''
GROUP BY l_Site.name, HepSpec06, t.Year, t.Month;

-- The same in SpecInt2000 (HEPSPEC06 times 250), rounded to a whole number.
CREATE VIEW VSpecIntHistory AS
SELECT
  l_Site.name AS ExecutingSite,
  CAST(ROUND(CASE WHEN LOWER(t.ServiceLevelType) = 'si2k' THEN ROUND(t.ServiceLevel, 3)
                  ELSE ROUND(t.ServiceLevel, 3) * 250 END, 0) AS INTEGER) AS SpecInt2000,
  SUM(t.NumberOfJobs) AS Njobs,
  t.Month,
  t.Year,
  date(MIN(t.EarliestEndTime)) AS RecordStart,
  date(MAX(t.LatestEndTime)) AS RecordEnd
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
WHERE t.ServiceLevelType <> ''
GROUP BY l_Site.name, SpecInt2000, t.Year, t.Month;

-- Hours per site, VO and month; normalised hours in SpecInt2000 units of 1000 (HEPSPEC06 / 4).
CREATE VIEW VSumCPU AS
SELECT
  l_Site.name AS ExecutingSite,
  l_VO.name AS LCGUserVO,
  SUM(t.NumberOfJobs) AS Njobs,
  CAST(ROUND(SUM(t.CpuDuration) / 3600.0, 0) AS INTEGER) AS SumCPU,
  CAST(ROUND(SUM(CAST(t.NormalisedCpuDuration + 0.5 AS INTEGER)) / 14400.0, 0) AS INTEGER) AS NormSumCPU,
  CAST(ROUND(SUM(t.WallDuration) / 3600.0, 0) AS INTEGER) AS SumWCT,
  CAST(ROUND(SUM(CAST(t.NormalisedWallDuration + 0.5 AS INTEGER)) / 14400.0, 0) AS INTEGER) AS NormSumWCT,
  t.Month,
  t.Year,
  date(MIN(t.EarliestEndTime)) AS RecordStart,
  date(MAX(t.LatestEndTime)) AS RecordEnd
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
WHERE t.NumberOfJobs > 0
GROUP BY l_Site.name, l_VO.name, t.Month, t.Year;

-- The same per user (DN, VO group and role).
CREATE VIEW VUserCPU AS
SELECT
  l_Site.name AS ExecutingSite,
  l_VO.name AS LCGUserVO,
  l_GlobalUserName.name AS UserDN,
  l_VOGroup.name AS PrimaryGroup,
  l_VORole.name AS PrimaryRole,
  SUM(t.NumberOfJobs) AS Njobs,
  CAST(ROUND(SUM(t.CpuDuration) / 3600.0, 0) AS INTEGER) AS SumCPU,
  CAST(ROUND(SUM(CAST(t.NormalisedCpuDuration + 0.5 AS INTEGER)) / 14400.0, 0) AS INTEGER) AS NormSumCPU,
  CAST(ROUND(SUM(t.WallDuration) / 3600.0, 0) AS INTEGER) AS SumWCT,
  CAST(ROUND(SUM(CAST(t.NormalisedWallDuration + 0.5 AS INTEGER)) / 14400.0, 0) AS INTEGER) AS NormSumWCT,
  t.Month,
  t.Year,
  date(MIN(t.EarliestEndTime)) AS RecordStart,
  date(MAX(t.LatestEndTime)) AS RecordEnd
FROM SuperSummaries AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID
  JOIN DNs AS l_GlobalUserName ON l_GlobalUserName.id = t.GlobalUserNameID
  JOIN VOGroups AS l_VOGroup ON l_VOGroup.id = t.VOGroupID
  JOIN VORoles AS l_VORole ON l_VORole.id = t.VORoleID
WHERE t.NumberOfJobs > 0
GROUP BY l_Site.name, l_VO.name, l_GlobalUserName.name, l_VOGroup.name, l_VORole.name, t.Month, t.Year;

-- Jobs the sites say they ran, per site and month, and when the newest sync record came
-- (the deployed view takes that time from any of the month's records).
CREATE VIEW VLcgRecordsSync_v2 AS
SELECT
  l_Site.name || '-' || t.Year || '-' || t.Month AS RecordIdentity,
  l_Site.name AS ExecutingSite,
  SUM(t.NumberOfJobs) AS Njobs,
  NULL AS Ndays,
  NULL AS RecordStart,
  NULL AS RecordEnd,
  date(MAX(t.UpdateTime)) AS MeasurementDate,
  time(MAX(t.UpdateTime)) AS MeasurementTime
FROM SyncRecords AS t
  JOIN Sites AS l_Site ON l_Site.id = t.SiteID
GROUP BY l_Site.name, t.Year, t.Month;

-- Compatibility views: cloud.sql

CREATE VIEW VCloudRecords AS
SELECT
  UpdateTime, RecordCreateTime, VMUUID, SiteName, CloudComputeService, MachineName, LocalUserId,
  LocalGroupId, GlobalUserName, FQAN, VO, VOGroup, VORole, Status, StartTime, EndTime, MeasurementTime,
  MeasurementMonth, MeasurementYear, SuspendDuration, WallDuration, CpuDuration, CpuCount, NetworkType,
  NetworkInbound, NetworkOutbound, PublicIPCount, Memory, Disk, BenchmarkType, Benchmark, StorageRecordId,
  ImageId, CloudType
FROM VCloudRecordsExt;

-- Cloud records with the user's DN replaced by its lookup id.
CREATE VIEW VAnonCloudRecords AS
SELECT
  t.UpdateTime,
  t.VMUUID,
  l_SiteName.name AS SiteName,
  l_CloudComputeService.name AS CloudComputeService,
  t.MachineName,
  t.LocalUserId,
  t.LocalGroupId,
  t.GlobalUserNameID,
  t.FQAN,
  l_VO.name AS VO,
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
  t.CloudType
FROM CloudRecords AS t
  JOIN Sites AS l_SiteName ON l_SiteName.id = t.SiteNameID
  JOIN CloudComputeServices AS l_CloudComputeService ON l_CloudComputeService.id = t.CloudComputeServiceID
  JOIN VOs AS l_VO ON l_VO.id = t.VOID;

CREATE VIEW VCloudSummaries AS
SELECT
  UpdateTime, SiteName, CloudComputeService, Month, Year, GlobalUserName, VO, VOGroup, VORole, Status,
  CloudType, ImageId, EarliestStartTime, LatestStartTime, WallDuration, CpuDuration, CpuCount,
  NetworkInbound, NetworkOutbound, Memory, Disk, BenchmarkType, Benchmark, NumberOfVMs
FROM VCloudSummariesExt;

-- Compatibility views: storage.sql

CREATE VIEW VStarRecords AS
SELECT
  CreateTime, RecordId, StorageSystem, Site, StorageShare, StorageMedia, StorageClass, FileCount,
  DirectoryPath, LocalUser, LocalGroup, UserIdentity, `Group`, Role, SubGroup, StartTime, EndTime,
  ResourceCapacityUsed, LogicalCapacityUsed, ResourceCapacityAllocated
FROM VStarRecordsExt;
