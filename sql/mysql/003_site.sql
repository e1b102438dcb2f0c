-- apeltools schema, migration 003: the site client's tables (MySQL 8 / MariaDB).
--
-- apel-parse fills BatchRecords and BlahRecords from log files and keeps
-- ParsedFiles; apeltools.spec keeps the benchmark history of each CE in
-- SpecHistory; apel-join turns batch records (with their blah record and the
-- CE's benchmark) into JobRecords and keeps its progress in JoinState.
-- Times here are epoch seconds (UTC) in BIGINT columns: the join compares them
-- arithmetically and both dialects store them the same way.
-- Works under strict SQL modes (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_DATE).

-- One finished batch job as its batch system logged it. LrmsId is the id the
-- CE's blah log knows the job by (the join key); JoinStatus says what apel-join
-- made of it: 0 joined as a grid job, or new (id above JoinState batch_id),
-- 1 to be joined again, 2 local job, 3 no blah record, 4 blah record outside
-- its validity window, 5 no benchmark for the CE, 6 invalid as a job record.
CREATE TABLE BatchRecords (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  BatchSystem VARCHAR(20) NOT NULL,
  LocalJobId VARCHAR(255) NOT NULL,
  LrmsId VARCHAR(255) NOT NULL,
  LocalUserId VARCHAR(255),
  LocalGroup VARCHAR(255),
  Queue VARCHAR(255),
  MachineName VARCHAR(255),
  WallDuration BIGINT NOT NULL,
  CpuDuration BIGINT NOT NULL,
  Processors INT,
  NodeCount INT,
  StartTime BIGINT NOT NULL,
  EndTime BIGINT NOT NULL,
  MemoryReal BIGINT,
  MemoryVirtual BIGINT,
  JoinStatus TINYINT NOT NULL DEFAULT 0,
  UNIQUE KEY BatchRecords_job (BatchSystem, LocalJobId, EndTime),
  KEY BatchRecords_lrms (LrmsId),
  KEY BatchRecords_status (JoinStatus, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One grid job as the CE's blah accounting log recorded its submission.
CREATE TABLE BlahRecords (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `Timestamp` BIGINT NOT NULL,
  GlobalUserName VARCHAR(512),
  FQAN VARCHAR(255),
  CeId VARCHAR(255) NOT NULL,
  GridJobId VARCHAR(255),
  LrmsId VARCHAR(255) NOT NULL,
  LocalUserId VARCHAR(255),
  UNIQUE KEY BlahRecords_job (LrmsId, `Timestamp`, CeId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The benchmark of each CE over time: [StartTime, StopTime), StopTime NULL
-- while current. Source is 'config' or 'bdii'.
CREATE TABLE SpecHistory (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  CE VARCHAR(255) NOT NULL,
  ServiceLevelType VARCHAR(50) NOT NULL,
  ServiceLevel DOUBLE NOT NULL,
  StartTime BIGINT NOT NULL,
  StopTime BIGINT,
  Source VARCHAR(20) NOT NULL,
  UNIQUE KEY SpecHistory_period (CE, StartTime)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Log files apel-parse has read, known by a hash of their first bytes (of the
-- decompressed content), so a renamed or compressed copy is the same file;
-- ReadOffset and ReadLines say how far it was read.
CREATE TABLE ParsedFiles (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  Parser VARCHAR(50) NOT NULL,
  HeadHash CHAR(64) NOT NULL,
  HeadSize INT NOT NULL,
  ReadOffset BIGINT NOT NULL,
  ReadLines BIGINT NOT NULL,
  Path VARCHAR(1024) NOT NULL,
  UpdateTime BIGINT NOT NULL,
  UNIQUE KEY ParsedFiles_head (Parser, HeadHash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- apel-join's progress: the newest blah record id it has seen, and when it ran.
CREATE TABLE JoinState (
  Name VARCHAR(50) NOT NULL PRIMARY KEY,
  Value BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
