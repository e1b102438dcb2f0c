-- apeltools schema, migration 010 (SQLite): nothing. The MySQL migration makes the cloud
-- CpuCount columns DECIMAL, as in the deployed schema, so that a fractional count (2.5) is
-- stored; an SQLite column of INTEGER affinity already keeps a value that is not a whole
-- number as it is (a REAL), so the tables and their views stay as they are.
SELECT 1;
