-- apeltools schema, migration 006: what apel-publish remembers per destination (SQLite).
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

CREATE TABLE PublishWatermarks (
  Source TEXT NOT NULL,
  DestinationHash TEXT NOT NULL,
  Destination TEXT NOT NULL,
  UpdateTime TEXT NOT NULL,
  PRIMARY KEY (Source, DestinationHash)
);

CREATE TABLE PublishedGroups (
  DestinationHash TEXT NOT NULL,
  Source TEXT NOT NULL,
  GroupHash TEXT NOT NULL,
  Site TEXT NOT NULL,
  Year INTEGER NOT NULL,
  Month INTEGER NOT NULL,
  GroupKey TEXT NOT NULL,
  PRIMARY KEY (DestinationHash, Source, GroupHash)
);
CREATE INDEX PublishedGroups_month ON PublishedGroups (DestinationHash, Source, Site, Year, Month);
