"""Self-tests of tests/services: one real round trip per service."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import pytest


def test_mariadb_round_trip_and_restart(mariadb_service, tmp_path):
    assert mariadb_service.url == f"mysql://apel@127.0.0.1:{mariadb_service.port}"
    db = f"apeltest_services_{uuid.uuid4().hex[:8]}"
    conn = mariadb_service.connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@sql_mode, @@local_infile")
        sql_mode, local_infile = cur.fetchone()
        assert "ONLY_FULL_GROUP_BY" in sql_mode and "STRICT_TRANS_TABLES" in sql_mode
        assert local_infile == 1
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, site VARCHAR(50))")
        data = tmp_path / "rows.txt"
        data.write_text("1\tSITE-A\n2\tSITE-B\n")
        cur.execute(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE {db}.t")
        conn.commit()
    finally:
        conn.close()

    # Fault-test pattern: stop mid-test, start again with the same data.
    mariadb_service.stop()
    assert not mariadb_service.is_running()
    mariadb_service.start()
    conn = mariadb_service.connect(database=db)
    try:
        cur = conn.cursor()
        cur.execute("SELECT site FROM t ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["SITE-A", "SITE-B"]
        cur.execute(f"DROP DATABASE {db}")
    finally:
        conn.close()


def _stomp_round_trip(service):
    import stomp

    received: list[str] = []
    got = threading.Event()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            received.append(frame.body)
            got.set()

    queue = f"/queue/apeltest.services.{uuid.uuid4().hex[:8]}"
    conn = stomp.Connection([(service.host, service.port)], heartbeats=(0, 0))
    conn.set_listener("test", Listener())
    conn.connect(service.user, service.password, wait=True)
    try:
        conn.subscribe(queue, id="1", ack="auto")
        conn.send(queue, "APEL-summary-job-message: v0.3\n%%\n", headers={"persistent": "true"})
        assert got.wait(15), f"no message back from {service.url}"
    finally:
        conn.disconnect()
    assert received == ["APEL-summary-job-message: v0.3\n%%\n"]


def test_rabbitmq_stomp_round_trip(rabbitmq_service):
    _stomp_round_trip(rabbitmq_service)


def test_activemq_stomp_round_trip(activemq_service):
    _stomp_round_trip(activemq_service)


def test_slapd_finds_sample_brokers(slapd_service):
    import ldap3

    slapd_service.load_sample()
    server = ldap3.Server(slapd_service.host, port=slapd_service.port, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, auto_bind=True)  # anonymous
    try:
        conn.search("o=grid", "(&(objectClass=GlueService)(GlueServiceType=msg.broker.stomp))",
                    attributes=["GlueServiceEndpoint", "GlueServiceUniqueID"])
        # Other tests may load entries of their own into the shared server: look for ours.
        endpoints = {str(e.GlueServiceEndpoint) for e in conn.entries}
        assert {"stomp://broker-prod.example.org:6163/", "stomp://broker-test.example.org:6163/"} <= endpoints
        conn.search("o=grid", "(&(GlueServiceDataKey=cluster)"
                    "(GlueChunkKey=GlueServiceUniqueID=broker-test.example.org_msg.broker.stomp))",
                    attributes=["GlueServiceDataValue"])
        assert [str(e.GlueServiceDataValue) for e in conn.entries] == ["TEST-NWOB"]
        conn.search("GLUE2GroupID=grid,o=glue",
                    "(&(objectClass=GLUE2Endpoint)(GLUE2EndpointInterfaceName=msg.broker.stomp-ssl))",
                    attributes=["GLUE2EndpointURL"])
        assert len(conn.entries) >= 2
        conn.search("o=grid", "(objectClass=GlueSubCluster)", attributes=["GlueHostBenchmarkSI00"])
        assert "2500" in [str(e.GlueHostBenchmarkSI00) for e in conn.entries]
    finally:
        conn.unbind()


def _get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def test_gocdb_pages_errors_and_hang(gocdb):
    status, body = _get(gocdb.endpoint_url("gLite-APEL"))
    assert status == 200
    page1 = ET.fromstring(body)
    hosts = [e.findtext("HOSTNAME") for e in page1.iter("SERVICE_ENDPOINT")]
    assert len(hosts) == 3
    next_url = page1.find("meta/link[@rel='next']").get("href")
    assert next_url.startswith(gocdb.base_url)

    page2 = ET.fromstring(_get(next_url)[1])
    assert page2.find("meta/link[@rel='next']") is None
    assert [e.findtext("SITENAME") for e in page2.iter("SERVICE_ENDPOINT")] == ["SITE-C", "SITE-D"]

    assert ET.fromstring(_get(gocdb.endpoint_url("no-such-type"))[1]).findall("*") == []
    err = ET.fromstring(_get(gocdb.url + "?method=get_nonexistent")[1])
    assert err.findtext("error")

    gocdb.mode = "http500"
    with pytest.raises(urllib.error.HTTPError) as exc:
        _get(gocdb.endpoint_url("gLite-APEL"))
    assert exc.value.code == 500

    gocdb.mode = "hang"
    start = time.monotonic()
    with pytest.raises(OSError):  # socket.timeout / URLError(timeout)
        _get(gocdb.endpoint_url("gLite-APEL"), timeout=1)
    assert time.monotonic() - start < 5
    assert len(gocdb.requests) == 6
