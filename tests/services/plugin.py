"""pytest plugin: real servers on loopback for the apeltools tests.

Enable it from ``tests/conftest.py`` with::

    pytest_plugins = ["tests.services.plugin"]

Session-scoped fixtures (each starts its service on first use with the script
in this directory, installing the Debian package if needed):

    mariadb_service   MariaDB   mysql://apel@127.0.0.1:13306  (password "apel")
    rabbitmq_service  RabbitMQ  stomp://127.0.0.1:61613       (guest/guest)
    activemq_service  ActiveMQ  stomp://127.0.0.1:61614
    slapd_service     OpenLDAP  ldap://127.0.0.1:12170        (o=grid, o=glue)
    gocdb_server      GOCDB stand-in (in-process HTTP server on a free port)
    ams_server        ARGO Messaging Service stand-in (tests/services/ams.py: HTTPS on
                      localhost, a child process on a free port, its own CA)
    galera_cluster    3-node MariaDB Galera cluster  mysql://apel@127.0.0.1:13311..13313
    rabbitmq_cluster  3-node RabbitMQ cluster        stomp://127.0.0.1:61621..61623
    chromium_service  headless Chromium from Debian (tests/services/chromium.sh installs it;
                      nothing runs until a test starts a browser at ``chromium_service.path``)

plus the function-scoped ``smtp_server`` (:class:`SmtpServer`: aiosmtpd on a free loopback
port keeping the messages it receives) and ``gocdb`` fixture: ``gocdb_server`` reset to normal mode
with an empty request log before and after the test, and ``ams``: ``ams_server``
emptied, with project ``accounting``, token ``secret`` and no faults.

The script-backed services have ``stop()`` and ``start()`` for fault tests;
data is kept across them. A test that stops a service must start it again
(in a ``finally``) so later tests find it running.

If a service cannot be started, the fixture fails the test when ``CI=true`` or
``APELTOOLS_REQUIRE_SERVICES=1`` (with the script's output), and skips it
otherwise. Services are left running after the session (fast reruns) unless
``APELTOOLS_STOP_SERVICES=1`` or ``CI=true``.

Ports and the state directory follow the scripts' environment variables:
APELTOOLS_MARIADB_PORT, APELTOOLS_RABBITMQ_STOMP_PORT,
APELTOOLS_ACTIVEMQ_STOMP_PORT, APELTOOLS_SLAPD_PORT, APELTOOLS_SERVICES_BASE
(default /tmp/apeltools-services).
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

try:
    from .gocdb import DEFAULT_FIXTURES, GocdbServer
except ImportError:  # imported as a top-level module
    from gocdb import DEFAULT_FIXTURES, GocdbServer  # type: ignore[no-redef]

SERVICES_DIR = Path(__file__).resolve().parent
START_TIMEOUT = int(os.environ.get("APELTOOLS_SERVICE_START_TIMEOUT", "1200"))
STOP_TIMEOUT = 180


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def services_required() -> bool:
    """In CI (or on request) a service that cannot start is a failure, not a skip."""
    return _truthy(os.environ.get("CI")) or _truthy(os.environ.get("APELTOOLS_REQUIRE_SERVICES"))


def stop_at_end() -> bool:
    return _truthy(os.environ.get("CI")) or _truthy(os.environ.get("APELTOOLS_STOP_SERVICES"))


def services_base() -> Path:
    return Path(os.environ.get("APELTOOLS_SERVICES_BASE", "/tmp/apeltools-services"))


class ServiceError(RuntimeError):
    """A service script failed; the message holds its output."""


class ScriptService:
    """A server driven by ``tests/services/<name>.sh start|stop|status [DIR]``."""

    name = ""
    host = "127.0.0.1"
    port = 0
    scheme = ""

    def __init__(self, state_dir: Path | None = None):
        self.state_dir = Path(state_dir) if state_dir else services_base() / self.name
        self.script = SERVICES_DIR / f"{self.name}.sh"
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def run(self, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
        """Run the script with ``args`` (the state dir is appended)."""
        cmd = ["bash", str(self.script), *args, str(self.state_dir)]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
            raise ServiceError(f"{' '.join(cmd)} timed out after {timeout}s\n{out}") from None

    def _checked(self, *args: str, timeout: float) -> str:
        proc = self.run(*args, timeout=timeout)
        if proc.returncode != 0:
            raise ServiceError(f"{self.script.name} {' '.join(args)} failed "
                               f"(exit {proc.returncode}):\n{proc.stdout}")
        return proc.stdout

    def start(self) -> str:
        """Start the server (no-op if running); returns the script's output."""
        with self._lock:
            return self._checked("start", timeout=START_TIMEOUT)

    def stop(self) -> str:
        """Stop the server cleanly; its data directory is kept."""
        with self._lock:
            return self._checked("stop", timeout=STOP_TIMEOUT)

    def restart(self) -> str:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.run("status", timeout=60).returncode == 0


class MariaDBService(ScriptService):
    name = "mariadb"
    scheme = "mysql"
    user = "apel"
    password = "apel"

    def __init__(self, state_dir: Path | None = None):
        super().__init__(state_dir)
        self.port = int(os.environ.get("APELTOOLS_MARIADB_PORT", "13306"))
        self.socket = str(self.state_dir / "mysqld.sock")

    @property
    def url(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}"

    def connect_args(self, database: str | None = None, **extra) -> dict:
        """Keyword arguments for ``mysql.connector.connect``."""
        args = dict(host=self.host, port=self.port, user=self.user, password=self.password,
                    allow_local_infile=True)
        if database:
            args["database"] = database
        args.update(extra)
        return args

    def connect(self, database: str | None = None, **extra):
        import mysql.connector  # imported lazily: only tests using MariaDB need it

        return mysql.connector.connect(**self.connect_args(database, **extra))


class StompService(ScriptService):
    scheme = "stomp"
    user = "guest"
    password = "guest"
    port_env = ""
    default_port = 0

    def __init__(self, state_dir: Path | None = None):
        super().__init__(state_dir)
        self.port = int(os.environ.get(self.port_env, str(self.default_port)))


class RabbitMQService(StompService):
    name = "rabbitmq"
    port_env = "APELTOOLS_RABBITMQ_STOMP_PORT"
    default_port = 61613


class ActiveMQService(StompService):
    name = "activemq"
    port_env = "APELTOOLS_ACTIVEMQ_STOMP_PORT"
    default_port = 61614


class SlapdService(ScriptService):
    name = "slapd"
    scheme = "ldap"
    rootdn = "cn=admin,o=grid"
    glue1_base = "o=grid"
    glue2_base = "o=glue"
    sample_ldif = SERVICES_DIR / "ldap" / "bdii-sample.ldif"

    def __init__(self, state_dir: Path | None = None):
        super().__init__(state_dir)
        self.port = int(os.environ.get("APELTOOLS_SLAPD_PORT", "12170"))
        self.rootpw = os.environ.get("APELTOOLS_SLAPD_ROOTPW", "apel")

    def load(self, ldif: str | os.PathLike) -> str:
        """Add the entries of an LDIF file (entries that already exist are kept)."""
        return self._checked("load", str(ldif), timeout=120)

    def load_sample(self) -> str:
        return self.load(self.sample_ldif)

    def clear(self) -> str:
        """Delete every entry below o=grid and o=glue."""
        return self._checked("clear", timeout=120)


class ChromiumService(ScriptService):
    name = "chromium"

    @property
    def path(self) -> str:
        """The browser's executable."""
        return self._checked("url", timeout=60).strip()


class SmtpServer:
    """An SMTP server (aiosmtpd) on loopback keeping what it receives in ``messages``.

    Recipients starting with ``refuse`` are refused (550). With ``tls_context`` it
    requires STARTTLS; with ``users`` ({name: password}) it requires a login.
    """

    def __init__(self, tls_context=None, users=None):
        from aiosmtpd.controller import Controller  # imported lazily: only the mail tests need it
        from aiosmtpd.smtp import AuthResult

        self.messages = []

        def authenticate(server, session, envelope, mechanism, auth_data):
            known = users.get(auth_data.login.decode()) if users else None
            # handled=False: aiosmtpd answers a refusal itself (535); its default would leave the client waiting
            return AuthResult(success=known is not None and known == auth_data.password.decode(), handled=False)

        options = {}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if users is not None:
            options.update(authenticator=authenticate, auth_require_tls=tls_context is not None)
        with socket.create_server(("127.0.0.1", 0)) as probe:
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.original_content, policy=email.policy.default)))
        return "250 OK"

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_service(request) -> ChromiumService:
    return _start_or_skip(ChromiumService(), request)


SERVICE_CLASSES = {cls.name: cls for cls in
                   (MariaDBService, RabbitMQService, ActiveMQService, SlapdService)}


def _start_or_skip(service: ScriptService, request) -> ScriptService:
    try:
        _start_twice(service)
    except (ServiceError, OSError) as exc:
        reason = f"{service.name} service unavailable: {exc}"
        if services_required():
            pytest.fail(reason, pytrace=False)
        lines = [line for line in str(exc).splitlines() if line.strip()]
        detail = lines[-1] if len(lines) > 1 else ""
        pytest.skip(f"{service.name} service unavailable: {detail} "
                    f"(try: bash tests/services/{service.name}.sh start; "
                    "APELTOOLS_REQUIRE_SERVICES=1 makes this a failure)")
    if stop_at_end() and not os.environ.get("PYTEST_XDIST_WORKER"):
        # Under xdist the controller stops them in pytest_sessionfinish instead,
        # so one worker cannot stop a server another is still using.
        request.addfinalizer(lambda: _quiet_stop(service))
    return service


def _start_twice(service: ScriptService) -> None:
    """Start ``service``; after a failure, stop what part of it did start and try once more (a
    start can fail on a passing collision, e.g. a port another process held for a moment). What
    a second failure left running is stopped too, so that it cannot hold up a later run."""
    try:
        service.start()
        return
    except (ServiceError, OSError) as exc:
        print(f"warning: {service.name} did not start, stopping it and trying again: {exc}")
        _quiet_stop(service)
    try:
        service.start()
    except (ServiceError, OSError):
        _quiet_stop(service)
        raise


def _quiet_stop(service: ScriptService) -> None:
    try:
        service.stop()
    except ServiceError as exc:  # never turn a passing session red at teardown
        print(f"warning: {exc}")


@pytest.fixture(scope="session")
def mariadb_service(request) -> MariaDBService:
    return _start_or_skip(MariaDBService(), request)


@pytest.fixture(scope="session")
def rabbitmq_service(request) -> RabbitMQService:
    return _start_or_skip(RabbitMQService(), request)


@pytest.fixture(scope="session")
def activemq_service(request) -> ActiveMQService:
    return _start_or_skip(ActiveMQService(), request)


@pytest.fixture(scope="session")
def slapd_service(request) -> SlapdService:
    return _start_or_skip(SlapdService(), request)


@pytest.fixture(scope="session")
def gocdb_server():
    fixtures = Path(os.environ.get("APELTOOLS_GOCDB_FIXTURES", str(DEFAULT_FIXTURES)))
    server = GocdbServer(fixtures)
    try:
        server.start()
    except OSError as exc:
        reason = f"GOCDB stand-in could not start: {exc}"
        if services_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield server
    server.stop()


@pytest.fixture
def gocdb(gocdb_server):
    gocdb_server.reset()
    yield gocdb_server
    gocdb_server.reset()


def pytest_sessionfinish(session, exitstatus):
    # xdist controller (or plain run, where fixture finalizers already did it):
    # stop every service the workers may have started.
    if not stop_at_end() or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if not hasattr(session.config, "workerinput") and session.config.pluginmanager.hasplugin("dsession"):
        for cls in SERVICE_CLASSES.values():
            service = cls()
            if service.state_dir.exists():
                _quiet_stop(service)


@pytest.fixture(scope="session")
def ams_server(tmp_path_factory):
    """The AMS stand-in (``tests/services/ams.py``) over HTTPS on loopback, in a process of its own."""
    try:
        from .ams import AmsServer
    except ImportError:  # imported as a top-level module
        from ams import AmsServer  # type: ignore[no-redef]

    server = AmsServer.with_test_pki(tmp_path_factory.mktemp("ams"))
    try:
        server.start()
    except OSError as exc:
        if services_required():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def ams(ams_server):
    """``ams_server`` emptied, with project ``accounting``, token ``secret`` and no faults."""
    ams_server.reset(tokens={"secret": ["accounting"]})
    yield ams_server
    ams_server.faults()


class ClusterNodes:
    """Per-node actions of a cluster script (``start-node|stop-node|kill-node N [DIR]``)."""

    def _node(self, action: str, node: int) -> str:
        with self._lock:
            proc = subprocess.run(["bash", str(self.script), action, str(node), str(self.state_dir)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=START_TIMEOUT)
        if proc.returncode != 0:
            raise ServiceError(f"{self.script.name} {action} {node} failed (exit {proc.returncode}):\n{proc.stdout}")
        return proc.stdout

    def start_node(self, node: int) -> str:
        return self._node("start-node", node)

    def stop_node(self, node: int) -> str:
        return self._node("stop-node", node)

    def kill_node(self, node: int) -> str:
        return self._node("kill-node", node)


class GaleraService(ClusterNodes, MariaDBService):
    """A 3-node MariaDB Galera cluster (``tests/services/galera.sh``); node N on ``port_of(N)``.

    ``start_node``/``stop_node``/``kill_node`` (SIGKILL) act on one node for fault tests; a
    test that stops or kills a node must start it again (in a ``finally``).
    """

    name = "galera"
    nodes = (1, 2, 3)

    def __init__(self, state_dir: Path | None = None):
        super().__init__(state_dir)
        self.port = int(os.environ.get("APELTOOLS_GALERA_PORT", "13311"))

    def port_of(self, node: int) -> int:
        return self.port + node - 1

    def url_of(self, node: int) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port_of(node)}"

    def connect_node(self, node: int, database: str | None = None, **extra):
        return self.connect(database, port=self.port_of(node), **extra)


SERVICE_CLASSES[GaleraService.name] = GaleraService


@pytest.fixture(scope="session")
def galera_cluster(request) -> GaleraService:
    return _start_or_skip(GaleraService(), request)


class RabbitMQClusterService(ClusterNodes, StompService):
    """A 3-node RabbitMQ cluster (``tests/services/rabbitmq_cluster.sh``); node N's STOMP on ``port_of(N)``.

    ``start_node``/``stop_node``/``kill_node`` (SIGKILL) act on one node for fault tests.
    """

    name = "rabbitmq_cluster"
    nodes = (1, 2, 3)
    default_port = 61621  # fixed in the script: nodes on 61621..61623

    def __init__(self, state_dir: Path | None = None):
        super().__init__(state_dir or services_base() / "rabbitmq-cluster")

    def port_of(self, node: int) -> int:
        return self.port + node - 1

    @property
    def hosts(self) -> str:
        """The ``[broker] hosts`` list of every node."""
        return ",".join(f"{self.host}:{self.port_of(node)}" for node in self.nodes)


SERVICE_CLASSES[RabbitMQClusterService.name] = RabbitMQClusterService


@pytest.fixture(scope="session")
def rabbitmq_cluster(request) -> RabbitMQClusterService:
    return _start_or_skip(RabbitMQClusterService(), request)
