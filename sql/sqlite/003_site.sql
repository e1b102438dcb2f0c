-- apeltools schema, migration 003: the site client's tables (SQLite).
--
-- apel-parse fills BatchRecords and BlahRecords from log files and keeps
-- ParsedFiles; apeltools.spec keeps the benchmark history of each CE in
-- SpecHistory; apel-join turns batch records (with their blah record and the
-- CE's benchmark) into JobRecords and keeps its progress in JoinState.
-- Times here are epoch seconds (UTC) in integer columns: the join compares them
-- arithmetically and both dialects store them the same way.

-- One finished batch job as its batch system logged it. LrmsId is the id the
-- CE's blah log knows the job by (the join key); JoinStatus says what apel-join
-- made of it: 0 joined as a grid job, or new (id above JoinState batch_id),
-- 1 to be joined again, 2 local job, 3 no blah record, 4 blah record outside
-- its validity window, 5 no benchmark for the CE, 6 invalid as a job record.
CREATE TABLE BatchRecords (
  id INTEGER PRIMARY KEY,
  BatchSystem TEXT NOT NULL,
  LocalJobId TEXT NOT NULL,
  LrmsId TEXT NOT NULL,
  LocalUserId TEXT,
  LocalGroup TEXT,
  Queue TEXT,
  MachineName TEXT,
  WallDuration INTEGER NOT NULL,
  CpuDuration INTEGER NOT NULL,
  Processors INTEGER,
  NodeCount INTEGER,
  StartTime INTEGER NOT NULL,
  EndTime INTEGER NOT NULL,
  MemoryReal INTEGER,
  MemoryVirtual INTEGER,
  JoinStatus INTEGER NOT NULL DEFAULT 0,
  UNIQUE (BatchSystem, LocalJobId, EndTime)
);
CREATE INDEX BatchRecords_lrms ON BatchRecords (LrmsId);
CREATE INDEX BatchRecords_status ON BatchRecords (JoinStatus, id);

-- One grid job as the CE's blah accounting log recorded its submission.
CREATE TABLE BlahRecords (
  id INTEGER PRIMARY KEY,
  `Timestamp` INTEGER NOT NULL,
  GlobalUserName TEXT,
  FQAN TEXT,
  CeId TEXT NOT NULL,
  GridJobId TEXT,
  LrmsId TEXT NOT NULL,
  LocalUserId TEXT,
  UNIQUE (LrmsId, `Timestamp`, CeId)
);

-- The benchmark of each CE over time: [StartTime, StopTime), StopTime NULL
-- while current. Source is 'config' or 'bdii'.
CREATE TABLE SpecHistory (
  id INTEGER PRIMARY KEY,
  CE TEXT NOT NULL,
  ServiceLevelType TEXT NOT NULL,
  ServiceLevel REAL NOT NULL,
  StartTime INTEGER NOT NULL,
  StopTime INTEGER,
  Source TEXT NOT NULL,
  UNIQUE (CE, StartTime)
);

-- Log files apel-parse has read, known by a hash of their first bytes (of the
-- decompressed content), so a renamed or compressed copy is the same file;
-- ReadOffset and ReadLines say how far it was read.
CREATE TABLE ParsedFiles (
  id INTEGER PRIMARY KEY,
  Parser TEXT NOT NULL,
  HeadHash TEXT NOT NULL,
  HeadSize INTEGER NOT NULL,
  ReadOffset INTEGER NOT NULL,
  ReadLines INTEGER NOT NULL,
  Path TEXT NOT NULL,
  UpdateTime INTEGER NOT NULL,
  UNIQUE (Parser, HeadHash)
);

-- apel-join's progress: the newest blah record id it has seen, and when it ran.
CREATE TABLE JoinState (
  Name TEXT NOT NULL PRIMARY KEY,
  Value INTEGER NOT NULL
);
