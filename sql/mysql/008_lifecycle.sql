-- apeltools schema, migration 008: job lifecycles and user tags (MySQL 8 / MariaDB).
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
-- Works under strict SQL modes (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_DATE).

ALTER TABLE BatchRecords
  ADD COLUMN SubmitTime BIGINT NULL,
  ADD COLUMN EligibleTime BIGINT NULL,
  ADD COLUMN State VARCHAR(255) NULL,
  ADD COLUMN FinalState VARCHAR(20) NULL,
  ADD COLUMN ExitCode INT NULL,
  ADD KEY BatchRecords_end (EndTime);

-- One user's or one CE's jobs are found through their blah records.
ALTER TABLE BlahRecords
  ADD KEY BlahRecords_user (GlobalUserName),
  ADD KEY BlahRecords_ce (CeId);

CREATE TABLE JobTags (
  BatchRecordId BIGINT UNSIGNED NOT NULL,
  TagKey VARCHAR(64) NOT NULL,
  TagValue VARCHAR(255) NOT NULL,
  PRIMARY KEY (BatchRecordId, TagKey),
  KEY JobTags_tag (TagKey, TagValue),
  CONSTRAINT JobTags_batch FOREIGN KEY (BatchRecordId) REFERENCES BatchRecords (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
