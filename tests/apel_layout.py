"""A database in the deployed APEL layout, for the import tests (written here from the facts).

The deployed server and client keep names in lookup tables (id, name) without a
unique constraint, records in tables whose columns hold those ids, times as
DATETIME, benchmarks as DECIMAL(10,3), and UpdateTime as a TIMESTAMP. Only the
tables and columns that apeltools db import-apel reads are built here; the
real schema files are loaded by the dev-only check in tests/interop.
"""

LOOKUP_TABLES = ("Sites", "SubmitHosts", "MachineNames", "Queues", "DNs", "VOs", "VOGroups", "VORoles")

_LOOKUP = "CREATE TABLE {name} (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL, KEY (name))"

_JOB_COLUMNS = """
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  SiteID INT NOT NULL, SubmitHostID INT NOT NULL, MachineNameID INT NOT NULL, QueueID INT NOT NULL,
  LocalJobId VARCHAR(255) NOT NULL, LocalUserId VARCHAR(255), GlobalUserNameID INT NOT NULL,
  FQAN VARCHAR(255), VOID INT NOT NULL, VOGroupID INT NOT NULL, VORoleID INT NOT NULL,
  WallDuration BIGINT UNSIGNED, CpuDuration BIGINT UNSIGNED,
  NodeCount INT UNSIGNED NOT NULL DEFAULT 0, Processors INT UNSIGNED NOT NULL DEFAULT 0,
  MemoryReal BIGINT UNSIGNED, MemoryVirtual BIGINT UNSIGNED,
  StartTime DATETIME NOT NULL, EndTime DATETIME NOT NULL, EndYear INT, EndMonth INT,
  InfrastructureDescription VARCHAR(100), InfrastructureType VARCHAR(20),
  ServiceLevelType VARCHAR(50) NOT NULL, ServiceLevel DECIMAL(10,3) NOT NULL,
  PublisherDNID INT NOT NULL,
"""

_SUMMARY_HEAD = """
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  SiteID INT NOT NULL, Month INT NOT NULL, Year INT NOT NULL, GlobalUserNameID INT NOT NULL,
  VOID INT NOT NULL, VOGroupID INT NOT NULL, VORoleID INT NOT NULL, SubmitHostID INT NOT NULL,
"""

SERVER = [
    *(_LOOKUP.format(name=t) for t in LOOKUP_TABLES),
    f"CREATE TABLE JobRecords ({_JOB_COLUMNS} PRIMARY KEY (SiteID, LocalJobId, EndTime))",
    f"""CREATE TABLE Summaries ({_SUMMARY_HEAD}
  InfrastructureType VARCHAR(20), InfrastructureDescription VARCHAR(100),
  ServiceLevelType VARCHAR(50) NOT NULL, ServiceLevel DECIMAL(10,3) NOT NULL,
  NodeCount INT NOT NULL, Processors INT NOT NULL, EarliestEndTime DATETIME, LatestEndTime DATETIME,
  WallDuration BIGINT UNSIGNED NOT NULL, CpuDuration BIGINT UNSIGNED NOT NULL, NumberOfJobs BIGINT UNSIGNED NOT NULL,
  PublisherDNID INT NOT NULL,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID,
               InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors))""",
    f"""CREATE TABLE NormalisedSummaries ({_SUMMARY_HEAD}
  Infrastructure VARCHAR(20), InfrastructureDescription VARCHAR(100), ServiceLevelType VARCHAR(50) NOT NULL DEFAULT '',
  NodeCount INT NOT NULL, Processors INT NOT NULL, EarliestEndTime DATETIME, LatestEndTime DATETIME,
  WallDuration BIGINT UNSIGNED NOT NULL, CpuDuration BIGINT UNSIGNED NOT NULL,
  NormalisedWallDuration BIGINT UNSIGNED NOT NULL, NormalisedCpuDuration BIGINT UNSIGNED NOT NULL,
  NumberOfJobs BIGINT UNSIGNED NOT NULL, PublisherDNID INT NOT NULL,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID,
               Infrastructure, NodeCount, Processors, ServiceLevelType))""",
    f"""CREATE TABLE HybridSuperSummaries ({_SUMMARY_HEAD}
  Infrastructure VARCHAR(20) NOT NULL, InfrastructureDescription VARCHAR(100),
  ServiceLevelType VARCHAR(50) NOT NULL, ServiceLevel DECIMAL(10,3) NOT NULL DEFAULT 0,
  NodeCount INT NOT NULL, Processors INT NOT NULL, EarliestEndTime DATETIME, LatestEndTime DATETIME,
  WallDuration BIGINT UNSIGNED NOT NULL, CpuDuration BIGINT UNSIGNED NOT NULL,
  NormalisedWallDuration BIGINT UNSIGNED NOT NULL, NormalisedCpuDuration BIGINT UNSIGNED NOT NULL,
  NumberOfJobs BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID,
               Infrastructure, ServiceLevelType, ServiceLevel, NodeCount, Processors))""",
    """CREATE TABLE SyncRecords (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  SiteID INT NOT NULL, SubmitHostID INT NOT NULL, NumberOfJobs INT NOT NULL, Month INT NOT NULL, Year INT NOT NULL,
  PublisherDNID INT NOT NULL, PRIMARY KEY (SiteID, SubmitHostID, Month, Year))""",
    """CREATE TABLE LastUpdated (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  Type VARCHAR(255) PRIMARY KEY)""",
]

STORAGE_LOOKUPS = ("StorageSystems", "StorageShares", "StorageMedia", "StorageClasses", "UserIdentities", "Groups",
                   "SubGroups", "Roles")

CLOUD_AND_STORAGE = [
    *(_LOOKUP.format(name=t) for t in ("Sites", "DNs", "VOs", "VOGroups", "VORoles", "CloudComputeServices")),
    """CREATE TABLE CloudRecords (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  RecordCreateTime DATETIME NOT NULL, VMUUID VARCHAR(255) NOT NULL, SiteID INT NOT NULL,
  CloudComputeServiceID INT NOT NULL, MachineName VARCHAR(255), LocalUserId VARCHAR(255), LocalGroupId VARCHAR(255),
  GlobalUserNameID INT NOT NULL, FQAN VARCHAR(255), VOID INT NOT NULL, VOGroupID INT NOT NULL, VORoleID INT NOT NULL,
  Status VARCHAR(255), StartTime DATETIME, EndTime DATETIME, MeasurementTime DATETIME NOT NULL,
  MeasurementMonth INT NOT NULL, MeasurementYear INT NOT NULL, SuspendDuration BIGINT, WallDuration BIGINT,
  CpuDuration BIGINT, CpuCount DECIMAL(10,3) UNSIGNED, NetworkType VARCHAR(255), NetworkInbound BIGINT,
  NetworkOutbound BIGINT, PublicIPCount INT, Memory BIGINT, Disk BIGINT, BenchmarkType VARCHAR(50) NOT NULL,
  Benchmark DECIMAL(10,3) NOT NULL, StorageRecordId VARCHAR(255), ImageId VARCHAR(255), CloudType VARCHAR(255),
  PublisherDNID INT NOT NULL, PRIMARY KEY (VMUUID, MeasurementMonth, MeasurementYear))""",
    """CREATE TABLE CloudSummaries (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  SiteID INT NOT NULL, CloudComputeServiceID INT NOT NULL, Month INT NOT NULL, Year INT NOT NULL,
  GlobalUserNameID INT NOT NULL, VOID INT NOT NULL, VOGroupID INT NOT NULL, VORoleID INT NOT NULL,
  Status VARCHAR(255) NOT NULL, CloudType VARCHAR(255), ImageId VARCHAR(255) NOT NULL, EarliestStartTime DATETIME,
  LatestStartTime DATETIME, WallDuration BIGINT, CpuDuration BIGINT, CpuCount DECIMAL(10,3) UNSIGNED NOT NULL,
  NetworkInbound BIGINT, NetworkOutbound BIGINT, Memory BIGINT, Disk BIGINT, BenchmarkType VARCHAR(50) NOT NULL,
  Benchmark DECIMAL(10,3) NOT NULL, NumberOfVMs INT, PublisherDNID VARCHAR(255),
  PRIMARY KEY (SiteID, CloudComputeServiceID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, Status,
               ImageId, CpuCount, BenchmarkType, Benchmark))""",
    *(_LOOKUP.replace("NOT NULL, KEY", ", KEY").format(name=t) for t in STORAGE_LOOKUPS),
    """CREATE TABLE StarRecords (
  RecordId VARCHAR(255) NOT NULL PRIMARY KEY, CreateTime DATETIME NOT NULL, StorageSystemID INT NOT NULL,
  SiteID INT NOT NULL, StorageShareID INT NOT NULL, StorageMediaID INT NOT NULL, StorageClassID INT NOT NULL,
  FileCount INTEGER, DirectoryPath VARCHAR(255), LocalUser VARCHAR(255), LocalGroup VARCHAR(255),
  UserIdentityID INT NOT NULL, GroupID INT NOT NULL, SubGroupID INT NOT NULL, RoleID INT NOT NULL,
  StartTime DATETIME NOT NULL, EndTime DATETIME NOT NULL, ResourceCapacityUsed BIGINT NOT NULL,
  LogicalCapacityUsed BIGINT, ResourceCapacityAllocated BIGINT)""",
]

CLIENT = [
    *(_LOOKUP.format(name=t) for t in LOOKUP_TABLES),
    f"CREATE TABLE JobRecords ({_JOB_COLUMNS} PRIMARY KEY (MachineNameID, LocalJobId, EndTime))",
    """CREATE TABLE SuperSummaries (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  SiteID INT NOT NULL, Month INT NOT NULL, Year INT NOT NULL, GlobalUserNameID INT NOT NULL,
  VOID INT NOT NULL, VOGroupID INT NOT NULL, VORoleID INT NOT NULL, SubmitHostID INT NOT NULL,
  InfrastructureType VARCHAR(20), ServiceLevelType VARCHAR(50) NOT NULL, ServiceLevel DECIMAL(10,3) NOT NULL,
  NodeCount INT NOT NULL, Processors INT NOT NULL, EarliestEndTime DATETIME, LatestEndTime DATETIME,
  WallDuration BIGINT UNSIGNED NOT NULL, CpuDuration BIGINT UNSIGNED NOT NULL, NumberOfJobs BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (SiteID, Month, Year, GlobalUserNameID, VOID, VORoleID, VOGroupID, SubmitHostID,
               InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors))""",
    """CREATE TABLE EventRecords (
  SiteID INT NOT NULL, JobName VARCHAR(60) NOT NULL, LocalUserID VARCHAR(20), LocalUserGroup VARCHAR(20),
  WallDuration INT, CpuDuration INT, StartTime DATETIME NOT NULL, EndTime DATETIME NOT NULL,
  Infrastructure VARCHAR(100), MachineNameID INT NOT NULL, QueueID INT NOT NULL, MemoryReal BIGINT,
  MemoryVirtual BIGINT, Processors INT, NodeCount INT, Status INT,
  PRIMARY KEY (MachineNameID, JobName, EndTime))""",
    """CREATE TABLE BlahdRecords (
  TimeStamp DATETIME NOT NULL, GlobalUserNameID INT NOT NULL, FQAN VARCHAR(255), VOID INT NOT NULL,
  VOGroupID INT NOT NULL, VORoleID INT NOT NULL, CEID INT NOT NULL, GlobalJobId VARCHAR(255),
  LrmsId VARCHAR(255) DEFAULT '', SiteID INT NOT NULL, ValidFrom DATETIME, ValidUntil DATETIME, Processed INT,
  PRIMARY KEY (TimeStamp, SiteID, LrmsId, CEID))""",
    """CREATE TABLE SpecRecords (
  SiteID INT NOT NULL, CEID INT NOT NULL, StartTime DATETIME, StopTime DATETIME,
  ServiceLevelType VARCHAR(50) NOT NULL, ServiceLevel DECIMAL(10,3),
  PRIMARY KEY (SiteID, CEID, StartTime, ServiceLevelType))""",
    """CREATE TABLE ProcessedFiles (
  HostName VARCHAR(255), FileName VARCHAR(255), Hash VARCHAR(64), StopLine INT, Parsed INT,
  PRIMARY KEY (HostName, Hash))""",
    """CREATE TABLE LastUpdated (
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  Type VARCHAR(255) PRIMARY KEY)""",
]

# Name fields → the lookup table holding them (the column is ``<field>ID``).
LOOKUPS = {"Site": "Sites", "SubmitHost": "SubmitHosts", "CE": "SubmitHosts",
           "CloudComputeService": "CloudComputeServices", "StorageSystem": "StorageSystems",
           "StorageShare": "StorageShares", "StorageMedia": "StorageMedia", "StorageClass": "StorageClasses",
           "UserIdentity": "UserIdentities", "Group": "Groups", "SubGroup": "SubGroups", "Role": "Roles", "MachineName": "MachineNames", "Queue": "Queues",
           "GlobalUserName": "DNs", "VO": "VOs", "VOGroup": "VOGroups", "VORole": "VORoles", "PublisherDN": "DNs"}
JOB_NAMES = ("Site", "SubmitHost", "MachineName", "Queue", "GlobalUserName", "VO", "VOGroup", "VORole",
             "PublisherDN")
SUMMARY_NAMES = ("Site", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost")


class DeployedLayout:
    """A source database in the deployed layout, filled by names as the deployed procedures fill it
    (a missing name gets a new id)."""

    def __init__(self, db, statements):
        self.db = db
        for statement in statements:
            db.execute(statement)
        self._ids = {}

    def id_of(self, table, name):
        key = (table, name)
        if key not in self._ids:
            rows = self.db.query(f"SELECT id FROM {table} WHERE name = ?", (name,))
            if not rows:
                self.db.execute(f"INSERT INTO {table} (name) VALUES (?)", (name,))
                rows = self.db.query(f"SELECT id FROM {table} WHERE name = ?", (name,))
            self._ids[key] = rows[0][0]
        return self._ids[key]

    def insert(self, table, names, row):
        """One row of ``table``: ``names`` (field → name, stored as ``<field>ID``) and plain ``row`` values."""
        values = dict(row)
        for name_field, name in names.items():
            values[f"{name_field}ID"] = self.id_of(LOOKUPS[name_field], name)
        columns = ", ".join(values)
        self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(values))})",
                        list(values.values()))

    def job(self, **fields):
        """A job record as the deployed loader stores it (absent names are 'None')."""
        names = {k: fields.pop(k, "None") for k in JOB_NAMES}
        end = fields["EndTime"]
        fields.setdefault("EndYear", int(end[:4]))
        fields.setdefault("EndMonth", int(end[5:7]))
        self.insert("JobRecords", names, fields)

    def summary(self, table, publisher=True, **fields):
        """A row of a summary table (Summaries, NormalisedSummaries, HybridSuperSummaries, SuperSummaries)."""
        names = {k: fields.pop(k, "None") for k in SUMMARY_NAMES + (("PublisherDN",) if publisher else ())}
        self.insert(table, names, fields)
