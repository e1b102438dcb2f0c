"""Creating and migrating a database from the numbered files in ``sql/<dialect>/``."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

from apeltools.db.base import Database
from apeltools.errors import ConfigError, DatabaseError, TransientDatabaseError

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS SchemaMigrations ("
    " Version INTEGER NOT NULL PRIMARY KEY,"
    " Name VARCHAR(255) NOT NULL,"
    " AppliedAt VARCHAR(32) NOT NULL)"
)


def sql_dir(dialect: str) -> Path:
    """Where the schema files of a dialect are: the source tree, or the installed package."""
    source = Path(__file__).resolve().parents[2] / "sql" / dialect
    if source.is_dir():
        return source
    installed = resources.files("apeltools") / "sql" / dialect
    if installed.is_dir():
        return Path(str(installed))
    raise ConfigError(f"schema files for {dialect} not found (looked in {source} and the package)")


def migrations(dialect: str) -> list[tuple[int, str, Path]]:
    """[(version, name, path)] of a dialect's migration files, in order."""
    found = []
    for path in sorted(sql_dir(dialect).iterdir()):
        match = MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name, path))
    return found


def applied_versions(db: Database) -> set[int]:
    db.execute(CREATE_MIGRATIONS)
    return {row[0] for row in db.query("SELECT Version FROM SchemaMigrations")}


def migrate(db: Database) -> list[str]:
    """Apply every migration the database lacks; returns the names applied.

    Each file runs once, recorded in SchemaMigrations; running this on an
    up-to-date database changes nothing.
    """
    done = applied_versions(db)
    applied: list[str] = []
    for version, name, path in migrations(db.dialect):
        if version in done:
            continue
        log.info("applying %s", name)
        try:
            db.executescript(path.read_text(encoding="utf-8"))
        except DatabaseError as error:
            raise DatabaseError(f"migration {name} failed: {error}") from error
        with db.transaction():
            db.execute(
                "INSERT INTO SchemaMigrations (Version, Name, AppliedAt) VALUES (?, ?, ?)",
                (version, name, _now()),
            )
        applied.append(name)
    return applied


def status(db: Database) -> list[tuple[str, bool]]:
    """[(name, applied?)] for every migration file of the database's dialect."""
    done = applied_versions(db)
    return [(name, version in done) for version, name, _ in migrations(db.dialect)]


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def require_schema(db: Database) -> None:
    """Raise ConfigError unless the database has every migration applied."""
    try:
        done = {row[0] for row in db.query("SELECT Version FROM SchemaMigrations")}
    except TransientDatabaseError:
        raise
    except DatabaseError:
        raise ConfigError(
            f"{db.url} has no apeltools schema: create it with 'apeltools db init --db {db.url}'"
        ) from None
    missing = [name for version, name, _ in migrations(db.dialect) if version not in done]
    if missing:
        raise ConfigError(
            f"{db.url} lacks schema migrations {', '.join(missing)}: run 'apeltools db migrate --db {db.url}'"
        )
