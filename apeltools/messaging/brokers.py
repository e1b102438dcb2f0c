"""Which message brokers to use: a configured list, or brokers discovered in a BDII (LDAP).

A BDII publishes brokers as GLUE 2 ``GLUE2Endpoint`` entries (interface
``msg.broker.stomp`` or ``msg.broker.stomp-ssl``, the network in
``GLUE2EntityOtherInfo: cluster=<network>``) and as GLUE 1.3 ``GlueService``
entries (type ``msg.broker.stomp``/``-ssl``, the network in a child
``GlueServiceData`` with key ``cluster``). GLUE 2 is asked first; GLUE 1 is the
fallback for BDIIs that only publish it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from apeltools import bdii
from apeltools.bdii import GLUE1_BASE, GLUE2_BASE
from apeltools.errors import BrokerError, ConfigError
from apeltools.quoting import quote

log = logging.getLogger(__name__)

STOMP = "msg.broker.stomp"
STOMP_SSL = "msg.broker.stomp-ssl"


@dataclass(frozen=True)
class Broker:
    """One STOMP endpoint; ``ssl`` says whether to speak TLS to it."""

    host: str
    port: int
    ssl: bool = False

    def __str__(self):
        return f"{'stomp+ssl' if self.ssl else 'stomp'}://{self.host}:{self.port}"


def parse_brokers(text: str, use_ssl: bool) -> list[Broker]:
    """``host:port,host:port`` (or ``stomp[+ssl]://host:port`` URLs) → brokers, in order."""
    brokers = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        ssl = use_ssl
        if "://" in item:
            scheme, _, item = item.partition("://")
            ssl = scheme.lower() in ("stomp+ssl", "stomp+tls", "ssl", "tls")
            item = item.rstrip("/")
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"broker {quote(item)} is not host:port")
        brokers.append(Broker(host.strip("[]"), int(port), ssl))
    return brokers


def _parse_url(url: str) -> Broker | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("stomp", "stomp+ssl") or not parts.hostname or not parts.port:
        log.warning("ignoring broker endpoint %s from the BDII: not stomp[+ssl]://host:port", quote(url))
        return None
    return Broker(parts.hostname, parts.port, parts.scheme == "stomp+ssl")


def _glue2(connection, network, interface):
    found = []
    query = f"(&(objectClass=GLUE2Endpoint)(GLUE2EndpointInterfaceName={interface}))"
    attributes = ["GLUE2EndpointURL", "GLUE2EntityOtherInfo"]
    for _, attrs in bdii.search(connection, GLUE2_BASE, query, attributes, BrokerError):
        info = [str(v).strip() for v in bdii.values(attrs, "GLUE2EntityOtherInfo")]
        if f"cluster={network}" not in info:
            continue
        found.extend(filter(None, (_parse_url(url) for url in bdii.values(attrs, "GLUE2EndpointURL"))))
    return found


def _glue1(connection, network, service_type):
    found = []
    query = f"(&(objectClass=GlueService)(GlueServiceType={service_type}))"
    for dn, attrs in bdii.search(connection, GLUE1_BASE, query, ["GlueServiceEndpoint"], BrokerError):
        # The network is a child entry of the service, not an attribute of it.
        marks = bdii.search(connection, dn, "(&(objectClass=GlueServiceData)(GlueServiceDataKey=cluster))",
                            ["GlueServiceDataValue"], BrokerError)
        networks = {str(v).strip() for _, m in marks for v in bdii.values(m, "GlueServiceDataValue")}
        if network not in networks:
            continue
        found.extend(filter(None, (_parse_url(url) for url in bdii.values(attrs, "GlueServiceEndpoint"))))
    return found


def discover(bdii_url: str, network: str, use_ssl: bool, timeout: float = bdii.LDAP_TIMEOUT) -> list[Broker]:
    """Brokers of ``network`` (e.g. ``PROD``, ``TEST-NWOB``) published in a BDII, shuffled.

    Only ``stomp+ssl`` endpoints when ``use_ssl``, only plain ``stomp`` ones
    otherwise. Raises BrokerError when the BDII cannot be asked (within
    ``timeout`` seconds for each answer) or lists none.
    """
    interface = STOMP_SSL if use_ssl else STOMP
    connection = bdii.connect(bdii_url, BrokerError, timeout)
    try:
        brokers = _glue2(connection, network, interface)
        if not brokers:
            brokers = _glue1(connection, network, interface)
    finally:
        connection.unbind()
    brokers = [b for b in dict.fromkeys(brokers) if b.ssl == use_ssl]
    if not brokers:
        raise BrokerError(f"BDII {bdii_url} lists no {interface} broker in network {network}")
    # Spread the load of many senders over the network's brokers.
    random.shuffle(brokers)
    log.info("BDII %s: %d brokers in %s: %s", bdii_url, len(brokers), network,
             ", ".join(map(str, brokers)))
    return brokers
