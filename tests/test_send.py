"""Sending: receipts, the window, receipt timeouts, dead letters, and apel-send through a real RabbitMQ."""

import contextlib
import logging
import socket
import subprocess
import threading
import time
import uuid

import pytest
import stomp
from click.testing import CliRunner
from dirq.QueueSimple import QueueSimple

from apeltools.cli.send import main as send_main
from apeltools.messaging import crypto, queues
from apeltools.messaging.brokers import Broker
from apeltools.messaging.connection import Link
from apeltools.messaging.sender import Sender, StompChannel, signer_for
from apeltools.retry import Backoff, Interrupted
from tests import pki as testpki

BODY = b"APEL-summary-job-message: v0.2\nSite: RAL-LCG2\nMonth: 3\n%%\n"


def fill(path, count, body=BODY):
    """An outgoing queue written by dirq's own QueueSimple, as apel-publish (or ssm) would."""
    queue = QueueSimple(str(path))
    return [queue.add(body.replace(b"Month: 3", f"Month: {i % 12 + 1}".encode())) for i in range(count)]


class FakeChannel:
    """A broker stand-in: receipts all, some, or none; may refuse one message with an ERROR."""

    def __init__(self, receipt=lambda empaid, attempt: True, refuse=None):
        self.receipt = receipt
        self.refuse = refuse
        self.sent, self.opened, self.closed = [], 0, 0
        self._pending, self._errors, self._attempts = [], [], {}

    def open(self):
        self.opened += 1

    def send(self, message, empaid):
        attempt = self._attempts[empaid] = self._attempts.get(empaid, 0) + 1
        token = f"{empaid}#{attempt}"
        self.sent.append((empaid, message))
        if self.refuse == empaid:
            self._errors.append((None, "frame too large"))
        elif self.receipt(empaid, attempt):
            self._pending.append(token)
        return token

    def wait(self, timeout, want=1):
        receipts, errors = self._pending, self._errors
        self._pending, self._errors = [], []
        return receipts, errors, bool(errors)

    def burst(self):
        return contextlib.nullcontext()

    def close(self, failed=False):
        self.closed += 1


def dead_letters(path):
    queue = queues.reject_queue(path)
    return [queue.get(name) for name in queue if queue.lock(name)]


def sender(tmp_path, channel, pki, **kwargs):
    kwargs.setdefault("backoff", Backoff(initial=0.01, maximum=0.05, give_up_after=1))
    return Sender(queues.outgoing_queue(tmp_path / "outgoing"), channel,
                  signer_for(pki.site.cert_pem, pki.site.key_pem),
                  dead_letters=queues.reject_queue(tmp_path / "dead"), **kwargs)


def test_every_message_is_signed_sent_with_its_name_and_removed_on_receipt(tmp_path, pki):
    names = fill(tmp_path / "outgoing", 25)
    channel = FakeChannel()
    tally = sender(tmp_path, channel, pki, window=10).drain(show_progress=False)
    assert (tally.sent, tally.unsent, tally.dead_letters) == (25, 0, 0)
    assert sorted(empaid for empaid, _ in channel.sent) == sorted(names)
    payload, signer = crypto.verify(channel.sent[0][1], str(pki.capath))
    assert signer == testpki.SITE_DN and payload.startswith(b"APEL-summary-job-message")
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 0


class CountingChannel(FakeChannel):
    """Records how many messages (and bytes) were on the wire at once, and the receipts asked for."""

    def __init__(self):
        super().__init__()
        self.in_air, self.bytes_in_air, self.most, self.most_bytes, self.wants = 0, 0, 0, 0, []

    def send(self, message, empaid):
        self.in_air += 1
        self.bytes_in_air += len(message)
        self.most, self.most_bytes = max(self.most, self.in_air), max(self.most_bytes, self.bytes_in_air)
        return super().send(message, empaid)

    def wait(self, timeout, want=1):
        self.wants.append(want)
        self.in_air, self.bytes_in_air = 0, 0  # FakeChannel receipts everything sent so far
        return super().wait(timeout, want)


def test_the_window_is_refilled_in_bursts_and_waits_for_a_quarter_of_it(tmp_path, pki):
    fill(tmp_path / "outgoing", 50)
    channel = CountingChannel()
    tally = sender(tmp_path, channel, pki, window=20).drain(show_progress=False)
    assert tally.sent == 50 and channel.most == 20
    assert channel.wants[0] == 5 and channel.wants[-1] == 10  # a quarter of the window; then all that is left


def test_large_messages_are_limited_by_bytes_in_the_air(tmp_path, pki):
    queue = queues.outgoing_queue(tmp_path / "outgoing")
    for _ in range(6):
        queue.add(b"APEL-summary-job-message: v0.2\n" + b"x" * 100_000 + b"\n")
    channel = CountingChannel()
    tally = sender(tmp_path, channel, pki, window=100, max_bytes_in_air=250_000).drain(show_progress=False)
    assert tally.sent == 6
    assert channel.most == 3  # 3 × ~100 kB reach the limit; a fourth waits for receipts
    tally = sender(tmp_path, CountingChannel(), pki, max_bytes_in_air=10).drain(show_progress=False)
    assert tally.sent == 0  # nothing left; and a single message larger than the limit still goes:
    queue.add(b"APEL-summary-job-message: v0.2\n" + b"x" * 1000 + b"\n")
    channel = CountingChannel()
    assert sender(tmp_path, channel, pki, max_bytes_in_air=10).drain(show_progress=False).sent == 1


def test_without_receipts_messages_stay_queued_and_unlocked(tmp_path, pki):
    fill(tmp_path / "outgoing", 3)
    channel = FakeChannel(receipt=lambda *_: False)
    with pytest.raises(Interrupted, match="no receipt within"):
        sender(tmp_path, channel, pki, receipt_timeout=0.05).drain(show_progress=False)
    assert channel.closed >= 1  # the connection was dropped and tried again
    queue = QueueSimple(str(tmp_path / "outgoing"))
    assert queue.count() == 3
    assert all(queue.lock(name) for name in queue)  # nothing left locked


def test_a_lost_receipt_means_the_message_is_sent_again(tmp_path, pki):
    [name] = fill(tmp_path / "outgoing", 1)
    channel = FakeChannel(receipt=lambda empaid, attempt: attempt > 1)
    tally = sender(tmp_path, channel, pki, receipt_timeout=0.05).drain(show_progress=False)
    assert tally.sent == 1 and tally.resent == 1
    assert [empaid for empaid, _ in channel.sent] == [name, name]


def test_an_oversized_message_goes_to_the_dead_letter_queue(tmp_path, pki):
    fill(tmp_path / "outgoing", 2)
    QueueSimple(str(tmp_path / "outgoing")).add(b"x" * 5000)
    tally = sender(tmp_path, FakeChannel(), pki, max_message_size=4000).drain(show_progress=False)
    assert (tally.sent, tally.dead_letters) == (2, 1)
    [dead] = dead_letters(tmp_path / "dead")
    assert "exceeds max_message_size 4000" in dead["error"] and dead["body"] == "x" * 5000


def test_a_message_the_broker_keeps_refusing_is_dead_lettered_and_the_rest_sent(tmp_path, pki):
    names = fill(tmp_path / "outgoing", 5)
    channel = FakeChannel(refuse=names[2])
    tally = sender(tmp_path, channel, pki, window=5, backoff=Backoff(0.001, 0.01)).drain(show_progress=False)
    assert (tally.sent, tally.dead_letters) == (4, 1)
    [element] = dead_letters(tmp_path / "dead")
    assert element["empaid"] == names[2] and "refused by the broker 3 times: frame too large" in element["error"]


# -- the real thing: RabbitMQ ---------------------------------------------------------------


def drain_destination(service, destination, expected, timeout=30):
    """The frames waiting on a destination (read with stomp.py directly, acknowledged)."""
    frames, done = [], threading.Event()

    class Collect(stomp.ConnectionListener):
        def on_message(self, frame):
            frames.append(frame)
            conn.ack(frame.headers["ack"])
            if len(frames) >= expected:
                done.set()

    conn = stomp.Connection12([(service.host, service.port)], vhost="/", auto_decode=False)
    conn.set_listener("collect", Collect())
    conn.connect(service.user, service.password, wait=True)
    conn.subscribe(destination, id="1", ack="client-individual")
    done.wait(timeout)
    conn.disconnect()
    return frames


def config_for(tmp_path, pki, port_line, server_cert=None, **messaging):
    cert, key = pki.files(pki.site)
    extra = "".join(f"{k}: {v}\n" for k, v in messaging.items())
    encrypt = f"server_cert: {server_cert}\n" if server_cert else ""
    path = tmp_path / "sender.cfg"
    path.write_text(f"""
[broker]
{port_line}
username: guest
password: guest
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
{encrypt}[messaging]
path: {tmp_path}/outgoing
{extra}""")
    return str(path)


def test_apel_send_through_rabbitmq_verifies_with_openssl(rabbitmq_service, tmp_path, pki):
    destination = f"/queue/apeltools.test-send.{uuid.uuid4().hex[:8]}"
    names = fill(tmp_path / "outgoing", 20)
    config = config_for(tmp_path, pki, f"host: {rabbitmq_service.host}\nport: {rabbitmq_service.port}",
                        destination=destination, window=5)
    result = CliRunner().invoke(send_main, ["--config", config, "-v"])
    assert result.exit_code == 0, result.output
    assert "sent 20 messages" in result.output and "messages/s" in result.output
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 0
    frames = drain_destination(rabbitmq_service, destination, 20)
    assert sorted(f.headers["empa-id"] for f in frames) == sorted(names)
    assert all(f.headers.get("persistent") == "true" for f in frames)
    # openssl smime -verify against the CA directory (any purpose: grid host certificates).
    (tmp_path / "msg").write_bytes(frames[0].body)
    verified = subprocess.run(["openssl", "smime", "-verify", "-text", "-purpose", "any",
                               "-CApath", str(pki.capath), "-in", str(tmp_path / "msg")], capture_output=True)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.replace(b"\r\n", b"\n").startswith(b"APEL-summary-job-message")


def test_apel_send_encrypts_to_the_server_certificate(rabbitmq_service, tmp_path, pki):
    destination = f"/queue/apeltools.test-send.{uuid.uuid4().hex[:8]}"
    fill(tmp_path / "outgoing", 1)
    server_cert, server_key = pki.files(pki.other_site)
    config = config_for(tmp_path, pki, f"host: {rabbitmq_service.host}\nport: {rabbitmq_service.port}",
                        server_cert=server_cert, destination=destination)
    result = CliRunner().invoke(send_main, ["--config", config])
    assert result.exit_code == 0, result.output
    [frame] = drain_destination(rabbitmq_service, destination, 1)
    (tmp_path / "msg").write_bytes(frame.body)
    decrypted = subprocess.run(["openssl", "smime", "-decrypt", "-recip", server_cert, "-inkey", server_key,
                                "-in", str(tmp_path / "msg")], capture_output=True, check=True).stdout
    assert crypto.verify(decrypted, str(pki.capath))[1] == testpki.SITE_DN


class BlackHole:
    """A STOMP 'broker' that accepts connections and messages but never sends a receipt."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    @staticmethod
    def _talk(conn):
        data = b""
        while b"\x00" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(b"CONNECTED\nversion:1.2\nserver:blackhole\nheart-beat:0,0\n\n\x00")
        while conn.recv(65536):
            pass

    def close(self):
        self.listener.close()


def test_receipt_timeout_fails_over_to_the_next_broker(rabbitmq_service, tmp_path, pki):
    hole = BlackHole()
    destination = f"/queue/apeltools.test-send.{uuid.uuid4().hex[:8]}"
    names = fill(tmp_path / "outgoing", 5)
    link = Link([Broker("127.0.0.1", hole.port), Broker(rabbitmq_service.host, rabbitmq_service.port)],
                username="guest", password="guest", heartbeat=0)
    s = Sender(queues.outgoing_queue(tmp_path / "outgoing"), StompChannel(link, destination),
               signer_for(pki.site.cert_pem, pki.site.key_pem), receipt_timeout=1.0,
               backoff=Backoff(initial=0.05, maximum=0.1, give_up_after=5))
    try:
        tally = s.drain(show_progress=False)
    finally:
        s.close()
        hole.close()
    assert hole.connections == 1 and tally.sent == 5 and tally.resent == 5
    assert sorted(f.headers["empa-id"] for f in drain_destination(rabbitmq_service, destination, 5)) == \
        sorted(names)


def test_apel_send_exits_1_when_no_broker_answers(tmp_path, pki):
    fill(tmp_path / "outgoing", 2)
    config = config_for(tmp_path, pki, "hosts: 127.0.0.1:1", destination="/queue/x")
    result = CliRunner().invoke(send_main, ["--config", config, "--max-wait", "1"])
    assert result.exit_code == 1
    assert "Error: broker unavailable, 2 messages left in" in result.output
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 2


def apel_send(config, *args):
    started = time.monotonic()
    done = subprocess.run(["apel-send", "--config", config, *args], capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


@pytest.mark.parametrize("unreachable", ["closed broker port", "BDII down", "BDII lists no broker", "silent BDII"],
                         indirect=True)
def test_apel_send_retries_for_max_wait_then_says_why_in_one_error_line(tmp_path, pki, unreachable):
    broker_line, why, retried = unreachable
    fill(tmp_path / "outgoing", 2)
    config = config_for(tmp_path, pki, broker_line, destination="/queue/x")
    done, elapsed = apel_send(config, "--max-wait", "3")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error == done.stderr.splitlines()[-1]
    assert error.startswith("Error: broker unavailable, 2 messages left in") and why in error
    assert "gave up after" in error
    # The whole budget is used (retries with backoff), and a silent BDII does not outlast it.
    assert 3 <= elapsed < 3 + 5, done.stderr
    assert ("retrying in" in done.stderr) == retried
    assert QueueSimple(str(tmp_path / "outgoing")).count() == 2


def test_apel_send_with_an_expired_certificate_refuses_to_start(tmp_path, pki):
    fill(tmp_path / "outgoing", 1)
    cert, key = pki.files(pki.expired)
    config = tmp_path / "sender.cfg"
    config.write_text(f"[certificates]\ncertificate: {cert}\nkey: {key}\n[messaging]\npath: {tmp_path}/out\n")
    result = CliRunner().invoke(send_main, ["--config", str(config)])
    assert result.exit_code == 1 and "expired" in result.output


def test_help_has_an_example():
    result = CliRunner().invoke(send_main, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "apel-send --config" in result.output


def test_a_burst_is_signed_on_several_threads_and_sent_in_queue_order(tmp_path, pki):
    import threading

    names = fill(tmp_path / "outgoing", 40)
    channel = FakeChannel()
    signers = set()
    s = sender(tmp_path, channel, pki, window=40)
    sign = s.sign

    def recording_sign(body):
        signers.add(threading.current_thread().name)
        return sign(body)

    s.sign = recording_sign
    assert s.drain(show_progress=False).sent == 40
    s.close()
    assert [empaid for empaid, _ in channel.sent] == sorted(names)  # dirq order is name order
    assert all(name.startswith("signer") for name in signers)
    assert all(crypto.verify(message, str(pki.capath))[1] == testpki.SITE_DN for _, message in channel.sent[:3])


def test_a_signing_failure_in_a_burst_stops_sending_and_keeps_every_message(tmp_path, pki):
    from apeltools.errors import ApelError, CryptoError

    fill(tmp_path / "outgoing", 10)
    channel = FakeChannel()
    s = sender(tmp_path, channel, pki, window=10)

    def broken(body):
        raise CryptoError("certificate expired")

    s.sign = broken
    with pytest.raises(ApelError, match="cannot sign message .*certificate expired"):
        s.drain(show_progress=False)
    s.close()
    assert channel.sent == []
    queue = QueueSimple(str(tmp_path / "outgoing"))
    assert queue.count() == 10 and all(queue.lock(name) for name in queue)


def test_closing_a_connection_whose_socket_is_already_closed_logs_no_warning(rabbitmq_service, caplog):
    # stomp.py's reading thread may close the socket just before we close the connection:
    # closing it again is no news (EBADF), while other failures to shut a socket still show.
    link = Link([Broker(rabbitmq_service.host, rabbitmq_service.port)], username="guest", password="guest",
                heartbeat=0)
    link.open()
    link.connection.transport.socket.close()
    with caplog.at_level(logging.WARNING):
        link.close()
        stomp_log = logging.getLogger("stomp.py")
        stomp_log.warning("unable to issue SHUT_RDWR on socket because of error '%s'", "[Errno 107] elsewhere")
    shutdown_warnings = [r.getMessage() for r in caplog.records if "SHUT_RDWR" in r.getMessage()]
    assert shutdown_warnings == ["unable to issue SHUT_RDWR on socket because of error '[Errno 107] elsewhere'"]
