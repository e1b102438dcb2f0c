"""The AMS transport: apel-send → the AMS stand-in (tests/services/ams.py) → apel-receive → apel-load, and faults.

Every fault test ends with every message in the incoming queue (or, through
apel-load, every record in the repository exactly once): delivery is at least
once and loading replaces by natural key.
"""

import os
import signal
import subprocess
import time

import pytest
from click.testing import CliRunner
from dirq.QueueSimple import QueueSimple

from apeltools.authz.dnlist import DNList
from apeltools.cli.receive import main as receive_main
from apeltools.cli.send import main as send_main
from apeltools.config import Config
from apeltools.errors import ConfigError
from apeltools.messaging import acceptor as acceptor_module
from apeltools.messaging import crypto, queues
from apeltools.messaging.acceptor import Acceptor
from apeltools.messaging.ams import AmsAuthError, AmsReceiver, AmsSettings
from apeltools.demo.pki import make_host, write_ca_dir
from apeltools.messaging.settings import MessagingSettings
from tests import pki as testpki
from tests.test_messaging_e2e import RECEIVE, Setup, site_jobs

TOPIC, SUBSCRIPTION = "accounting-cpu", "accounting-cpu-sub"


class AmsSetup(Setup):
    """Configuration files of one apel-send → AMS → apel-receive test (the existing files' AMS keys)."""

    def __init__(self, tmp_path, pki, ams, ack_deadline=10, sender_extra="", receiver_extra="", token="secret"):
        self.tmp, self.pki, self.service = tmp_path, pki, ams
        self.incoming, self.reject = tmp_path / "incoming", tmp_path / "reject"
        (tmp_path / "dns").write_text(crypto.signer_dn(pki.site.cert) + "\n")
        ams.create(TOPIC, SUBSCRIPTION, ack_deadline)
        # One CA directory verifies both AMS's TLS certificate and the messages' signers.
        self.capath = write_ca_dir(tmp_path / "capath", [pki.ca, ams.ca])
        token_line = f"token: {token}" if token else ""
        self.config = {}
        for role, identity, destination, extra, queue in (
                ("sender", pki.site, TOPIC, sender_extra, f"path: {tmp_path / 'outgoing'}"),
                ("receiver", pki.other_site, SUBSCRIPTION, receiver_extra, f"incoming_path: {self.incoming}")):
            cert, key = pki.files(identity)
            config = tmp_path / f"{role}.cfg"
            config.write_text(f"""
[{role}]
protocol: AMS
[broker]
host: {ams.endpoint}
[certificates]
certificate: {cert}
key: {key}
capath: {self.capath}
[messaging]
ams_project: accounting
destination: {destination}
{token_line}
{queue}
reject_path: {self.reject}
receipt_timeout: 20
{extra}
""")
            self.config[role] = str(config)

    def receive(self, *options):
        """apel-receive --once: file what waits in the subscription, then exit."""
        result = CliRunner().invoke(receive_main, ["--config", self.config["receiver"], "--dn-file",
                                                   str(self.tmp / "dns"), "--once", "--interval", "0.2", *options])
        assert result.exit_code == 0, result.output
        return result

    def start_receiver(self):
        log = open(self.tmp / "receiver.log", "ab")
        return subprocess.Popen(RECEIVE + ["--config", self.config["receiver"], "--dn-file", str(self.tmp / "dns"),
                                           "--interval", "0.2", "-v"],
                                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, APELTOOLS_CONFIG=""))


def subscription(ams):
    return ams.state()["projects"]["accounting"]["subscriptions"][SUBSCRIPTION]


def test_existing_keys_choose_ams(tmp_path):
    path = tmp_path / "sender.cfg"
    path.write_text("[sender]\nprotocol: AMS\n[broker]\nhost: msg.argo.grnet.gr\nport: 6162\n"
                    "[certificates]\ncapath: /etc/grid-security/certificates\n"
                    "[messaging]\nams_project: accounting\ntoken: t0k3n\ndestination: eu-egi-acc\n")
    config = Config.load(str(path), environ={})
    settings = MessagingSettings.from_config(config, "sender")
    assert settings.transport == "ams" and settings.brokers == []
    ams = AmsSettings.from_config(config, settings.destination)
    assert (ams.host, ams.port, ams.project, ams.token, ams.destination) == \
        ("msg.argo.grnet.gr", 443, "accounting", "t0k3n", "eu-egi-acc")
    assert ams.window == ams.batch * ams.requests_in_flight
    path.write_text("[receiver]\nprotocol: AMS\n[broker]\nhost: msg.argo.grnet.gr\n[messaging]\ndestination: s\n")
    config = Config.load(str(path), environ={})
    assert MessagingSettings.from_config(config, "receiver").transport == "ams"
    with pytest.raises(ConfigError, match="ams_project"):
        AmsSettings.from_config(config, "s")
    path.write_text("[sender]\nprotocol: MQTT\n")
    with pytest.raises(ConfigError, match="STOMP or AMS"):
        MessagingSettings.from_config(Config.load(str(path), environ={}), "sender")


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_publish_send_receive_load_through_ams_exactly_once(db_url, repository_url, tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams)
    site_jobs(db_url, 250)
    names = setup.publish(db_url, 100)
    setup.send()
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 0
    setup.receive()
    assert setup.count() == len(names)  # no fault: each message exactly once
    accepted = setup.elements()
    assert {e["signer"] for e in accepted} == {testpki.SITE_DN}
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates=0)
    state = ams.state()
    assert state["projects"]["accounting"]["topics"][TOPIC] == len(names)
    assert subscription(ams)["offset"] == len(names)


def test_same_message_over_ams_and_local_lands_as_the_same_element(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams)
    [name] = setup.queue(1)
    setup.send()
    setup.receive()
    [element] = setup.elements()
    assert element == {"body": "APEL-summary-job-message: v0.2\nSite: SITE-0\nMonth: 3\n%%\n",
                       "signer": testpki.SITE_DN, "empaid": name}


def test_5xx_and_429_during_a_send_of_thousands_lose_nothing(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams, sender_extra="ams_batch: 50\nams_requests: 4")
    names = setup.queue(3000)
    ams.faults({"kind": "status", "code": 503, "routes": ["publish"], "count": 12},
               {"kind": "status", "code": 429, "retry_after": 0.2, "routes": ["publish"], "count": 6},
               {"kind": "status", "code": 502, "routes": ["publish"], "seconds": 2})
    started = time.monotonic()
    setup.send()
    assert time.monotonic() - started < 60
    assert ams.state()["faults_served"] >= 18
    ams.faults()
    assert ams.state()["projects"]["accounting"]["topics"][TOPIC] == 3000  # refused requests stored nothing
    setup.receive()
    assert sorted(setup.empaids()) == sorted(names)


def test_answers_lost_on_the_way_back_give_duplicates_never_losses(tmp_path, pki, ams):
    """AMS stores a publish and the connection drops before its answer; a pull is served and its
    answer lost: the sender publishes again (a duplicate), the receiver never acknowledges past
    messages it did not see (acknowledgement goes by offset), and waits for their redelivery."""
    setup = AmsSetup(tmp_path, pki, ams, ack_deadline=1, sender_extra="ams_batch: 20",
                     receiver_extra="ams_pull: 20")
    names = setup.queue(200)
    ams.faults({"kind": "drop-after", "routes": ["publish"], "count": 2})
    setup.send()
    published = ams.state()["projects"]["accounting"]["topics"][TOPIC]
    assert published > 200  # the dropped answers' messages went twice
    ams.faults({"kind": "drop-after", "routes": ["pull"], "count": 2})
    setup.receive()
    assert set(setup.empaids()) == set(names)
    assert subscription(ams)["offset"] == published


def test_receiver_killed_between_filing_and_acknowledging_gets_them_again(db_url, repository_url, tmp_path,
                                                                         pki, ams):
    setup = AmsSetup(tmp_path, pki, ams, ack_deadline=2)
    site_jobs(db_url, 120)
    names = setup.publish(db_url, 30)
    setup.send()
    # Acknowledgements hang: the receiver files a batch, then waits for AMS when it is killed.
    ams.faults({"kind": "hang", "delay": 30, "routes": ["acknowledge"]})
    receiver = setup.start_receiver()
    try:
        setup.wait_for(len(names), receiver=receiver)
    finally:
        receiver.send_signal(signal.SIGKILL)
        receiver.wait(30)
    ams.faults()
    assert subscription(ams)["offset"] == 0  # nothing acknowledged
    time.sleep(2.5)
    setup.receive()  # after the deadline AMS delivers everything again
    assert setup.count() == 2 * len(names)
    assert subscription(ams)["offset"] == len(names)
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates=len(names))


def test_receiver_daemon_files_as_messages_come_and_stops_cleanly_on_sigterm(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams)
    receiver = setup.start_receiver()
    try:
        first = setup.queue(40)
        setup.send()
        setup.wait_for(40, receiver=receiver)
        later = setup.queue(25, first=40)
        setup.send()
        setup.wait_for(65, receiver=receiver)
    finally:
        receiver.send_signal(signal.SIGTERM)
        assert receiver.wait(30) == 0
    assert sorted(setup.empaids()) == sorted(first + later)
    assert subscription(ams)["offset"] == 65  # every batch filed was acknowledged before the end
    assert "received 65 messages" in setup.log()


def test_ack_deadline_passing_under_a_slow_disk(tmp_path, pki, ams, monkeypatch):
    """Filing outlasts the ack deadline: the acknowledgement is refused (408), AMS delivers the
    batch again, it is filed again, and nothing is lost."""
    setup = AmsSetup(tmp_path, pki, ams, ack_deadline=1)
    names = setup.queue(10)
    setup.send()
    real = acceptor_module.make_durable
    slow = iter([2.0])

    def slow_disk(paths):
        time.sleep(next(slow, 0.0))
        real(paths)

    monkeypatch.setattr("apeltools.messaging.ams.make_durable", slow_disk)
    settings = AmsSettings.from_config(Config.load(setup.config["receiver"], environ={}), SUBSCRIPTION)
    acceptor = Acceptor(queues.incoming_queue(str(setup.incoming)), queues.reject_queue(str(setup.reject)),
                        str(setup.capath), DNList(str(tmp_path / "dns")))
    receiver = AmsReceiver(settings, acceptor, interval=0.2)
    receiver.run(once=True)
    assert setup.count() == 20 and set(setup.empaids()) == set(names)
    assert receiver.acknowledged == 10 and subscription(ams)["offset"] == 10


def test_wrong_token_is_one_clear_error_without_retries(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams, token="wrong")
    setup.queue(300)
    started = time.monotonic()
    result = CliRunner().invoke(send_main, ["--config", setup.config["sender"]])
    assert result.exit_code == 1
    assert "Error: AMS refused our credentials" in result.output and "401" in result.output
    assert time.monotonic() - started < 5
    assert ams.state()["requests"]["publish"] <= 4  # the requests already in flight, no retry storm
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 300
    result = CliRunner().invoke(receive_main, ["--config", setup.config["receiver"], "--dn-file",
                                               str(tmp_path / "dns"), "--once"])
    assert result.exit_code == 1 and "Error: AMS refused our credentials" in result.output


def test_missing_topic_and_subscription_are_named(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams)
    ams.admin("DELETE", f"/v1/projects/accounting/topics/{TOPIC}", headers={"x-api-key": "secret"})
    setup.queue(3)
    result = CliRunner().invoke(send_main, ["--config", setup.config["sender"]])
    assert result.exit_code == 1
    assert f"AMS has no topic {TOPIC} in project accounting" in result.output
    result = CliRunner().invoke(receive_main, ["--config", setup.config["receiver"], "--dn-file",
                                               str(tmp_path / "dns"), "--once"])
    assert result.exit_code == 1
    assert f"AMS has no subscription {SUBSCRIPTION} in project accounting" in result.output


def test_host_certificate_exchanged_for_a_token_and_again_when_it_expires(tmp_path, pki, ams):
    # AMS's authentication service knows the client by its certificate from AMS's CA.
    client = make_host(ams.ca, "site.example.org", dn="/C=XX/O=apeltools/CN=site.example.org")
    cert, key = client.write(tmp_path, "client")
    ams.set_tokens({"first": ["accounting"], "secret": ["accounting"]},
                   x509={"/C=XX/O=apeltools/CN=site.example.org": "first"})
    setup = AmsSetup(tmp_path, pki, ams, token=None, sender_extra=f"ams_authn_port: {ams.port}")
    names = setup.queue(5)
    config = Config.load(setup.config["sender"], environ={})
    settings = AmsSettings.from_config(config, TOPIC)
    settings.certificate, settings.key = str(cert), str(key)
    client = settings.client()
    assert client.call("GET", f"topics/{TOPIC}", what="t") == {"name": f"/projects/accounting/topics/{TOPIC}"}
    assert client.token == "first"
    # The token expires; the service now gives another one for the certificate.
    ams.set_tokens({"second": ["accounting"], "secret": ["accounting"]},
                   x509={"/C=XX/O=apeltools/CN=site.example.org": "second"})
    assert client.call("GET", f"topics/{TOPIC}", what="t")["name"].endswith(TOPIC)
    assert client.token == "second"
    ams.set_tokens({"secret": ["accounting"]}, x509={})
    with pytest.raises(AmsAuthError):
        client.call("GET", f"topics/{TOPIC}", what="t")
    # Through apel-send, with that certificate as the host certificate.
    ams.set_tokens({"secret": ["accounting"], "third": ["accounting"]},
                   x509={"/C=XX/O=apeltools/CN=site.example.org": "third"})
    site_cert, site_key = pki.files(pki.site)
    sender_cfg = tmp_path / "sender.cfg"
    sender_cfg.write_text(sender_cfg.read_text().replace(site_cert, str(cert)).replace(site_key, str(key)))
    setup.send()
    assert ams.state()["projects"]["accounting"]["topics"][TOPIC] == len(names)


def test_message_too_large_for_a_request_goes_to_the_dead_letters(tmp_path, pki, ams):
    setup = AmsSetup(tmp_path, pki, ams, sender_extra="ams_max_request_bytes: 40000")
    outgoing = QueueSimple(str(tmp_path / "outgoing"))
    small = setup.queue(20)
    large = outgoing.add(("Site: BIG\n" + "x" * 40000 + "\n").encode())
    result = CliRunner().invoke(send_main, ["--config", setup.config["sender"]])
    assert result.exit_code == 1 and "dead-lettered" in result.output
    setup.reject = tmp_path / "outgoing-reject"  # apel-send's dead letters, next to its queue
    [dead] = setup.elements("reject")
    assert dead["empaid"] == large and "exceeds max_message_size" in dead["error"]
    setup.receive()
    assert sorted(setup.empaids()) == sorted(small)
