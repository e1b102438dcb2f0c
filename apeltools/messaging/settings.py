"""The sender's and receiver's settings, read from the existing ``sender.cfg``/``receiver.cfg`` keys.

Existing keys, accepted as they are: ``[broker] bdii, network, host, port,
use_ssl``; ``[certificates] certificate, key, capath, server_cert, check_crls``;
``[messaging] destination, path``; ``[logging] ...``; ``[daemon] pidfile``
(ignored: a pidfile left by a crash must never block a restart). Our own:
``[broker] hosts`` (``host:port,host:port`` failover list), ``username``,
``password`` / ``password_file``, ``vhost`` (default ``/``), ``heartbeat``; ``[messaging] transport``
(``stomp``, ``ams`` or ``local``; ``[sender] protocol = AMS`` or ``[receiver] protocol = AMS``
of the existing files choose ``ams``, whose keys :class:`~apeltools.messaging.ams.AmsSettings`
reads), ``wire_path`` (the local transport's hand-over
directory), ``window``, ``receipt_timeout``, ``max_message_size``, ``dn_file``.

``[messaging] path`` means what it means in each program's existing file: the
outgoing queue in ``sender.cfg``, the spool directory holding ``incoming/`` and
``reject/`` in ``receiver.cfg``. So that one file can serve both programs, each
queue also has a key of its own, which wins over ``path``: ``outgoing_path`` and
``dead_letter_path`` (apel-send), ``incoming_path`` and ``reject_path``
(apel-receive).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from apeltools.bdii import LDAP_TIMEOUT
from apeltools.config import Config
from apeltools.errors import ConfigError
from apeltools.messaging.brokers import Broker, discover, parse_brokers
from apeltools.quoting import quote

log = logging.getLogger(__name__)

SPOOL = "/var/spool/apel"
# Per program: its queue's own key, the default queue, the key and default (next to the
# queue) of where the messages it cannot pass on go.
QUEUE_KEYS = {
    "sender": ("outgoing_path", f"{SPOOL}/outgoing", "dead_letter_path", "outgoing-reject"),
    "receiver": ("incoming_path", f"{SPOOL}/incoming", "reject_path", "reject"),
}
DEFAULT_WIRE = f"{SPOOL}/wire"
DEFAULT_DESTINATION = "/queue/global.accounting.cpu.central"
DEFAULT_DN_FILE = "/etc/apel/dns"
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024


@dataclass
class MessagingSettings:
    """Everything a sender or a receiver needs to know; built by :meth:`from_config`."""

    role: str  # "sender" or "receiver"
    transport: str = "local"
    path: str = ""
    reject_path: str = ""
    wire_path: str = DEFAULT_WIRE
    destination: str = DEFAULT_DESTINATION
    certificate: str | None = None
    key: str | None = None
    capath: str | None = None
    crl_path: str | None = None
    server_cert: str | None = None
    use_ssl: bool = False
    brokers: list[Broker] = field(default_factory=list)
    bdii: str | None = None
    network: str = "PROD"
    username: str | None = None
    password: str | None = None
    vhost: str = "/"
    heartbeat: float = 10.0
    window: int = 100
    receipt_timeout: float = 30.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    dn_file: str = DEFAULT_DN_FILE

    @classmethod
    def from_config(cls, config: Config, role: str, queue: str | None = None,
                    reject: str | None = None) -> MessagingSettings:
        """Settings of ``role`` ("sender" or "receiver") from ``config`` and the command line's
        ``queue`` and ``reject`` (dead-letter) queue; see the module docstring for the keys.
        Without a configured reject key the reject queue lies next to the queue, even one
        given on the command line."""
        get = config.get
        configured = queue_path(config, role)
        path = queue or configured
        use_ssl = config.get_bool("broker", "use_ssl", False)
        settings = cls(
            role=role,
            path=path,
            reject_path=reject or get("messaging", QUEUE_KEYS[role][2]) or _sibling(path, QUEUE_KEYS[role][3]),
            wire_path=get("messaging", "wire_path") or _sibling(configured, DEFAULT_WIRE),
            destination=get("messaging", "destination") or DEFAULT_DESTINATION,
            certificate=get("certificates", "certificate"),
            key=get("certificates", "key"),
            capath=get("certificates", "capath"),
            server_cert=get("certificates", "server_cert") or None,
            use_ssl=use_ssl,
            bdii=get("broker", "bdii") or None,
            network=get("broker", "network") or "PROD",
            username=get("broker", "username") or None,
            password=_password(config),
            vhost=get("broker", "vhost") or "/",
            heartbeat=config.get_float("broker", "heartbeat", 10.0),
            window=int(config.get_float("messaging", "window", 100)),
            receipt_timeout=config.get_float("messaging", "receipt_timeout", 30.0),
            max_message_size=int(config.get_float("messaging", "max_message_size", DEFAULT_MAX_MESSAGE_SIZE)),
            dn_file=get("messaging", "dn_file") or DEFAULT_DN_FILE,
        )
        if config.get_bool("certificates", "check_crls", False):
            settings.crl_path = settings.capath
        # The existing files choose AMS with [sender] protocol or [receiver] protocol.
        section = "receiver" if role == "receiver" and get("receiver", "protocol") else "sender"
        protocol = (get(section, "protocol") or "STOMP").upper()
        if protocol not in ("STOMP", "AMS"):
            raise ConfigError(f"[{section}] protocol {protocol} is not supported (STOMP or AMS)")
        transport = (get("messaging", "transport") or "").strip().lower() or ("ams" if protocol == "AMS" else "")
        hosts = get("broker", "hosts")
        host = get("broker", "host")
        if hosts:
            settings.brokers = parse_brokers(hosts, use_ssl)
        elif host and transport != "ams":  # for AMS, host is its HTTPS host (apeltools.messaging.ams)
            settings.brokers = parse_brokers(f"{host}:{get('broker', 'port') or '6163'}", use_ssl)
        if not transport:
            # The embedded default: no broker configured means hand over through a directory.
            transport = "stomp" if (settings.brokers or settings.bdii) else "local"
        if transport not in ("stomp", "local", "ams"):
            raise ConfigError(f"[messaging] transport must be stomp, ams or local, not {quote(transport)}")
        settings.transport = transport
        path_type = (get("messaging", "path_type") or "dirq").lower()
        if path_type != "dirq":
            raise ConfigError(f"[messaging] path_type {path_type} is not supported (only dirq)")
        if get("daemon", "pidfile"):
            log.debug("[daemon] pidfile is ignored: apeltools daemons keep no pidfile (use systemd)")
        if settings.window < 1:
            raise ConfigError("[messaging] window must be at least 1")
        if settings.receipt_timeout <= 0:
            raise ConfigError("[messaging] receipt_timeout must be positive")
        return settings

    def resolve_brokers(self, timeout: float = LDAP_TIMEOUT) -> list[Broker]:
        """The configured brokers, or those the BDII lists for ``network`` (asked within ``timeout`` s)."""
        if self.brokers:
            return self.brokers
        if self.bdii:
            self.brokers = discover(self.bdii, self.network, self.use_ssl, timeout)
            return self.brokers
        raise ConfigError("no broker configured: set [broker] host and port, hosts, or bdii and network")

    def read_identity(self, required: bool = True) -> tuple[bytes | None, bytes | None]:
        """The PEM bytes of ``[certificates] certificate`` and ``key``."""
        if not (self.certificate and self.key):
            if required:
                raise ConfigError("[certificates] certificate and key are required")
            return None, None
        return read_file(self.certificate, "certificate"), read_file(self.key, "key")

    def require_capath(self) -> str:
        if not self.capath:
            raise ConfigError("[certificates] capath (the hashed CA directory) is required")
        if not os.path.isdir(self.capath) and not os.path.isfile(self.capath):
            raise ConfigError(f"[certificates] capath {self.capath} does not exist")
        return self.capath


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror}") from None


def queue_path(config: Config, role: str) -> str:
    """The queue of ``role`` ("sender": outgoing, "receiver": incoming): its own key, else
    ``[messaging] path`` as that program's existing file means it, else the default."""
    key, default, _, _ = QUEUE_KEYS[role]
    own = config.get("messaging", key)
    if own:
        return own
    path = config.get("messaging", "path")
    if not path:
        return default
    if role == "sender":
        return path
    if os.path.isdir(os.path.join(path, "temporary")):
        # A directory queue itself (dirq makes temporary/ in each), as apeltools' own receiver.cfg
        # had it: refuse to file into a queue below it, where apel-load would never look.
        raise ConfigError(f"[messaging] path {path} is a queue, but apel-receive reads path as the spool "
                          f"directory holding incoming/ and reject/ (as the existing receiver.cfg does); "
                          f"name the incoming queue with incoming_path instead")
    return os.path.join(path, "incoming")


def _sibling(path: str, default: str) -> str:
    """``default``'s last component next to ``path`` (``/x/incoming`` → ``/x/reject``)."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(default))


def _password(config: Config) -> str | None:
    password = config.get("broker", "password")
    if password is not None:
        return password
    password_file = config.get("broker", "password_file")
    if password_file:
        return read_file(password_file, "[broker] password_file").decode().strip()
    return None
