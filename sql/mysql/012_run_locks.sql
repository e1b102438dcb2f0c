-- apeltools schema, migration 012: run locks that hold across a Galera cluster (MySQL 8 / MariaDB).
--
-- GET_LOCK is local to the server it is taken on: on a Galera cluster an apel-summarise on
-- each of two nodes both got "the" lock. A row per lock, inserted in a transaction of its own,
-- replicates and certifies like any other row, so a second INSERT of the same Name fails on
-- every node. Expires is pushed forward by the holder while it runs (a heartbeat); a row whose
-- holder died is taken over once it has expired (or at once when Host and Pid show a process of
-- this host that is gone).

CREATE TABLE RunLocks (
    Name VARCHAR(64) NOT NULL,
    Owner CHAR(32) NOT NULL,
    Host VARCHAR(255) NOT NULL,
    Pid INT NOT NULL,
    Acquired DATETIME NOT NULL,
    Expires DATETIME NOT NULL,
    PRIMARY KEY (Name)
) ENGINE=InnoDB;
