-- apeltools schema, migration 012: the run-lock table of MySQL/MariaDB (SQLite).
--
-- SQLite databases keep their lock files beside the database (flock): one host, freed by the
-- kernel. The table exists so that both dialects have the same tables.

CREATE TABLE RunLocks (
    Name TEXT NOT NULL PRIMARY KEY,
    Owner TEXT NOT NULL,
    Host TEXT NOT NULL,
    Pid INTEGER NOT NULL,
    Acquired TEXT NOT NULL,
    Expires TEXT NOT NULL
);
