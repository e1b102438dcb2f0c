"""End to end: apel-publish → apel-send → real broker (RabbitMQ, ActiveMQ) → apel-receive → apel-load, and faults.

apel-receive runs as a real subprocess, so that it can be stopped with
SIGTERM or killed with SIGKILL; apel-publish, apel-send and apel-load run
in-process (CliRunner), apel-send as the library's Sender in a thread when a
fault must hit it mid-run. The fault tests end in the repository database:
every published record is there exactly once (delivery is at least once, and
loading replaces by natural key), every message is in LoadedMessages, and
nothing is rejected.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from click.testing import CliRunner
from dirq.queue import Queue
from dirq.QueueSimple import QueueSimple

from apeltools import db as databases
from apeltools.cli.load import main as load_main
from apeltools.cli.publish import main as publish_main
from apeltools.cli.send import main as send_main
from apeltools.messaging import crypto, queues
from apeltools.messaging.brokers import Broker
from apeltools.messaging.connection import Link
from apeltools.messaging.large_message_filer import LARGE_MESSAGE
from apeltools.messaging.sender import Sender, StompChannel, signer_for
from apeltools.records.types import JOB
from apeltools.retry import Backoff
from apeltools.summariser import summarise
from tests import pki as testpki
from tests.conftest import queue_elements
from tests.test_summariser import job

RECEIVE = [sys.executable, "-c", "from apeltools.cli.receive import main; main()"]
BODY = "APEL-summary-job-message: v0.2\nSite: SITE-{i}\nMonth: 3\n%%\n"
JOBS = ("SELECT Site, LocalJobId, SubmitHost, GlobalUserName, FQAN, WallDuration, CpuDuration, StartTime, "
        "EndTime, ServiceLevelType, ServiceLevel FROM VJobRecords")


@pytest.fixture(params=["rabbitmq", "activemq"])
def broker(request):
    return request.getfixturevalue(f"{request.param}_service")


def site_jobs(url, count):
    """``count`` grid job records of three sites in the site database."""
    rng = random.Random(count)
    records = [job(rng, f"SITE-{n % 3}", 2026, 9, n, InfrastructureType="grid") for n in range(count)]
    with databases.connect(url) as db:
        db.store(JOB, records, "/CN=site-database")
        summarise(db)  # sync records are counted from the summaries


def rows(url, sql):
    with databases.connect(url) as db:
        return sorted(tuple(str(v) for v in row) for row in db.query(sql))


class Setup:
    """Directories, configuration files and helpers of one sender → broker → receiver test."""

    def __init__(self, tmp_path, pki, service, incoming=None):
        self.tmp, self.pki, self.service = tmp_path, pki, service
        self.destination = f"/queue/apeltools.e2e.{uuid.uuid4().hex[:10]}"
        self.incoming = incoming or tmp_path / "incoming"
        self.reject = tmp_path / "reject"
        (tmp_path / "dns").write_text(crypto.signer_dn(pki.site.cert) + "\n")
        login = "" if service.name == "activemq" else "username: guest\npassword: guest\n"
        self.config = {}
        for role, identity, path in (("sender", pki.site, tmp_path / "outgoing"),
                                     ("receiver", pki.other_site, self.incoming)):
            cert, key = pki.files(identity)
            config = tmp_path / f"{role}.cfg"
            config.write_text(f"""
[broker]
host: {service.host}
port: {service.port}
heartbeat: 2
{login}
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
[messaging]
destination: {self.destination}
{"incoming_path" if role == "receiver" else "path"}: {path}
reject_path: {self.reject}
receipt_timeout: 5
""")
            self.config[role] = str(config)

    def publish(self, db_url, per_message, *options):
        """apel-publish every job of the site database into the outgoing queue; returns the element names."""
        result = CliRunner().invoke(publish_main, ["jobs", "--db", db_url, "--queue", str(self.tmp / "outgoing"),
                                                   "--interval", "all", "--records-per-message", str(per_message),
                                                   *options])
        assert result.exit_code == 0, result.output
        return list(QueueSimple(str(self.tmp / "outgoing")))

    def load(self, repository_url):
        """apel-load the incoming queue into the repository database; nothing may be rejected."""
        rejects = self.tmp / "load-reject"
        result = CliRunner().invoke(load_main, ["--db", repository_url, "--queue", str(self.incoming),
                                                "--reject", str(rejects)])
        assert result.exit_code == 0, result.output
        assert sum(1 for _ in Queue(str(rejects))) == 0, result.output
        assert self.count() == 0  # every element loaded and removed

    def assert_loaded_once(self, db_url, repository_url, names, duplicates):
        """Every published job exactly once, every message loaded, all from the sender's host DN."""
        assert rows(repository_url, JOBS) == rows(db_url, JOBS)
        assert rows(repository_url, "SELECT DISTINCT PublisherDN FROM VJobRecordsExt") == [(testpki.SITE_DN,)]
        loaded = rows(repository_url, "SELECT EmpaId, SignerDN, RejectedCount FROM LoadedMessages")
        assert {empaid for empaid, _, _ in loaded} == set(names)
        assert {(signer, rejected) for _, signer, rejected in loaded} == {(testpki.SITE_DN, "0")}
        # At least once: a message delivered twice is loaded twice, onto the same rows.
        assert len(loaded) == len(names) + duplicates

    def queue(self, count, first=0):
        outgoing = QueueSimple(str(self.tmp / "outgoing"))
        return [outgoing.add(BODY.format(i=i).encode()) for i in range(first, first + count)]

    def send(self):
        result = CliRunner().invoke(send_main, ["--config", self.config["sender"]])
        assert result.exit_code == 0, result.output
        return result

    def start_receiver(self):
        log = open(self.tmp / "receiver.log", "ab")
        return subprocess.Popen(RECEIVE + ["--config", self.config["receiver"], "--dn-file",
                                           str(self.tmp / "dns"), "-v"],
                                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, APELTOOLS_CONFIG=""))

    def log(self):
        return (self.tmp / "receiver.log").read_text()

    def elements(self, which="incoming"):
        path, schema = {"incoming": (self.incoming, queues.INCOMING_SCHEMA),
                        "reject": (self.reject, queues.REJECT_SCHEMA)}[which]
        return queue_elements(Queue(str(path), schema=schema))  # dirq's own class reads what we wrote

    def empaids(self):
        """The empa-id of every incoming element, read without locking (cheap enough to poll)."""
        found = []
        for name in Queue(str(self.incoming)):
            try:
                found.append((self.incoming / name / "empaid").read_text())
            except FileNotFoundError:
                pass  # being written
        return found

    def count(self, which="incoming"):
        # Iterating, not Queue.count(): that also counts the temporary directories of failed writes.
        return sum(1 for _ in Queue(str(self.incoming if which == "incoming" else self.reject)))

    def wait_for(self, count, which="incoming", timeout=60, receiver=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(which) >= count:
                return
            if receiver is not None and receiver.poll() is not None:
                pytest.fail(f"apel-receive exited {receiver.returncode}:\n{self.log()}")
            time.sleep(0.2)
        pytest.fail(f"only {self.count(which)} of {count} messages arrived in {which}:\n{self.log()[-3000:]}")


    def wait_for_all(self, names, timeout=60, receiver=None):
        """Until every one of ``names`` is in the incoming queue (duplicates do not count twice)."""
        deadline = time.monotonic() + timeout
        missing = set(names)
        while missing and time.monotonic() < deadline:
            missing -= set(self.empaids())
            if receiver is not None and receiver.poll() is not None:
                pytest.fail(f"apel-receive exited {receiver.returncode}:\n{self.log()}")
            time.sleep(0.5)
        assert not missing, f"{len(missing)} messages never arrived:\n{self.log()[-3000:]}"


def stop(receiver):
    receiver.send_signal(signal.SIGTERM)
    return receiver.wait(timeout=60)


def test_send_and_receive_through_a_real_broker(broker, tmp_path, pki):
    setup = Setup(tmp_path, pki, broker)
    names = setup.queue(30)
    setup.send()
    # Two bad messages straight onto the broker: tampered, and from a signer not in the DN list.
    link = Link([Broker(broker.host, broker.port)], username=broker.user, password=broker.password,
                heartbeat=0)
    link.open()
    good = crypto.sign(b"Site: X\n", pki.site.cert_pem, pki.site.key_pem)
    link.send(setup.destination, good.replace(b"Site: X", b"Site: Y"), {"empa-id": "tampered", "persistent": "true"})
    link.send(setup.destination, crypto.sign(b"Site: X\n", pki.other_site.cert_pem, pki.other_site.key_pem),
              {"empa-id": "stranger", "persistent": "true"})
    link.close()
    receiver = setup.start_receiver()
    try:
        setup.wait_for(30, receiver=receiver)
        setup.wait_for(2, "reject", receiver=receiver)
    finally:
        assert stop(receiver) == 0
    accepted = setup.elements()
    assert sorted(e["empaid"] for e in accepted) == sorted(names)
    assert {e["signer"] for e in accepted} == {testpki.SITE_DN}
    assert {e["body"] for e in accepted} == {BODY.format(i=i) for i in range(30)}
    reasons = {e["empaid"]: e["error"] for e in setup.elements("reject")}
    assert "signature not verified" in reasons["tampered"]
    assert "is not in the DN list" in reasons["stranger"]
    assert "received 32 messages" in setup.log() and "30 accepted, 2 rejected" in setup.log()


def test_large_messages_are_filed_by_the_helper_process(broker, tmp_path, pki):
    """Messages of LARGE_MESSAGE and more are verified and filed by apel-receive's helper
    process (its elements carry the next random digit in their names) while it has room,
    small ones by apel-receive itself; the tally counts both; bad large ones are rejected."""
    setup = Setup(tmp_path, pki, broker)
    small = setup.queue(4)
    setup.send()
    line = b"Site: BIG\nLocalJobId: %d\nWallDuration: 3600\n%%%%\n"
    bodies = {f"large-{n}": b"".join(line % i for i in range(n * 1000, n * 1000 + 12000)) for n in range(4)}
    assert all(len(body) > LARGE_MESSAGE for body in bodies.values())
    link = Link([Broker(broker.host, broker.port)], username=broker.user, password=broker.password,
                heartbeat=0)
    link.open()
    for empaid, body in bodies.items():
        link.send(setup.destination, crypto.sign(body, pki.site.cert_pem, pki.site.key_pem),
                  {"empa-id": empaid, "persistent": "true"})
    tampered = crypto.sign(bodies["large-0"], pki.site.cert_pem, pki.site.key_pem).replace(b"Site: BIG", b"Site: BAD", 1)
    link.send(setup.destination, tampered, {"empa-id": "large-tampered", "persistent": "true"})
    link.close()
    receiver = setup.start_receiver()
    try:
        setup.wait_for(8, receiver=receiver)
        setup.wait_for(1, "reject", receiver=receiver)
    finally:
        assert stop(receiver) == 0
    names = {}
    queue = Queue(str(setup.incoming), schema=queues.INCOMING_SCHEMA)
    for name in queue:
        assert queue.lock(name)
        names[queue.get(name)["empaid"]] = name
        queue.unlock(name)
    assert set(names) == set(small) | set(bodies)
    accepted = {e["empaid"]: e["body"] for e in setup.elements()}
    assert {empaid: accepted[empaid].encode() for empaid in bodies} == bodies
    [ours] = {names[empaid][-1] for empaid in small}
    helpers = "%x" % ((int(ours, 16) + 1) % 16)
    large = [names[empaid][-1] for empaid in bodies]
    assert helpers in large and set(large) <= {ours, helpers}  # beyond DEPTH waiting, filed here
    [reject] = setup.elements("reject")
    assert reject["empaid"] == "large-tampered" and "signature not verified" in reject["error"]
    assert "received 9 messages" in setup.log() and "8 accepted, 1 rejected" in setup.log()
    assert "filing its messages here" not in setup.log()


@pytest.mark.parametrize("service, db_url", [
    ("rabbitmq", "sqlite"),
    ("activemq", "sqlite"),
    pytest.param("rabbitmq", "mysql", marks=pytest.mark.mariadb),
], indirect=["db_url"])
def test_publish_send_receive_load_through_a_real_broker(request, service, db_url, repository_url, tmp_path, pki):
    setup = Setup(tmp_path, pki, request.getfixturevalue(f"{service}_service"))
    site_jobs(db_url, 250)
    names = setup.publish(db_url, 100)
    assert len(names) == 4  # 100 + 100 + 50 jobs, and the sync records of the month
    setup.send()
    receiver = setup.start_receiver()
    try:
        setup.wait_for_all(names, receiver=receiver)
    finally:
        assert stop(receiver) == 0
    duplicates = setup.count() - len(names)
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates)
    synced = rows(repository_url, "SELECT Site, NumberOfJobs, Month, Year, PublisherDN FROM VSyncRecordsExt")
    assert sum(int(jobs) for _, jobs, _, _, _ in synced) == 250
    assert {(site, month, year, dn) for site, _, month, year, dn in synced} == \
        {(f"SITE-{n}", "9", "2026", testpki.SITE_DN) for n in range(3)}


def test_local_transport_through_the_programs(tmp_path, pki):
    cert, key = pki.files(pki.site)
    (tmp_path / "dns").write_text(crypto.signer_dn(pki.site.cert) + "\n")
    config = tmp_path / "local.cfg"
    config.write_text(f"""
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
[messaging]
path: {tmp_path}/outgoing
wire_path: {tmp_path}/wire
dn_file: {tmp_path}/dns
""")
    outgoing = QueueSimple(str(tmp_path / "outgoing"))
    names = [outgoing.add(BODY.format(i=i).encode()) for i in range(5)]
    assert CliRunner().invoke(send_main, ["--config", str(config)]).exit_code == 0
    receive_config = config.read_text().replace(f"path: {tmp_path}/outgoing", f"incoming_path: {tmp_path}/incoming")
    (tmp_path / "receiver.cfg").write_text(receive_config)
    done = subprocess.run(RECEIVE + ["--config", str(tmp_path / "receiver.cfg"), "--once"], capture_output=True)
    assert done.returncode == 0 and done.stderr == b""  # quiet success
    incoming = Queue(str(tmp_path / "incoming"), schema=queues.INCOMING_SCHEMA)
    assert sorted(incoming.get(n)["empaid"] for n in incoming if incoming.lock(n)) == sorted(names)


def received_names(setup):
    """The empa-ids in the incoming queue and how many of them came more than once."""
    empaids = [e["empaid"] for e in setup.elements()]
    return set(empaids), len(empaids) - len(set(empaids))


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_restart_while_5000_messages_are_in_flight_loses_nothing(rabbitmq_service, db_url, repository_url,
                                                                        tmp_path, pki):
    setup = Setup(tmp_path, pki, rabbitmq_service)
    site_jobs(db_url, 5000)
    names = setup.publish(db_url, 1, "--no-sync")
    assert len(names) == 5000
    receiver = setup.start_receiver()
    link = Link([Broker(rabbitmq_service.host, rabbitmq_service.port)], username="guest", password="guest",
                heartbeat=2)
    sender = Sender(queues.outgoing_queue(tmp_path / "outgoing"), StompChannel(link, setup.destination),
                    signer_for(pki.site.cert_pem, pki.site.key_pem), receipt_timeout=5,
                    backoff=Backoff(initial=0.5, maximum=2, give_up_after=120))
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(tally=sender.drain(show_progress=False)))
    try:
        thread.start()
        while setup.count() < 300:
            time.sleep(0.05)
        rabbitmq_service.restart()  # thousands still queued, on the wire or awaiting receipts
        thread.join(timeout=180)
        assert (outcome["tally"].sent, outcome["tally"].dead_letters) == (5000, 0)
        setup.wait_for(5000, receiver=receiver, timeout=120)
        setup.wait_for_all(names, receiver=receiver, timeout=60)
    finally:
        sender.close()
        if not rabbitmq_service.is_running():
            rabbitmq_service.start()
        stop(receiver)
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 0
    assert setup.elements("reject") == []
    received, duplicates = received_names(setup)
    assert received == set(names)
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_receiver_killed_mid_stream_and_restarted_loses_nothing(rabbitmq_service, db_url, repository_url,
                                                                tmp_path, pki):
    setup = Setup(tmp_path, pki, rabbitmq_service)
    site_jobs(db_url, 1500)
    names = setup.publish(db_url, 1, "--no-sync")
    setup.send()
    receiver = setup.start_receiver()
    setup.wait_for(200, receiver=receiver)
    receiver.send_signal(signal.SIGKILL)
    receiver.wait()
    assert setup.count() < 1500  # killed mid-stream
    receiver = setup.start_receiver()  # no pidfile: nothing blocks the restart
    try:
        setup.wait_for_all(names, receiver=receiver, timeout=120)
    finally:
        stop(receiver)
    received, duplicates = received_names(setup)
    assert received == set(names)
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs for the incoming queue (needs root); yields its path."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs (not root?)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("service", ["rabbitmq", "activemq"])
def test_full_disk_keeps_messages_with_the_broker_until_space_returns(request, service, db_url, repository_url,
                                                                     tmp_path, pki, tiny_disk):
    broker_service = request.getfixturevalue(f"{service}_service")
    setup = Setup(tmp_path, pki, broker_service, incoming=tiny_disk / "incoming")
    filler = tiny_disk / "filler"
    with open(filler, "wb") as handle:
        try:
            handle.write(b"\0" * (4 * 1024 * 1024))
        except OSError:
            pass  # the disk is full now
    site_jobs(db_url, 40)
    names = setup.publish(db_url, 1, "--no-sync")
    setup.send()
    receiver = setup.start_receiver()
    try:
        deadline = time.monotonic() + 30
        while "No space left on device" not in setup.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "No space left on device" in setup.log()
        assert receiver.poll() is None  # still running, retrying
        filler.unlink()
        setup.wait_for_all(names, receiver=receiver, timeout=90)
    finally:
        stop(receiver)
    assert setup.elements("reject") == []
    received, duplicates = received_names(setup)
    assert received == set(names)
    setup.load(repository_url)
    setup.assert_loaded_once(db_url, repository_url, names, duplicates)
