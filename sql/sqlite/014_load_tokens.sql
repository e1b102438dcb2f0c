-- apeltools schema, migration 014: a token per loading transaction in LoadedMessages (SQLite).
--
-- apel-load writes one token on the LoadedMessages rows of each transaction it commits. When the
-- outcome of a COMMIT is unknown to the loader, it looks the token up before storing the same
-- messages again, so that a committed batch is not noted twice. No view changes.

ALTER TABLE LoadedMessages ADD COLUMN LoadToken TEXT;
CREATE INDEX LoadedMessages_Token ON LoadedMessages (LoadToken);
