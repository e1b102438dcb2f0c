"""Receiving: what the acceptor files where, the DN list, and apel-receive on the local transport."""

import ctypes
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from dirq.queue import Queue

from apeltools.authz.dnlist import DNList
from apeltools.cli.receive import main as receive_main
from apeltools.errors import ConfigError, QueueError
from apeltools.messaging import crypto, queues
from apeltools.messaging import acceptor as acceptor_module
from apeltools.messaging import large_message_filer as filer_module
from apeltools.messaging.acceptor import Acceptor, make_durable
from apeltools.messaging.crypto.mime import from_crlf
from apeltools.messaging.local import wire_queue
from tests import pki as testpki

BODY = b"APEL-summary-job-message: v0.2\nSite: RAL-LCG2\nMonth: 3\n%%\n"


@pytest.fixture
def dn_file(tmp_path, pki):
    path = tmp_path / "dns"
    path.write_text(f"# authorised\n\n{crypto.signer_dn(pki.site.cert)}\n")
    return path


@pytest.fixture
def acceptor(tmp_path, pki, dn_file):
    return Acceptor(queues.incoming_queue(tmp_path / "incoming"), queues.reject_queue(tmp_path / "reject"),
                    str(pki.capath), DNList(str(dn_file)), cert_pem=pki.site.cert_pem, key_pem=pki.site.key_pem)


def elements(path, schema):
    """Every element of a queue, read with dirq's own Queue class and the given schema."""
    queue = Queue(str(path), schema=schema)
    found = []
    for name in queue:
        assert queue.lock(name)
        found.append(queue.get(name))
        queue.unlock(name)
    return found


def incoming(path):
    return elements(path, queues.INCOMING_SCHEMA)


def rejected(path):
    return elements(path, queues.REJECT_SCHEMA)


def test_signed_message_from_a_listed_signer_goes_to_incoming(acceptor, pki, tmp_path):
    outcome = acceptor.handle(crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), "0001/abc")
    assert outcome.accepted
    assert incoming(tmp_path / "incoming") == [
        {"body": BODY.decode(), "signer": testpki.SITE_DN, "empaid": "0001/abc"}]
    assert rejected(tmp_path / "reject") == []


def test_encrypted_message_is_decrypted_then_verified(acceptor, pki, tmp_path):
    signed = crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem)
    assert acceptor.handle(crypto.encrypt(signed, pki.site.cert_pem), "e").accepted
    assert incoming(tmp_path / "incoming")[0]["body"] == BODY.decode()


@pytest.mark.parametrize("case, reason", [
    ("tampered", "signature not verified"),
    ("unknown signer", "is not in the DN list"),
    ("untrusted CA", "signature not verified"),
    ("expired", "signature not verified"),
    ("not S/MIME", "signature not verified"),
    ("not UTF-8", "not UTF-8"),
    ("garbage bytes", "signature not verified"),
])
def test_bad_messages_are_rejected_with_the_reason_and_the_original(acceptor, pki, tmp_path, case, reason):
    sign = lambda identity, body=BODY: crypto.sign(body, identity.cert_pem, identity.key_pem)  # noqa: E731
    raw = {
        "tampered": sign(pki.site).replace(b"RAL-LCG2", b"RAL-LCG3"),
        "unknown signer": sign(pki.other_site),
        "untrusted CA": sign(pki.rogue),
        "expired": sign(pki.expired),
        "not S/MIME": BODY,
        "not UTF-8": sign(pki.site, b"Site: \xff\xfe\n"),
        "garbage bytes": b"\x00\x01\xff" * 100,
    }[case]
    outcome = acceptor.handle(raw, "id-1")
    assert not outcome.accepted and reason in outcome.reason
    [element] = rejected(tmp_path / "reject")
    assert reason in element["error"] and element["empaid"] == "id-1"
    assert element["body"] == raw.decode("utf-8", "backslashreplace")
    assert incoming(tmp_path / "incoming") == []


def test_unknown_signer_keeps_the_signer_in_the_reject_queue(acceptor, pki, tmp_path):
    acceptor.handle(crypto.sign(BODY, pki.other_site.cert_pem, pki.other_site.key_pem))
    [element] = rejected(tmp_path / "reject")
    assert element["signer"] == crypto.signer_dn(pki.other_site.cert)
    # The original signed message is kept: it verifies again once the DN list allows it.
    assert crypto.verify(element["body"].encode(), str(pki.capath))[0] == BODY


def test_a_message_without_an_empa_id_is_filed_as_noid(acceptor, pki, tmp_path):
    """As the deployed receiver does: the deployed loader reads element["empaid"] and stops
    its whole pass (its daemon exits) on an element without one."""
    acceptor.handle(crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem))
    acceptor.handle(crypto.sign(BODY, pki.other_site.cert_pem, pki.other_site.key_pem), "")
    acceptor.handle(b"not signed", None)
    assert [e["empaid"] for e in incoming(tmp_path / "incoming")] == ["noid"]
    assert [e["empaid"] for e in rejected(tmp_path / "reject")] == ["noid", "noid"]


def test_message_signed_by_openssl_command_is_accepted(acceptor, pki, tmp_path):
    cert, key = pki.files(pki.site)
    (tmp_path / "body.txt").write_bytes(BODY)
    signed = subprocess.run(["openssl", "smime", "-sign", "-text", "-signer", cert, "-inkey", key,
                             "-in", str(tmp_path / "body.txt")], check=True, capture_output=True).stdout
    assert acceptor.handle(signed, "openssl").accepted
    assert incoming(tmp_path / "incoming")[0]["body"] == BODY.decode()


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_write_failure_raises_and_files_nothing(acceptor, pki, tmp_path, monkeypatch, syncfs):
    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    monkeypatch.setattr(acceptor_module, "_sync_filesystem", full)
    if not syncfs:
        monkeypatch.setattr(acceptor_module, "_syncfs", None)
    with pytest.raises(QueueError, match="No space left"):
        acceptor.handle(crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), "x")


def test_a_write_back_error_reported_by_syncfs_is_a_queue_error(acceptor, pki, monkeypatch):
    def failing_syncfs(fd):
        assert fd in acceptor_module._watchers.values()  # the descriptor opened before any write
        ctypes.set_errno(5)
        return -1

    monkeypatch.setattr(acceptor_module, "_syncfs", failing_syncfs)
    with pytest.raises(QueueError, match="Input/output error"):
        acceptor.handle(crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), "x")


def test_a_batch_is_made_durable_at_once(acceptor, pki, tmp_path, monkeypatch):
    signed = crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem)
    paths = [acceptor.handle(signed, f"m{i}", durable=False).path for i in range(3)]
    synced = []
    monkeypatch.setattr(acceptor_module, "_syncfs", lambda fd: 0)
    monkeypatch.setattr(acceptor_module, "_sync_filesystem", synced.append)
    make_durable(paths)
    assert synced == [str(tmp_path / "incoming")]  # one syncfs for the whole batch

    # Without syncfs (not Linux): every file and directory once, then the directories above.
    monkeypatch.setattr(acceptor_module, "_syncfs", None)
    monkeypatch.setattr(acceptor_module, "_fsync", synced.append)
    synced.clear()
    make_durable(paths)
    files = {os.path.join(p, f) for p in paths for f in ("body", "signer", "empaid")}
    assert set(synced) == files | set(paths) | {os.path.dirname(paths[0]), str(tmp_path / "incoming")}
    assert len(synced) == len(set(synced))
    # An element a loader took meanwhile needs no sync and is no error.
    shutil.rmtree(paths[0])
    synced.clear()
    make_durable(paths)
    assert paths[0] not in synced and paths[1] in synced


def test_dn_list_is_reread_when_the_file_changes(tmp_path, caplog):
    path = tmp_path / "dns"
    path.write_text("/CN=one\n")
    dns = DNList(str(path), check_interval=0)
    assert "/CN=one" in dns and "/CN=two" not in dns
    path.write_text("/CN=two\n# comment\n")
    os.utime(path, ns=(1, 1))  # a different mtime even within the clock's resolution
    assert "/CN=two" in dns and "/CN=one" not in dns


@pytest.mark.parametrize("damage", ["empty", "comments only", "removed", "not UTF-8"])
def test_a_bad_new_dn_list_keeps_the_last_good_one(tmp_path, caplog, damage):
    path = tmp_path / "dns"
    path.write_text("/CN=one\n")
    dns = DNList(str(path), check_interval=0)
    if damage == "removed":
        path.unlink()
    else:
        path.write_bytes({"empty": b"", "comments only": b"# nothing\n", "not UTF-8": b"\xff\n"}[damage])
    with caplog.at_level(logging.ERROR):
        assert "/CN=one" in dns
    assert "keeping the previous list of 1 DNs" in caplog.text


def test_an_empty_dn_list_at_startup_is_a_configuration_error(tmp_path):
    (tmp_path / "dns").write_text("# nobody yet\n")
    with pytest.raises(ConfigError, match="empty"):
        DNList(str(tmp_path / "dns"))


def local_config(tmp_path, pki, dn_file):
    cert, key = pki.files(pki.site)
    config = tmp_path / "receiver.cfg"
    config.write_text(f"""
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
[messaging]
transport: local
incoming_path: {tmp_path}/incoming
wire_path: {tmp_path}/wire
dn_file: {dn_file}
[daemon]
pidfile: {tmp_path}/ignored.pid
""")
    return config


def test_apel_receive_once_files_the_local_wire(tmp_path, pki, dn_file):
    wire = wire_queue(tmp_path / "wire")
    wire.add({"message": crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), "empaid": "a"})
    wire.add({"message": b"not signed", "empaid": "b"})
    result = CliRunner().invoke(receive_main, ["--config", str(local_config(tmp_path, pki, dn_file)),
                                               "--once", "-v"])
    assert result.exit_code == 0, result.output
    assert "1 accepted, 1 rejected" in result.output
    assert [e["empaid"] for e in incoming(tmp_path / "incoming")] == ["a"]
    assert [e["empaid"] for e in rejected(tmp_path / "reject")] == ["b"]
    assert wire.count() == 0
    assert not (tmp_path / "ignored.pid").exists()
    # No world-writable (or world-readable) spool.
    assert os.stat(tmp_path / "incoming").st_mode & 0o007 == 0


def test_apel_receive_files_a_local_wire_element_without_empaid_as_noid(tmp_path, pki, dn_file):
    wire = wire_queue(tmp_path / "wire")
    wire.add({"message": crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem)})
    result = CliRunner().invoke(receive_main, ["--config", str(local_config(tmp_path, pki, dn_file)), "--once"])
    assert result.exit_code == 0, result.output
    assert [e["empaid"] for e in incoming(tmp_path / "incoming")] == ["noid"]


def test_stomp_frames_without_an_empa_id_are_filed_as_noid(rabbitmq_service, tmp_path, pki):
    """Through a real broker and a real apel-receive: a frame without an empa-id header (sent by
    another tool than apel-send or SSM) is filed with empaid "noid", accepted or rejected."""
    from apeltools.messaging.brokers import Broker
    from apeltools.messaging.connection import Link
    from tests.test_messaging_e2e import Setup, stop

    setup = Setup(tmp_path, pki, rabbitmq_service)
    link = Link([Broker(rabbitmq_service.host, rabbitmq_service.port)], username=rabbitmq_service.user,
                password=rabbitmq_service.password, heartbeat=0)
    link.open()
    link.send(setup.destination, crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), {"persistent": "true"})
    link.send(setup.destination, b"not signed", {"persistent": "true"})
    link.close()
    receiver = setup.start_receiver()
    try:
        setup.wait_for(1, receiver=receiver)
        setup.wait_for(1, "reject", receiver=receiver)
    finally:
        assert stop(receiver) == 0
    # Read as the deployed loader does: element["empaid"] of dirq's Queue.get.
    assert [e["empaid"] for e in setup.elements()] == ["noid"]
    assert [e["empaid"] for e in setup.elements("reject")] == ["noid"]


def test_apel_receive_leaves_the_wire_alone_when_the_disk_is_full(tmp_path, pki, dn_file, monkeypatch):
    wire = wire_queue(tmp_path / "wire")
    wire.add({"message": crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem), "empaid": "a"})
    real_fsync = os.fsync

    def full(fd):
        if "incoming" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    monkeypatch.setattr(acceptor_module, "_syncfs", None)  # fsync per path, so that only incoming fails
    result = CliRunner().invoke(receive_main, ["--config", str(local_config(tmp_path, pki, dn_file)), "--once"])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert wire.count() == 1  # still there for the next run
    monkeypatch.setattr(os, "fsync", real_fsync)
    result = CliRunner().invoke(receive_main, ["--config", str(local_config(tmp_path, pki, dn_file)), "--once"])
    assert result.exit_code == 0, result.output
    assert wire.count() == 0 and len(incoming(tmp_path / "incoming")) >= 1


@pytest.mark.parametrize("unreachable", ["closed broker port", "BDII down", "BDII lists no broker", "silent BDII"],
                         indirect=True)
def test_apel_receive_retries_for_max_wait_then_says_why_in_one_error_line(tmp_path, pki, dn_file, unreachable):
    """As apel-send: finding brokers in a BDII is retried with backoff like connecting to them, and
    when --max-wait is spent the real program ends with one Error: line, not a traceback."""
    broker_line, why, retried = unreachable
    config = tmp_path / "receiver.cfg"
    config.write_text(f"[broker]\n{broker_line}\n[certificates]\ncapath: {pki.capath}\n"
                      f"[messaging]\ndestination: /queue/x\nincoming_path: {tmp_path}/incoming\n")
    started = time.monotonic()
    done = subprocess.run(["apel-receive", "--config", str(config), "--dn-file", str(dn_file), "--max-wait", "3"],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error == done.stderr.splitlines()[-1]
    assert error.startswith("Error: broker unavailable: gave up after") and why in error
    assert 3 <= elapsed < 3 + 5, done.stderr
    assert ("retrying in" in done.stderr) == retried


def test_help_has_an_example():
    result = CliRunner().invoke(receive_main, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "apel-receive --config" in result.output


def test_receiver_cfg_sample_is_accepted():
    from apeltools.config import Config
    from apeltools.messaging.settings import MessagingSettings

    root = Path(__file__).resolve().parent.parent
    settings = MessagingSettings.from_config(Config.load(str(root / "etc" / "receiver.cfg"), environ={}),
                                             "receiver")
    assert settings.transport == "stomp" and settings.bdii and settings.use_ssl
    assert settings.path == "/var/spool/apel/incoming" and settings.reject_path == "/var/spool/apel/reject"


def test_accepted_fields_are_the_files_dirq_text_readers_expect(acceptor, pki, tmp_path):
    body = "APEL-summary-job-message: v0.2\nSite: Zürich-LCG2\nMonth: 3\n%%\n".encode()
    outcome = acceptor.handle(crypto.sign(body, pki.site.cert_pem, pki.site.key_pem), "0001/é")
    assert (Path(outcome.path) / "body").read_bytes() == body  # written from bytes, no codec
    assert incoming(tmp_path / "incoming") == [{"body": body.decode(), "signer": testpki.SITE_DN, "empaid": "0001/é"}]


def test_element_writer_lays_out_elements_as_dirq_does(tmp_path):
    queue = queues.incoming_queue(tmp_path / "incoming")
    writer = queues.ElementWriter(queue)
    names = [writer.add({"body": f"body {i}".encode(), "signer": b"/CN=a", **({"empaid": b"e"} if i else {})})
             for i in range(5)]
    assert len(set(names)) == 5 and all(len(name) == 8 + 1 + 14 for name in names)
    got = incoming(tmp_path / "incoming")
    assert sorted(element["body"] for element in got) == [f"body {i}" for i in range(5)]
    assert sum("empaid" in element for element in got) == 4
    element_dir = tmp_path / "incoming" / names[0]
    assert oct(element_dir.stat().st_mode & 0o777) == oct(0o750)
    assert oct((element_dir / "body").stat().st_mode & 0o777) == oct(0o640)
    assert os.listdir(tmp_path / "incoming" / "temporary") == []


def test_element_writer_starts_a_new_bucket_when_one_is_full(tmp_path):
    queue = Queue(str(tmp_path / "q"), schema=queues.INCOMING_SCHEMA, maxelts=3)
    writer = queues.ElementWriter(queue)
    writer.RECHECK = 1
    names = [writer.add({"body": b"x", "signer": b"s"}) for _ in range(7)]
    assert [name.split("/")[0] for name in names] == ["00000000"] * 3 + ["00000001"] * 3 + ["00000002"]
    assert len(incoming(tmp_path / "q")) == 7


def test_element_writer_survives_its_bucket_being_purged(tmp_path):
    queue = queues.incoming_queue(tmp_path / "q")
    writer = queues.ElementWriter(queue)
    first = writer.add({"body": b"x", "signer": b"s"})
    shutil.rmtree(tmp_path / "q" / first.split("/")[0])  # what dirq's purge does to an empty bucket
    second = writer.add({"body": b"y", "signer": b"s"})
    assert incoming(tmp_path / "q") == [{"body": "y", "signer": "s"}] and second


def test_element_writer_refuses_fields_outside_the_schema(tmp_path):
    writer = queues.ElementWriter(queues.incoming_queue(tmp_path / "q"))
    with pytest.raises(ValueError):
        writer.add({"body": b"x"})  # signer is mandatory
    with pytest.raises(ValueError):
        writer.add({"body": b"x", "signer": b"s", "colour": b"red"})


def test_element_writer_removes_a_half_written_element(tmp_path, monkeypatch):
    writer = queues.ElementWriter(queues.incoming_queue(tmp_path / "q"))
    real_write = os.write

    def full(fd, data):
        if len(data) > 100:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        writer.add({"body": b"x" * 1000, "signer": b"s"})
    assert os.listdir(tmp_path / "q" / "temporary") == []
    assert incoming(tmp_path / "q") == []


def test_removing_a_locked_element_leaves_nothing(tmp_path):
    queue = queues.incoming_queue(tmp_path / "q")
    names = [queue.add({"body": f"m{i}", "signer": "s"}) for i in range(3)]
    assert queue.lock(names[1])
    queues.remove(queue, names[1])
    assert sorted(element["body"] for element in incoming(tmp_path / "q")) == ["m0", "m2"]
    assert queue.count() == 2 and os.listdir(tmp_path / "q" / "obsolete") == []
    with pytest.raises(Exception, match="not locked"):
        queues.remove(queue, names[0])
    assert queue.count() == 2


def test_removal_never_lands_on_another_process_s_emptied_element(tmp_path, monkeypatch):
    # Another loader whose queue drew the same random digit emptied obsolete/<name> a moment
    # ago and is about to remove it; our removal picks the same name in the same microsecond.
    # dirq's Queue.remove renames the element onto that empty directory (a rename replaces an
    # empty directory silently) and the two removals then spoil each other's.
    queue = queues.incoming_queue(tmp_path / "q")
    name = queue.add({"body": "ours", "signer": "s"})
    theirs = tmp_path / "q" / "obsolete" / "6b153e9d4eb755"
    theirs.mkdir(parents=True)
    picks = iter(["6b153e9d4eb755", "6b153e9d4eb767"])
    monkeypatch.setattr(queues, "_element_name", lambda rndhex: next(picks))
    assert queue.lock(name)
    queues.remove(queue, name)
    assert queue.count() == 1 and os.listdir(tmp_path / "q" / "obsolete") == [theirs.name]
    theirs.rmdir()  # the other loader finishes its removal undisturbed
    assert queue.count() == 0


def test_large_message_text_checks_agree_with_the_short_path():
    clean = BODY * 5000
    assert len(clean) > 65536
    assert acceptor_module._as_text(clean) == (clean.decode(), None)
    for bad in (b"\x00", b"\x1b", b"\x7f", b"\x0b"):
        text, problem = acceptor_module._as_text(clean + bad)
        assert problem and "control character" in problem


def test_crlf_payload_is_turned_back_into_lf_exactly():
    for data in [b"", b"a", b"a\r\nb\r\n", b"a\rb\r\n", b"a\nb\r\n", b"\r\r\n", b"\r", b"\n\r", b"x\r\n\r\n",
                 b"line\r\n" * 20000]:
        assert from_crlf(data) == data.replace(b"\r\n", b"\n"), data[:20]


def test_keep_large_buffers_tunes_glibc():
    from apeltools.messaging import memory

    assert memory.keep_large_buffers() is True  # Debian's glibc


# -- the helper process that files large messages -------------------------------------------


def large_body(n):
    line = b"Site: BIG\nLocalJobId: %d\nWallDuration: 3600\n%%%%\n"
    return b"".join(line % i for i in range(n * 20000, n * 20000 + 12000))


@pytest.fixture
def helper(acceptor):
    filed_here = []

    def file_here(raw, empaid):
        filed_here.append(empaid)
        return acceptor.handle(raw, empaid, durable=False)

    helper = filer_module.LargeMessageFiler(acceptor, file_here)
    helper.filed_here = filed_here
    yield helper
    helper.close()


def test_the_helper_files_large_messages_in_a_process_of_its_own(helper, acceptor, pki, tmp_path):
    bodies = [large_body(n) for n in range(3)]
    assert all(len(body) >= filer_module.LARGE_MESSAGE for body in bodies)
    signed = [crypto.sign(body, pki.site.cert_pem, pki.site.key_pem) for body in bodies]
    signed[2] = signed[2].replace(b"Site: BIG", b"Site: BAD", 1)
    done = {}
    for n, raw in enumerate(signed):
        assert helper.takes(raw)
        assert helper.send(n, raw, f"m{n}")
    assert helper.pid not in (None, os.getpid())
    helper.collect(done, wait=True)
    assert [done[n].accepted for n in range(3)] == [True, True, False]
    assert "signature not verified" in done[2].reason
    assert helper.filed_here == []
    assert {e["empaid"]: e["body"].encode() for e in incoming(tmp_path / "incoming")} == {"m0": bodies[0],
                                                                                          "m1": bodies[1]}
    assert rejected(tmp_path / "reject")[0]["empaid"] == "m2"
    # The helper names elements with the next random digit: it, not this process, wrote them.
    digit = "%x" % ((acceptor._incoming_writer.rndhex + 1) % 16)
    assert done[0].name.endswith(digit) and done[1].name.endswith(digit)
    assert (acceptor.tally.accepted, acceptor.tally.rejected) == (2, 1)
    make_durable([done[n].path for n in range(3)])


def test_small_messages_and_a_full_helper_stay_with_the_receiver(helper, pki):
    assert not helper.takes(crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem))
    assert helper.pid is None  # no process started for small messages
    raw = crypto.sign(large_body(0), pki.site.cert_pem, pki.site.key_pem)
    for n in range(filer_module.DEPTH):
        assert helper.takes(raw) and helper.send(n, raw, f"m{n}")
    assert not helper.takes(raw)  # DEPTH messages wait: the receiver files the next one
    done = {}
    helper.collect(done, wait=True)
    assert sorted(done) == list(range(filer_module.DEPTH))
    assert helper.takes(raw)


def test_messages_of_a_killed_helper_are_filed_by_the_receiver(helper, acceptor, pki, tmp_path, caplog,
                                                               monkeypatch):
    raws = [crypto.sign(large_body(n), pki.site.cert_pem, pki.site.key_pem) for n in range(2)]
    for n, raw in enumerate(raws):
        assert helper.takes(raw) and helper.send(n, raw, f"m{n}")
    os.kill(helper.pid, 9)
    done = {}
    with caplog.at_level(logging.ERROR):
        helper.collect(done, wait=True)
    assert all(done[n].accepted for n in range(2))
    assert "filing its messages here" in caplog.text
    # Filed at least once each (the helper may have filed one before it died): the loader
    # replaces a duplicate by its natural key.
    assert {e["empaid"] for e in incoming(tmp_path / "incoming")} == {"m0", "m1"}
    assert set(helper.filed_here) <= {"m0", "m1"} and helper.filed_here
    assert helper.pid is None
    assert not helper.takes(raws[0])  # not restarted at once
    monkeypatch.setattr(filer_module, "RESTART_PAUSE", 0.0)
    assert helper.takes(raws[0]) and helper.pid is not None


def test_the_helper_does_not_keep_the_broker_connection_open(acceptor, pki):
    """A forked helper closes its copy of the broker socket: when the receiver closes the
    connection, the broker must see it closed (and deliver its unacknowledged messages again)."""
    import socket

    ours, broker_side = socket.socketpair()
    helper = filer_module.LargeMessageFiler(acceptor, None, foreign_fds=lambda: [ours.fileno()])
    try:
        assert helper.takes(crypto.sign(large_body(0), pki.site.cert_pem, pki.site.key_pem))
        ours.close()
        broker_side.settimeout(10)
        assert broker_side.recv(1) == b""  # end of stream: no copy left open in the helper
    finally:
        helper.close()
        broker_side.close()


def test_a_hand_over_that_fails_leaves_the_held_messages_to_the_next_collect(helper, pki, caplog):
    raws = [crypto.sign(large_body(n), pki.site.cert_pem, pki.site.key_pem) for n in range(2)]
    assert helper.takes(raws[0]) and helper.send(0, raws[0], "m0")
    os.kill(helper.pid, 9)
    os.waitpid(helper.pid, 0)  # reaped here: the socket's other end is gone for sure
    assert helper.takes(raws[1])
    assert not helper.send(1, raws[1], "m1")  # the receiver files this one itself
    assert not helper.takes(raws[1])
    done = {}
    with caplog.at_level(logging.ERROR):
        helper.collect(done)
    assert list(done) == [0] and done[0].accepted  # the message the helper held, filed here
    assert "cannot hand a message to helper process" in caplog.text
    assert helper.filed_here == ["m0"]


@pytest.mark.parametrize("case", ["unknown signer", "not UTF-8"])
def test_an_encrypted_message_rejected_after_decryption_keeps_the_message_as_received(
        acceptor, pki, tmp_path, case):
    """The reject queue holds the original message, as the man page says: the encrypted one,
    not what decryption made of it."""
    identity, body = {"unknown signer": (pki.other_site, BODY), "not UTF-8": (pki.site, b"Site: \xff\n")}[case]
    raw = crypto.encrypt(crypto.sign(body, identity.cert_pem, identity.key_pem), pki.site.cert_pem)
    outcome = acceptor.handle(raw, "enc-1")
    assert not outcome.accepted and outcome.signer == crypto.signer_dn(identity.cert)
    [element] = rejected(tmp_path / "reject")
    assert element["body"] == raw.decode() and element["signer"] == outcome.signer
    assert crypto.is_enveloped(element["body"].encode())


@pytest.mark.parametrize("signing, encryption", [
    (None, ("-aes192",)), (None, ("-des3",)), (None, ("-des3", "-stream")),
    (("-nodetach", "-stream"), None), (("-nodetach", "-stream"), ("-des3", "-stream")),
], ids=["aes192", "des3", "des3 streamed", "opaque streamed", "opaque streamed in des3 streamed"])
def test_messages_the_existing_receiver_opens_are_accepted(acceptor, pki, tmp_path, signing, encryption):
    """Envelopes of every cipher ``openssl smime -decrypt`` opens, and streamed (BER) signatures.
    (The existing receiver takes any pkcs7-mime message for an envelope, so it opens an opaque
    signature only inside one; we accept it either way.)"""
    cert, key = pki.files(pki.site)

    def openssl(*args, data):
        return subprocess.run(["openssl", "smime", *args], input=data, check=True, capture_output=True).stdout

    if signing:
        message = openssl("-sign", *signing, "-text", "-signer", cert, "-inkey", key, data=BODY)
    else:
        message = crypto.sign(BODY, pki.site.cert_pem, pki.site.key_pem)
    if encryption:
        message = openssl("-encrypt", *encryption, cert, data=message)
    outcome = acceptor.handle(message, "openssl")
    assert outcome.accepted, outcome.reason
    assert incoming(tmp_path / "incoming")[0]["body"] == BODY.decode()
