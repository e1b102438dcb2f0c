"""Finding and reaching brokers: configured lists, BDII discovery (real slapd), TLS with verification."""

import socket
import ssl
import threading
from pathlib import Path

import pytest

from apeltools.config import Config
from apeltools.errors import BrokerError, ConfigError
from apeltools.demo import pki as pkimod
from apeltools.messaging.brokers import Broker, discover, parse_brokers
from apeltools.messaging.connection import Link, ca_bundle, tls_context
from apeltools.messaging.settings import MessagingSettings

ROOT = Path(__file__).resolve().parent.parent
BDII_GLUE1_ONLY = """\
dn: Mds-Vo-name=OLD-SITE,Mds-Vo-name=local,o=grid
objectClass: MDS
Mds-Vo-name: OLD-SITE

dn: GlueServiceUniqueID=old-broker.example.org_msg.broker.stomp,Mds-Vo-name=OLD-SITE,Mds-Vo-name=local,o=grid
objectClass: GlueTop
objectClass: GlueService
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueServiceUniqueID: old-broker.example.org_msg.broker.stomp
GlueServiceType: msg.broker.stomp
GlueServiceEndpoint: stomp://old-broker.example.org:6163/
GlueForeignKey: GlueSiteUniqueID=OLD-SITE
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: GlueServiceDataKey=cluster,GlueServiceUniqueID=old-broker.example.org_msg.broker.stomp,Mds-Vo-name=OLD-SITE,Mds-Vo-name=local,o=grid
objectClass: GlueTop
objectClass: GlueServiceData
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueServiceDataKey: cluster
GlueServiceDataValue: OLD-NET
GlueChunkKey: GlueServiceUniqueID=old-broker.example.org_msg.broker.stomp
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3
"""


def settings_from(text, tmp_path, role="sender"):
    path = tmp_path / f"{role}.cfg"
    path.write_text(text)
    return MessagingSettings.from_config(Config.load(str(path), environ={}), role)


def test_broker_lists_keep_their_order_and_scheme():
    assert parse_brokers("a.example.org:6162, b.example.org:6163", use_ssl=True) == [
        Broker("a.example.org", 6162, True), Broker("b.example.org", 6163, True)]
    assert parse_brokers("stomp://a:1,stomp+ssl://b:2/", use_ssl=False) == [Broker("a", 1), Broker("b", 2, True)]
    with pytest.raises(ConfigError, match="not host:port"):
        parse_brokers("a.example.org", use_ssl=False)


def test_existing_sender_cfg_keys(tmp_path):
    settings = settings_from("""
[broker]
host: mq.example.org
port: 6162
use_ssl: true
[certificates]
certificate: /etc/grid-security/hostcert.pem
key: /etc/grid-security/hostkey.pem
capath: /etc/grid-security/certificates
server_cert: /etc/grid-security/server.pem
[messaging]
destination: /queue/global.accounting.test
path: /var/spool/apel/outgoing
[logging]
logfile: /var/log/apel/ssmsend.log
""", tmp_path)
    assert settings.transport == "stomp"
    assert settings.brokers == [Broker("mq.example.org", 6162, True)]
    assert settings.destination == "/queue/global.accounting.test"
    assert settings.server_cert == "/etc/grid-security/server.pem"
    assert settings.reject_path == "/var/spool/apel/outgoing-reject"


def test_our_own_keys_and_the_local_default(tmp_path):
    settings = settings_from("""
[broker]
hosts: a:1,b:2
host: ignored
[messaging]
window: 7
receipt_timeout: 2.5
max_message_size: 1000
""", tmp_path)
    assert [b.host for b in settings.brokers] == ["a", "b"]
    assert (settings.window, settings.receipt_timeout, settings.max_message_size) == (7, 2.5, 1000)
    assert settings_from("[messaging]\npath: /x/outgoing\n", tmp_path).transport == "local"
    with pytest.raises(ConfigError, match="transport"):
        settings_from("[messaging]\ntransport: carrier-pigeon\n", tmp_path)


def test_sample_sender_cfg_is_accepted():
    settings = MessagingSettings.from_config(Config.load(str(ROOT / "etc" / "sender.cfg"), environ={}), "sender")
    assert settings.bdii and settings.network == "PROD" and settings.use_ssl


@pytest.fixture(scope="module")
def bdii(slapd_service):
    slapd_service.load_sample()
    return slapd_service


@pytest.mark.parametrize("network, use_ssl, expected", [
    ("PROD", True, [Broker("broker-prod.example.org", 6162, True)]),
    ("PROD", False, [Broker("broker-prod.example.org", 6163, False)]),
    ("TEST-NWOB", True, [Broker("broker-test.example.org", 6162, True)]),
    ("TEST-NWOB", False, [Broker("broker-test.example.org", 6163, False)]),
])
def test_discovery_in_a_bdii_filters_network_and_protocol(bdii, network, use_ssl, expected):
    assert discover(bdii.url, network, use_ssl) == expected


def test_discovery_falls_back_to_glue1(bdii, tmp_path):
    ldif = tmp_path / "glue1.ldif"
    ldif.write_text(BDII_GLUE1_ONLY)
    bdii.load(ldif)
    assert discover(bdii.url, "OLD-NET", False) == [Broker("old-broker.example.org", 6163, False)]


def test_discovery_of_an_unknown_network_or_a_dead_bdii_is_an_error(bdii):
    with pytest.raises(BrokerError, match="no msg.broker.stomp broker in network NOPE"):
        discover(bdii.url, "NOPE", False)
    with pytest.raises(BrokerError, match="cannot query BDII"):
        discover("ldap://127.0.0.1:1", "PROD", False)


def test_settings_resolve_brokers_from_the_bdii(bdii, tmp_path):
    settings = settings_from(f"[broker]\nbdii: {bdii.url}\nnetwork: TEST-NWOB\nuse_ssl: true\n", tmp_path)
    assert settings.transport == "stomp"
    assert settings.resolve_brokers() == [Broker("broker-test.example.org", 6162, True)]


# -- TLS: a TLS front end (in this process) for the real RabbitMQ --------------------------


class TLSFront:
    """Accepts TLS on a free port with ``server`` as its certificate and relays to a plain broker."""

    def __init__(self, server, capath, backend, require_client_cert=True):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certfile, keyfile = server
        self.context.load_cert_chain(certfile, keyfile)
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(capath=str(capath))
        self.backend = backend
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.client_subjects = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            peer = conn.getpeercert()
            if peer:
                self.client_subjects.append(peer["subject"])
            upstream = socket.create_connection(self.backend)
            threading.Thread(target=self._pipe, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.listener.close()


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    ca = pkimod.make_ca("/C=XX/O=apeltools/CN=TLS test CA")
    capath = pkimod.write_ca_dir(root / "capath", [ca])
    files = {name: pkimod.make_host(ca, host).write(root, name)
             for name, host in (("broker", "localhost"), ("wrong", "other.example.org"), ("client", "client.example.org"))}
    rogue_ca = pkimod.make_ca("/C=XX/O=Rogue/CN=Rogue CA")
    files["rogue"] = pkimod.make_host(rogue_ca, "localhost").write(root, "rogue")
    return capath, files


def tls_link(rabbitmq_service, capath, files, front):
    return Link([Broker("localhost", front.port, ssl=True)], username=rabbitmq_service.user,
                password=rabbitmq_service.password, capath=str(capath),
                certificate=str(files["client"][0]), key=str(files["client"][1]), heartbeat=0)


def test_tls_to_a_broker_with_a_verified_certificate_and_client_authentication(rabbitmq_service, tls_pki):
    capath, files = tls_pki
    front = TLSFront(files["broker"], capath, (rabbitmq_service.host, rabbitmq_service.port))
    link = tls_link(rabbitmq_service, capath, files, front)
    try:
        link.open()
        link.send("/queue/apeltools.tls-test", b"over TLS", {"receipt": "r-1", "persistent": "true"})
        link.events.wait(10)
        assert link.events.take()[0] == ["r-1"]
        assert ((("commonName", "client.example.org"),) in front.client_subjects[0])
    finally:
        link.close()
        front.close()


@pytest.mark.parametrize("server", ["wrong", "rogue"])
def test_tls_refuses_a_broker_certificate_for_another_host_or_from_an_untrusted_ca(
        rabbitmq_service, tls_pki, server):
    capath, files = tls_pki
    front = TLSFront(files[server], capath, (rabbitmq_service.host, rabbitmq_service.port))
    link = tls_link(rabbitmq_service, capath, files, front)
    try:
        with pytest.raises(BrokerError, match="no broker reachable"):
            link.open()
        assert link.connection is None
    finally:
        link.close()
        front.close()


def test_tls_context_verifies_chain_and_host_name(tls_pki):
    capath, files = tls_pki
    context = tls_context(ca_bundle(str(capath)), str(files["client"][0]), str(files["client"][1]))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_ca_bundle_of_an_empty_directory_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no CA certificates"):
        ca_bundle(str(tmp_path))


def test_failover_to_the_next_broker(rabbitmq_service):
    link = Link([Broker("127.0.0.1", 1), Broker(rabbitmq_service.host, rabbitmq_service.port)],
                username=rabbitmq_service.user, password=rabbitmq_service.password, heartbeat=0)
    try:
        assert link.open() == Broker(rabbitmq_service.host, rabbitmq_service.port)
    finally:
        link.close()
