-- apeltools schema, migration 014: a token per loading transaction in LoadedMessages (MySQL 8 / MariaDB).
--
-- apel-load writes one token on the LoadedMessages rows of each transaction it commits. When the
-- connection is lost at COMMIT (a server or Galera node killed at that instant), the loader cannot
-- tell whether the transaction committed; before storing the same messages again it looks the
-- token up, so that a committed batch is not noted twice. No view changes.

ALTER TABLE LoadedMessages ADD COLUMN LoadToken CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD INDEX LoadedMessages_Token (LoadToken);
