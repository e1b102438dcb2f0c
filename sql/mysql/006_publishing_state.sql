-- apeltools schema, migration 006: what apel-publish remembers per destination (MySQL 8 / MariaDB).
--
-- PublishWatermarks: the "--interval latest" watermark of each source and
-- destination. The destination (the resolved outgoing queue path, or "stdout")
-- is kept whole and keyed by its SHA-256, so no two sources or destinations
-- share a watermark. Before this migration the watermark was a LastUpdated row
-- named "publish <source> <destination>" cut to its last 50 characters, which
-- long queue paths made shared between sources. Those rows cannot be mapped
-- here (SQL cannot resolve a path nor, in SQLite, hash it): apel-publish adopts
-- an old row at its first use when its name was not cut, and ignores cut ones
-- (which may have been moved by another source), so that source publishes
-- everything once more; receivers replace by natural key.
--
-- PublishedGroups: the key of every summary group (and sync count) published
-- to a destination, as a JSON list in the record type's key order, keyed by its
-- SHA-256. A group published before that has no records any more is sent once
-- more with zero jobs and durations, so the receiver does not keep it for ever.
-- Works under strict SQL modes (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_DATE).

CREATE TABLE PublishWatermarks (
  Source VARCHAR(50) NOT NULL,
  DestinationHash CHAR(64) NOT NULL,
  Destination TEXT NOT NULL,
  UpdateTime DATETIME NOT NULL,
  PRIMARY KEY (Source, DestinationHash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE PublishedGroups (
  DestinationHash CHAR(64) NOT NULL,
  Source VARCHAR(50) NOT NULL,
  GroupHash CHAR(64) NOT NULL,
  Site VARCHAR(255) NOT NULL,
  Year INT NOT NULL,
  Month INT NOT NULL,
  GroupKey TEXT NOT NULL,
  PRIMARY KEY (DestinationHash, Source, GroupHash),
  KEY PublishedGroups_month (DestinationHash, Source, Site, Year, Month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
