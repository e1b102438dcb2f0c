-- apeltools schema, migration 007: what apeltools db import-apel remembers (MySQL 8 / MariaDB).
--
-- ImportProgress: per source database and source table, the primary key of the
-- last source row imported (a JSON list, in the table's key order) and the
-- counts so far; a row is written in the same transaction as the records it
-- accounts for, so an interrupted import continues after exactly that row.
-- Done is 1 once the table has been read to its end.
--
-- ImportIssues: every source row our validation refuses, with its table, key
-- and reason, and what happened to it: 'imported' (stored as it was, under
-- --invalid import) or 'held' (not stored). Keyed by a SHA-256 of the source,
-- table and key, so running the import again keeps one row per source row.
-- Works under strict SQL modes (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_DATE).

CREATE TABLE ImportProgress (
  Source VARCHAR(255) NOT NULL,
  SourceTable VARCHAR(64) NOT NULL,
  LastKey TEXT,
  RowsRead BIGINT NOT NULL,
  Imported BIGINT NOT NULL,
  Held BIGINT NOT NULL,
  Done TINYINT NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (Source, SourceTable)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ImportIssues (
  IssueHash CHAR(64) NOT NULL PRIMARY KEY,
  Source VARCHAR(255) NOT NULL,
  SourceTable VARCHAR(64) NOT NULL,
  SourceKey TEXT NOT NULL,
  Field VARCHAR(64),
  Reason TEXT NOT NULL,
  Action VARCHAR(10) NOT NULL,
  UpdateTime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  KEY ImportIssues_table (Source, SourceTable)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
