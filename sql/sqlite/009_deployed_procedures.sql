-- apeltools schema, migration 009 (SQLite): nothing. The MySQL migration adds the stored
-- procedure the deployed unloader calls; the deployed tools run only on MySQL/MariaDB.
SELECT 1;
