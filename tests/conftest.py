"""Fixtures shared by the test suite: fresh databases on both backends, queues, messages, a PKI,
unreachable brokers, and the small helpers several test files use."""

import os
import socket
import uuid

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.db.schema import migrate
from apeltools.messaging import queues
from tests import pki as testpki
from tests.browser import Browser

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


@pytest.fixture
def repository_url(request, tmp_path, db_url):
    """A second fresh database, on the same backend as ``db_url`` (the site's): the repository's."""
    if db_url.startswith("sqlite"):
        url, drop = f"sqlite:///{tmp_path}/repository.db", None
    else:
        url, drop = fresh_mysql(request.getfixturevalue("mariadb_service"))
    with databases.connect(url) as db:
        migrate(db)
    yield url
    if drop:
        drop()


def pytest_generate_tests(metafunc):
    """Tests that use ``db`` or ``db_url`` run on SQLite and on MariaDB."""
    chosen = any("db_url" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if "db_url" in metafunc.fixturenames and not chosen:
        metafunc.parametrize("db_url", BACKENDS, indirect=True)


@pytest.fixture
def browser(chromium_service, tmp_path):
    """Headless Chromium (tests/browser.py), a fresh profile per page opened."""
    return Browser(chromium_service.path, tmp_path)


@pytest.fixture
def incoming(tmp_path):
    return queues.incoming_queue(tmp_path / "incoming")


@pytest.fixture
def rejects(tmp_path):
    return queues.reject_queue(tmp_path / "reject")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throw-away CA with host certificates (``tests/pki.py``), one per test module."""
    return testpki.build(tmp_path_factory.mktemp("pki"))


def closed_port():
    """A loopback port nothing listens on (taken, then given back)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


class SilentServer:
    """Accepts connections and never answers (a hung BDII)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def close(self):
        self.listener.close()


@pytest.fixture
def unreachable(request, slapd_service):
    """A [broker] line that yields no reachable broker, what the error says, whether it is asked again."""
    if request.param == "silent BDII":
        silent = SilentServer()
        request.addfinalizer(silent.close)
        # Its one question takes the whole budget: bounded by --max-wait, not by the LDAP timeout.
        return f"bdii: ldap://127.0.0.1:{silent.port}", "cannot query BDII", False
    slapd_service.load_sample()
    return {
        "closed broker port": (f"hosts: 127.0.0.1:{closed_port()}", "no broker reachable", True),
        "BDII down": (f"bdii: ldap://127.0.0.1:{closed_port()}", "cannot query BDII", True),
        "BDII lists no broker": (f"bdii: {slapd_service.url}\nnetwork: NO-SUCH-NETWORK",
                                 "lists no msg.broker.stomp broker in network NO-SUCH-NETWORK", True),
    }[request.param]


def invoke(command, args):
    """Run a click command in-process; it must succeed."""
    result = CliRunner().invoke(command, [str(a) for a in args])
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result


def record_lines(fields, **changes):
    """Record text from ``Key: Value`` pairs; a change to None leaves that line out."""
    merged = {**fields, **changes}
    return "".join(f"{key}: {value}\n" for key, value in merged.items() if value is not None)


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
