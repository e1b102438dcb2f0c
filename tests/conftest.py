"""Fixtures shared by the test suite: fresh databases on both backends, queues, messages."""

import os
import uuid

import pytest

from apeltools import db as databases
from apeltools.db.schema import migrate
from apeltools.messaging import queues

pytest_plugins = ["tests.services.plugin"]

BACKENDS = ["sqlite", pytest.param("mysql", marks=pytest.mark.mariadb)]


def fresh_mysql(mariadb_service):
    """A new empty MariaDB database (URL, drop function)."""
    name = "apeltest_" + uuid.uuid4().hex[:12]
    conn = mariadb_service.connect()
    try:
        conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        conn.close()

    def drop():
        conn = mariadb_service.connect()
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            conn.close()

    return f"{mariadb_service.url}/{name}", drop


def empty_database(request, tmp_path, monkeypatch):
    """A new empty database on the backend named by ``request.param`` (URL, drop function or None)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path}/apel.db", None
    service = request.getfixturevalue("mariadb_service")
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", service.password)
    return fresh_mysql(service)


@pytest.fixture
def db_url(request, tmp_path, monkeypatch):
    """URL of a new, migrated database on the backend named by the ``backend`` parameter."""
    url, drop = empty_database(request, tmp_path, monkeypatch)
    with databases.connect(url) as db:
        migrate(db)
    yield url
    if drop:
        drop()


@pytest.fixture
def db(db_url):
    """An open connection to a fresh migrated database."""
    with databases.connect(db_url) as database:
        yield database


def pytest_generate_tests(metafunc):
    """Tests that use ``db`` or ``db_url`` run on SQLite and on MariaDB."""
    chosen = any("db_url" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if "db_url" in metafunc.fixturenames and not chosen:
        metafunc.parametrize("db_url", BACKENDS, indirect=True)


@pytest.fixture
def incoming(tmp_path):
    return queues.incoming_queue(tmp_path / "incoming")


@pytest.fixture
def rejects(tmp_path):
    return queues.reject_queue(tmp_path / "reject")


def queue_elements(queue):
    """Every element of a dirq queue as a dict (without locking it for long)."""
    found = []
    for name in queue:
        if queue.lock(name):
            found.append(queue.get(name))
            queue.unlock(name)
    return found


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch):
    """Tests never read /etc/apeltools or the developer's environment settings."""
    for key in list(os.environ):
        if key.startswith("APELTOOLS_") and key not in (
            "APELTOOLS_DB_PASSWORD", "APELTOOLS_MARIADB_PORT", "APELTOOLS_SERVICES_BASE",
            "APELTOOLS_REQUIRE_SERVICES", "APELTOOLS_STOP_SERVICES",
        ) and not key.endswith("_PORT"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("APELTOOLS_CONFIG", os.devnull)
