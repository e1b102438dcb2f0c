-- apeltools schema, migration 008: job lifecycles and user tags (SQLite).
--
-- BatchRecords gain what the batch logs say about a job's life besides its
-- usage, each NULL where the log (or an older log format) does not say it:
-- SubmitTime (queued), EligibleTime (eligible to run), State (the final state
-- as the batch system reports it, e.g. 'CANCELLED by 1234' or
-- 'failed=0 exit_status=137'), FinalState (that state normalised by
-- apeltools.lifecycle: completed, failed, cancelled, timeout, node_fail,
-- preempted, out_of_memory, boot_fail, deadline) and ExitCode (shell
-- convention: 128 + signal for a job killed by a signal). Rows parsed before
-- this migration keep NULLs until their log is parsed again.
--
-- JobTags: key=value tags that users attach to batch records with apel-tag,
-- one value per key and job.

ALTER TABLE BatchRecords ADD COLUMN SubmitTime INTEGER;
ALTER TABLE BatchRecords ADD COLUMN EligibleTime INTEGER;
ALTER TABLE BatchRecords ADD COLUMN State TEXT;
ALTER TABLE BatchRecords ADD COLUMN FinalState TEXT;
ALTER TABLE BatchRecords ADD COLUMN ExitCode INTEGER;
CREATE INDEX BatchRecords_end ON BatchRecords (EndTime);
-- One user's or one CE's jobs are found through their blah records.
CREATE INDEX BlahRecords_user ON BlahRecords (GlobalUserName);
CREATE INDEX BlahRecords_ce ON BlahRecords (CeId);

CREATE TABLE JobTags (
  BatchRecordId INTEGER NOT NULL REFERENCES BatchRecords (id) ON DELETE CASCADE,
  TagKey TEXT NOT NULL,
  TagValue TEXT NOT NULL,
  PRIMARY KEY (BatchRecordId, TagKey)
);
CREATE INDEX JobTags_tag ON JobTags (TagKey, TagValue);
