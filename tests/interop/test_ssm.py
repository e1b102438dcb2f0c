"""apel-receive and apel-send beside the deployed SSM, run from its public sources (dev only).

Skipped unless both are given:

    APELTOOLS_DEPLOYED_SSM     a checkout of github.com/apel/ssm (4.0.0 was checked)
    APELTOOLS_DEPLOYED_PYTHON  a Python with SSM's dependencies

for example (the venv of tests/interop/test_deployed.py serves both)::

    git clone https://github.com/apel/ssm /tmp/ssm
    python3 -m venv /tmp/apel-venv
    /tmp/apel-venv/bin/pip install 'stomp.py<5' 'argo-ams-library>=0.5.5' 'pyopenssl<23.3.0' \\
        'cryptography<41.0.0' python-daemon setuptools dirq
    APELTOOLS_DEPLOYED_SSM=/tmp/ssm APELTOOLS_DEPLOYED_PYTHON=/tmp/apel-venv/bin/python \\
        tests/run tests/interop/test_ssm.py

SSM's requirements.txt allows stomp.py up to 8.1.0, but SSM 4.0.0 passes ``use_ssl``
to ``stomp.Connection``, which stomp.py 8.1.0 refuses (TypeError): it runs with the 4.1
series (4.1.24 checked), which still takes it. It needs no python-ldap since 4.0.0.
SSM needs the ``openssl`` command (it signs, verifies and encrypts with it).

What runs: SSM's own programs (``bin/sender.py`` is ssmsend, ``bin/receiver.py``
ssmreceive, as a daemon with its pidfile), never a copy of their code. Each test
writes one sender.cfg and one receiver.cfg in SSM's format (the keys of its
``conf/`` files) and both sides read the same files, as an operator switching one
component keeps them: ssmsend or apel-send reads sender.cfg, ssmreceive or
apel-receive reads receiver.cfg. Over the test RabbitMQ (STOMP, without TLS, as the
other broker tests) and over the AMS stand-in (HTTPS), with messages signed, or
signed and then encrypted to the receiver's certificate (``[certificates] server_cert``).
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from dirq.QueueSimple import QueueSimple

from apeltools import db as databases
from apeltools.demo import sample
from apeltools.cli.load import main as load_main
from apeltools.messaging import crypto, queues
from apeltools.messaging.brokers import Broker
from apeltools.messaging.connection import Link
from apeltools.messaging.large_message_filer import LARGE_MESSAGE
from apeltools.demo.pki import write_ca_dir
from apeltools.records import text
from tests import pki as testpki
from tests.conftest import queue_elements

SSM_SRC = os.environ.get("APELTOOLS_DEPLOYED_SSM", "")
SSM_PYTHON = os.environ.get("APELTOOLS_DEPLOYED_PYTHON", "")
READ_QUEUE = Path(__file__).with_name("ssm_queue.py")
RECEIVE = [sys.executable, "-c", "from apeltools.cli.receive import main; main()"]
SEND = [sys.executable, "-c", "from apeltools.cli.send import main; main()"]
ELEMENT_LAYOUT = {(8, 14, ("body", "empaid", "signer"))}

pytestmark = pytest.mark.skipif(not (SSM_SRC and SSM_PYTHON),
                                reason="set APELTOOLS_DEPLOYED_SSM and APELTOOLS_DEPLOYED_PYTHON to run")

ENCRYPTION = pytest.mark.parametrize("encrypt", [False, True], ids=["signed", "encrypted"])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return testpki.build(tmp_path_factory.mktemp("pki"))


def _bodies():
    """Messages of every kind a site sends, 12 of them, 740 jobs in all; one is large enough
    (over 256 KiB) for apel-receive to file it in its large-message filer process."""
    rng = sample.rng_for(12)
    large = text.write_message(text.JOB_V04, sample.jobs(sample.SITES[0], 2026, 11, 500, rng))
    assert len(large) > LARGE_MESSAGE
    bodies = [large]
    for number, site in enumerate(sample.SITES):
        jobs = sample.jobs(site, 2026, 10, 80, rng)
        bodies += [text.write_message(text.JOB_V03, jobs[:30]), text.write_message(text.JOB_V04, jobs[30:60]),
                   text.write_message(text.JOB_V03, jobs[60:]).replace("v0.3", "v0.2", 1)]
        if number < 2:
            bodies.append(text.write_message(text.SUMMARY_V02, sample.summaries(site, 2026, 10, jobs)))
    return bodies


def _ssm_config(role, protocol, broker_keys, identity, capath, certificates, messaging, logfile, tail=""):
    """A sender.cfg or receiver.cfg with the sections and keys of SSM's conf/ files."""
    cert, key = identity
    return f"""[{role}]
protocol: {protocol}
[broker]
{broker_keys}
[certificates]
certificate: {cert}
key: {key}
capath: {capath}
{certificates}
[messaging]
{messaging}
[logging]
logfile: {logfile}
level: INFO
console: false
{tail}"""


class Ends:
    """One sender.cfg and one receiver.cfg in SSM's format, the directories they name, the DN list."""

    def __init__(self, tmp_path, pki, encrypt, broker=None, ams=None):
        self.tmp, self.broker, self.ams = tmp_path, broker, ams
        self.outgoing = tmp_path / "outgoing"
        self.spool = tmp_path / "spool"  # the receiver's [messaging] path: incoming/ and reject/ in it
        self.pidfile = tmp_path / "ssmreceive.pid"
        self.dns = tmp_path / "dns"
        self.dns.write_text(crypto.signer_dn(pki.site.cert) + "\n")
        receiver_cert, receiver_key = pki.files(pki.other_site)
        if ams is None:
            protocol, broker_keys = "STOMP", f"host: {broker.host}\nport: {broker.port}\nuse_ssl: false"
            destination = subscription = f"/queue/apeltools.ssm.{uuid.uuid4().hex[:10]}"
            ams_keys, capath = "", pki.capath
        else:
            protocol, broker_keys = "AMS", f"host: {ams.endpoint}\nuse_ssl: true"
            # Names of this test's own: a pull the receiver of an earlier test left waiting on the
            # stand-in would otherwise take a message from a subscription of the same name.
            destination = f"accounting-ssm-{uuid.uuid4().hex[:10]}"
            subscription = f"{destination}-sub"
            ams.create(destination, subscription)
            ams_keys = "ams_project: accounting\ntoken: secret"
            # One CA directory for the messages' signers and the AMS host's certificate.
            capath = write_ca_dir(tmp_path / "capath", [pki.ca, ams.ca])
        self.capath = capath
        self.destination = destination
        self.sender = tmp_path / "sender.cfg"
        self.sender.write_text(_ssm_config(
            "sender", protocol, broker_keys, pki.files(pki.site), capath,
            f"server_cert: {receiver_cert}" if encrypt else "",
            f"destination: {destination}\n{ams_keys}\npath: {self.outgoing}\npath_type: dirq",
            tmp_path / "sender.log"))
        self.receiver = tmp_path / "receiver.cfg"
        self.receiver.write_text(_ssm_config(
            "receiver", protocol, broker_keys, (receiver_cert, receiver_key), capath, "check_crls: false",
            f"destination: {subscription}\n{ams_keys}\npath: {self.spool}",
            tmp_path / "receiver.log", f"[daemon]\npidfile: {self.pidfile}\n"))

    def queue(self, bodies):
        """The messages into the outgoing queue, as apel-publish and the deployed client write it;
        their element names (the empa-ids they are sent with)."""
        outgoing = QueueSimple(str(self.outgoing))
        return [outgoing.add(body.encode()) for body in bodies]

    def log(self, which):
        path = self.tmp / f"{which}.log"
        return path.read_text() if path.exists() else ""

    def ssm_env(self):
        # SSM reaches AMS through requests, which trusts this CA directory for HTTPS.
        return dict(os.environ, PYTHONPATH=SSM_SRC, REQUESTS_CA_BUNDLE=str(self.capath))

    def ssmsend(self):
        done = subprocess.run([SSM_PYTHON, str(Path(SSM_SRC) / "bin" / "sender.py"), "-c", str(self.sender)],
                              env=self.ssm_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"ssmsend failed:\n{done.stdout}{done.stderr}\n{self.log('sender')}"

    def apel_send(self):
        done = subprocess.run(SEND + ["--config", str(self.sender)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"apel-send failed:\n{done.stderr}\n{self.log('sender')}"

    def incoming(self):
        return queues.incoming_queue(self.spool / "incoming")

    def count(self, which="incoming"):
        path = self.spool / which
        return sum(1 for _ in queues.incoming_queue(path)) if path.exists() else 0

    def wait_for(self, count, alive, which="incoming", timeout=120):
        deadline = time.monotonic() + timeout
        while self.count(which) < count and time.monotonic() < deadline:
            assert alive(), f"the receiver ended:\n{self.log('receiver')[-3000:]}"
            time.sleep(0.2)
        assert self.count(which) == count, (f"{self.count()} of {count} filed, {self.count('reject')} rejected; "
                                       f"the receiver's warnings:\n{self.warnings()}\n"
                                       f"AMS: {self.ams.state() if self.ams else '-'}")

    def warnings(self):
        """The receiver log's lines of level WARNING and above (both programs log level names)."""
        return "\n".join(line for line in self.log("receiver").splitlines()
                         if any(level in line for level in ("WARNING", "ERROR", "CRITICAL", "Traceback")))

    def ssm_elements(self, which="incoming"):
        """A queue as the deployed side reads it: dirq with SSM's schema, in SSM's Python."""
        done = subprocess.run([SSM_PYTHON, str(READ_QUEUE), SSM_SRC, str(self.spool / which), which],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


class ApelReceive:
    """apel-receive reading receiver.cfg, as a process of its own until SIGTERM."""

    def __init__(self, ends):
        self.ends = ends
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(RECEIVE + ["--config", str(self.ends.receiver), "--dn-file",
                                                   str(self.ends.dns), "-v"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def alive(self):
        return self.process.poll() is None

    def __exit__(self, *exc):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.ends.log("receiver")[-3000:]


class SsmReceive:
    """ssmreceive reading receiver.cfg and the DN list: it makes itself a daemon and writes its
    pidfile once subscribed; SIGTERM ends it (it removes the pidfile)."""

    def __init__(self, ends):
        self.ends = ends
        self.pid = None

    def __enter__(self):
        started = subprocess.run(
            [SSM_PYTHON, str(Path(SSM_SRC) / "bin" / "receiver.py"), "-c", str(self.ends.receiver),
             "-d", str(self.ends.dns)],
            env=self.ends.ssm_env(), capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, f"ssmreceive: {started.stdout}{started.stderr}"
        deadline = time.monotonic() + 30
        # The daemon writes its pidfile, then connects and logs "Subscribing to" (STOMP) or
        # "Will subscribe to" (AMS).
        while "ubscrib" not in self.ends.log("receiver"):
            if time.monotonic() > deadline:
                self._stop()
                pytest.fail(f"ssmreceive did not start:\n{self.ends.log('receiver')}")
            time.sleep(0.1)
        self.pid = int(self.ends.pidfile.read_text())
        return self

    def alive(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def __exit__(self, *exc):
        self._stop()

    def _stop(self):
        if self.pid is None and self.ends.pidfile.exists():
            self.pid = int(self.ends.pidfile.read_text())
        if self.pid is not None and self.alive():
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
                pytest.fail(f"ssmreceive did not stop on SIGTERM:\n{self.ends.log('receiver')[-3000:]}")


def _layout(queue_path):
    """The shape of a directory queue: (directory name length, element name length, files) of
    each element, as dirq's Queue lays them out (SSM's receiver and apel-receive alike)."""
    return {(len(element.parent.name), len(element.name), tuple(sorted(f.name for f in element.iterdir())))
            for element in Path(queue_path).glob("[0-9a-f]" * 8 + "/*")}


def _assert_filed_once(elements, names, bodies):
    """Every message filed once, as sent, with the sender's host DN and the element name it had
    in the sender's outgoing queue as its empa-id."""
    assert sorted(e["empaid"] for e in elements) == sorted(names)
    assert {e["signer"] for e in elements} == {testpki.SITE_DN}
    by_empaid = {e["empaid"]: e["body"] for e in elements}
    assert [by_empaid[name] for name in names] == bodies


def _ssm_to_apel_receive(ends):
    bodies = _bodies()
    names = ends.queue(bodies)
    ends.ssmsend()
    assert QueueSimple(str(ends.outgoing)).count() == 0  # all sent
    with ApelReceive(ends) as receiver:
        ends.wait_for(len(bodies), receiver.alive)
    assert ends.count("reject") == 0
    assert _layout(ends.spool / "incoming") == ELEMENT_LAYOUT
    _assert_filed_once(queue_elements(ends.incoming()), names, bodies)
    # The deployed side reads apel-receive's queue as its own (dirq, SSM's schema).
    _assert_filed_once(ends.ssm_elements(), names, bodies)
    return len(bodies)


def _apel_send_to_ssm(ends, db_url):
    bodies = _bodies()
    names = ends.queue(bodies)
    # Sent first, so that they wait on the broker: SSM's receiver, with the stomp.py it runs with,
    # loses its connection after 10 s without a frame (its socket timeout) and does not notice.
    ends.apel_send()
    with SsmReceive(ends) as receiver:
        ends.wait_for(len(bodies), receiver.alive)
    assert ends.count("reject") == 0
    # SSM's receiver files the verified text with its trailing white space stripped, whoever
    # signed it (ssm.crypto.verify); the records are the same.
    filed = [body.rstrip() for body in bodies]
    assert _layout(ends.spool / "incoming") == ELEMENT_LAYOUT
    _assert_filed_once(ends.ssm_elements(), names, filed)
    _assert_filed_once(queue_elements(ends.incoming()), names, filed)
    # apel-load reads SSM's incoming queue where it is: every message loaded, none rejected.
    rejects = ends.tmp / "load-reject"
    result = CliRunner().invoke(load_main, ["--db", db_url, "--queue", str(ends.spool / "incoming"),
                                            "--reject", str(rejects)])
    assert result.exit_code == 0, result.output
    assert ends.count() == 0 and sum(1 for _ in queues.reject_queue(rejects)) == 0
    with databases.connect(db_url) as db:
        loaded = db.query("SELECT EmpaId, SignerDN, RejectedCount FROM LoadedMessages")
        jobs = db.query("SELECT COUNT(*) FROM VJobRecords")[0][0]
        summaries = db.query("SELECT SUM(NumberOfJobs) FROM VSummaries")[0][0]
    assert sorted(empaid for empaid, _, _ in loaded) == sorted(names)
    assert {(signer, int(rejected)) for _, signer, rejected in loaded} == {(testpki.SITE_DN, 0)}
    assert (jobs, int(summaries)) == (740, 160)
    return len(bodies)


@ENCRYPTION
def test_ssmsend_to_apel_receive_over_rabbitmq(tmp_path, pki, rabbitmq_service, encrypt):
    """ssmsend → RabbitMQ → apel-receive: every message verified (and decrypted), filed once."""
    ends = Ends(tmp_path, pki, encrypt, broker=rabbitmq_service)
    assert _ssm_to_apel_receive(ends) == 12
    if encrypt:
        assert "Messages will be encrypted using" in ends.log("sender")


@ENCRYPTION
def test_apel_send_to_ssmreceive_over_rabbitmq_then_apel_load(tmp_path, pki, rabbitmq_service, db_url, encrypt):
    """apel-send → RabbitMQ → ssmreceive: every message verified (and decrypted) by SSM, filed
    once in its incoming queue, which apel-load then loads."""
    ends = Ends(tmp_path, pki, encrypt, broker=rabbitmq_service)
    assert _apel_send_to_ssm(ends, db_url) == 12
    assert ends.log("receiver").count("Valid signer") == 12
    if encrypt:
        assert ends.log("receiver").count("Decrypting message") == 12


@ENCRYPTION
def test_ssmsend_to_apel_receive_over_ams(tmp_path, pki, ams, encrypt):
    """ssmsend → AMS (the stand-in) → apel-receive, with a token."""
    ends = Ends(tmp_path, pki, encrypt, ams=ams)
    assert _ssm_to_apel_receive(ends) == 12
    assert ams.state()["projects"]["accounting"]["topics"][ends.destination] == 12


@ENCRYPTION
def test_apel_send_to_ssmreceive_over_ams_then_apel_load(tmp_path, pki, ams, db_url, encrypt):
    """apel-send → AMS (the stand-in) → ssmreceive, then apel-load over SSM's incoming queue."""
    ends = Ends(tmp_path, pki, encrypt, ams=ams)
    assert _apel_send_to_ssm(ends, db_url) == 12


def test_frames_without_empa_id_and_strangers_are_filed_alike(tmp_path, pki, rabbitmq_service):
    """The same frames to ssmreceive and to apel-receive: those without an empa-id header are
    filed by both with empaid 'noid' (what the deployed loader needs), and one signed by a host
    not in the DN list is rejected by both, as received, with its signer and empa-id."""
    bodies = _bodies()[1:4]
    stranger = crypto.sign(b"APEL-summary-job-message: v0.2\n%%\n", pki.other_site.cert_pem, pki.other_site.key_pem)
    filed = {}
    for receiver in (SsmReceive, ApelReceive):
        (tmp_path / receiver.__name__).mkdir()
        ends = Ends(tmp_path / receiver.__name__, pki, False, broker=rabbitmq_service)
        link = Link([Broker(ends.broker.host, ends.broker.port)], username=ends.broker.user,
                    password=ends.broker.password, heartbeat=0)
        link.open()
        for body in bodies:
            link.send(ends.destination, crypto.sign(body.encode(), pki.site.cert_pem, pki.site.key_pem),
                      {"persistent": "true"})
        link.send(ends.destination, stranger, {"empa-id": "stranger", "persistent": "true"})
        link.close()
        with receiver(ends) as running:
            ends.wait_for(len(bodies), running.alive)
            ends.wait_for(1, running.alive, "reject")
        accepted = ends.ssm_elements()
        assert sorted(e["body"] for e in accepted) == sorted(body.rstrip() if receiver is SsmReceive else body
                                                             for body in bodies)
        [rejected] = ends.ssm_elements("reject")
        filed[receiver.__name__] = ({(e["empaid"], e["signer"]) for e in accepted},
                                    rejected["body"].encode() == stranger,
                                    (rejected["empaid"], rejected["signer"]))
    assert filed["SsmReceive"] == filed["ApelReceive"] == (
        {("noid", testpki.SITE_DN)}, True, ("stranger", crypto.signer_dn(pki.other_site.cert)))
