-- apeltools schema, migration 007: what apeltools db import-apel remembers (SQLite).
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

CREATE TABLE ImportProgress (
  Source TEXT NOT NULL,
  SourceTable TEXT NOT NULL,
  LastKey TEXT,
  RowsRead INTEGER NOT NULL,
  Imported INTEGER NOT NULL,
  Held INTEGER NOT NULL,
  Done INTEGER NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (Source, SourceTable)
);

CREATE TABLE ImportIssues (
  IssueHash TEXT NOT NULL PRIMARY KEY,
  Source TEXT NOT NULL,
  SourceTable TEXT NOT NULL,
  SourceKey TEXT NOT NULL,
  Field TEXT,
  Reason TEXT NOT NULL,
  Action TEXT NOT NULL,
  UpdateTime TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX ImportIssues_table ON ImportIssues (Source, SourceTable);
