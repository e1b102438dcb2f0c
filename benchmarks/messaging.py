"""Signed messages per second end to end (outgoing queue → RabbitMQ → incoming queue), against a baseline.

Ours: apel-send's Sender (window of messages awaiting receipts, in-process
signing) in this process and apel-receive (in-process verification, group
commit to disk, ACK) as a separate process, as deployed. Three figures per
size: the sender alone (into a queue nobody reads), the receiver alone
(draining that queue; from its first message on disk to its last, so its
start-up is not counted) and end to end (both at once, the receiver already
running; from the first send to the last message on disk). Baselines,
measured in the same run: the existing tools' way, one message at a time
waiting for each receipt, with an ``openssl smime`` process to sign each
message, received in one of two ways: as the existing receiver does it, an
``openssl`` process per step (the signature and content, then the PKCS#7
structure out of the message, its certificates, and the subject of the
first as the signer's DN: four processes, the low end of the four or five of
the reference figures in the design), and, as a lower bound for the existing
tools' cost, a single ``openssl smime -verify`` per message that yields no
signer DN at all. Ratios are given against both. Every case runs
``--repeat`` times (default 2) and prints each run, because the machine is shared.

Usage: python benchmarks/messaging.py [--quick] [--repeat N] [--case LABEL ...] [--ams]
(--case "1 MB" runs only that case; it may be given several times.)
Runs a private RabbitMQ of its own (tests/services/rabbitmq.sh in a temporary
directory, STOMP on port 61633), so that no earlier run's queues, nor tests
sharing the broker, weigh on the figures; it is removed at the end.

``--ams`` runs the AMS case instead: signed 1 KB messages end to end through
the AMS stand-in (tests/services/ams.py, HTTPS on loopback, a process of its
own), apel-send's Sender with the AMS channel here and apel-receive (AMS) as
a separate process, against a baseline in the same run that uses AMS as the
existing messenger does: argo-ams-library, one message per publish request,
then per pull and per acknowledgement, each message filed durably before it
is acknowledged (signing and verification are ours in both, in-process, so
the ratio is that of the use of AMS alone).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apeltools.demo import pki  # noqa: E402
from apeltools.messaging import crypto, memory, queues  # noqa: E402
from apeltools.messaging.brokers import Broker  # noqa: E402
from apeltools.messaging.connection import Link  # noqa: E402
from apeltools.messaging.sender import Sender, StompChannel, signer_for  # noqa: E402
from apeltools.retry import Backoff  # noqa: E402

HOST, PORT = "127.0.0.1", 61633
BROKER_ENV = {"APELTOOLS_RABBITMQ_STOMP_PORT": str(PORT), "APELTOOLS_RABBITMQ_AMQP_PORT": "13682",
              "APELTOOLS_RABBITMQ_NODENAME": "apeltools-bench@localhost"}
RECORD = ("Site: BENCH-SITE\nSubmitHost: ce01.example.org:8443/cream-pbs-long\nMachineName: wn{i}.example.org\n"
          "Queue: long\nLocalJobId: {i}\nLocalUserId: atlas001\nGlobalUserName: /C=UK/O=eScience/CN=user\n"
          "FQAN: /atlas/Role=production\nWallDuration: 3600\nCpuDuration: 3000\nProcessors: 1\nNodeCount: 1\n"
          "StartTime: 1700000000\nEndTime: 1700003600\nServiceLevelType: HEPSPEC\nServiceLevel: 10.0\n%%\n")


def message(records, pad_to=None):
    body = "APEL-individual-job-message: v0.3\n" + "".join(RECORD.format(i=i) for i in range(records))
    if pad_to:
        body = (body * (pad_to // len(body) + 1))[:pad_to]
    return body.encode()


def spread(directory):
    """Have ext4 put each subdirectory of ``directory`` in a block group of its own (chattr +T).

    The sender's and the receiver's queues stand for two hosts. On one ext4
    file system they would share block groups, and ext4 without a journal (the
    root file system here), when it allocates an inode, steps over every inode
    of the group deleted in the last minutes:
    the sender removing each sent message (and the clean-up of the previous
    case) then made each file the receiver creates cost up to a millisecond of
    kernel time. Elsewhere this does nothing.
    """
    subprocess.run(["chattr", "+T", str(directory)], capture_output=True)


def link():
    return Link([Broker(HOST, PORT)], username="guest", password="guest", heartbeat=0)


def _element_names(queue):
    """Names of the elements in a dirq Queue (bucket directories of elements), listed cheaply."""
    names = []
    for bucket in os.scandir(queue.path):
        if bucket.is_dir() and len(bucket.name) == 8:  # not temporary/ nor obsolete/
            names += os.listdir(bucket.path)
    return names


def _element_time(name):
    """When an element was added: dirq names are 8 hex digits of seconds then 5 of microseconds."""
    return int(name[:8], 16) + int(name[8:13], 16) / 1e6


def wait_for(queue, total):
    """Wait until ``queue`` holds ``total`` elements; return when its first and last were added (epoch s).

    The times come from the element names, which is exact to the microsecond
    and lets the polling be rare and cheap: it takes no CPU from the programs
    being measured.
    """
    while True:
        names = [n for n in _element_names(queue) if len(n) == 14]
        if len(names) >= total:
            return _element_time(min(names)), _element_time(max(names))
        time.sleep(0.05)


def start_receiver(work, capath, dn_file, destination):
    config = work / f"receiver-{destination.rsplit('.', 1)[-1]}.cfg"
    config.write_text(f"[broker]\nhost: {HOST}\nport: {PORT}\nusername: guest\npassword: guest\n"
                      f"[certificates]\ncapath: {capath}\n[messaging]\ndestination: {destination}\n"
                      f"incoming_path: {work}/incoming-{destination.rsplit('.', 1)[-1]}\n")
    return subprocess.Popen([sys.executable, "-c", "from apeltools.cli.receive import main; main()",
                             "--config", str(config), "--dn-file", dn_file, "-q", *os.environ.get("RECV_ARGS", "").split()])


def drain(work, identity, destination, body, count_):
    outgoing = queues.outgoing_queue(work / f"outgoing-{uuid.uuid4().hex[:6]}")
    for _ in range(count_):
        outgoing.add(body)
    # Written back before the clock starts, as a queue filled earlier would be: otherwise the
    # receiver's first sync (syncfs, the whole file system) would write the sender's queue too,
    # which in reality lies on another host.
    os.sync()
    sender = Sender(outgoing, StompChannel(link(), destination), signer_for(identity.cert_pem, identity.key_pem),
                    window=100, backoff=Backoff(0.2, 1, give_up_after=60))
    started = time.time()
    sender.drain(show_progress=False)
    sender.close()
    return started, time.time()


def ours(work, identity, capath, dn_file, body, count_):
    """(sender alone, receiver alone, end to end) in messages/s."""
    work.mkdir(parents=True, exist_ok=True)
    spread(work)
    # Sender alone into a queue nobody reads yet, then the receiver alone drains it.
    alone = f"/queue/apeltools.bench.{uuid.uuid4().hex[:8]}"
    started, ended = drain(work, identity, alone, body, count_)
    sender_rate = count_ / (ended - started)
    receiver = start_receiver(work, capath, dn_file, alone)
    try:
        first, last = wait_for(queues.incoming_queue(work / f"incoming-{alone.rsplit('.', 1)[-1]}"), count_)
    finally:
        receiver.terminate()
        receiver.wait()
    receiver_rate = (count_ - 1) / max(last - first, 1e-9)
    # End to end, the receiver started and warmed up by one message first.
    both = f"/queue/apeltools.bench.{uuid.uuid4().hex[:8]}"
    receiver = start_receiver(work, capath, dn_file, both)
    incoming = queues.incoming_queue(work / f"incoming-{both.rsplit('.', 1)[-1]}")
    try:
        drain(work, identity, both, body, 1)
        wait_for(incoming, 1)
        started, _ = drain(work, identity, both, body, count_)
        _, last = wait_for(incoming, count_ + 1)
    finally:
        receiver.terminate()
        receiver.wait()
    return sender_rate, receiver_rate, count_ / (last - started)


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def baseline(work, cert, key, capath, body, count_, per_step=True):
    """Stop-and-wait, an openssl process to sign each message and, on receipt, one per step
    (``per_step``) or a single one that only verifies.

    Its sender and its receiver run at the same time, as they would on two
    hosts, so the figure is the slower of the two rather than their sum.
    """
    destination = f"/queue/apeltools.bench.{uuid.uuid4().hex[:8]}"
    incoming = queues.incoming_queue(work / f"baseline-incoming-{'steps' if per_step else 'one'}")
    (work / "body").write_bytes(body)
    got = threading.Semaphore(0)
    inbound = link()

    def verify(frame, events):
        path = work / "in.msg"
        path.write_bytes(frame.body)
        verified = openssl("smime", "-verify", "-text", "-purpose", "any", "-CApath", capath, "-in", str(path))
        signer = "-"
        if per_step:
            structure = openssl("smime", "-pk7out", "-in", str(path))
            certificates = openssl("pkcs7", "-print_certs", stdin=structure)
            subject = openssl("x509", "-noout", "-subject", "-nameopt", "compat", stdin=certificates).decode()
            signer = subject.strip().removeprefix("subject=").strip()
        queues.add(incoming, {"body": verified.decode(), "signer": signer, "empaid": frame.headers["empa-id"]})
        inbound.ack(frame, events)
        got.release()

    inbound.on_message = verify
    inbound.open()
    inbound.subscribe(destination, {"prefetch-count": "1"})
    started = time.monotonic()
    out = link()
    out.open()
    for n in range(count_):
        signed = openssl("smime", "-sign", "-text", "-signer", cert, "-inkey", key, "-in", str(work / "body"))
        out.send(destination, signed, {"receipt": f"r{n}", "persistent": "true", "empa-id": str(n)})
        while not out.events.take()[0]:
            out.events.wait(30)
    out.close()
    for _ in range(count_):
        got.acquire()
    elapsed = time.monotonic() - started
    inbound.close()
    return count_ / elapsed


def ams_run(quick, repeat):
    """Signed 1 KB messages/s through the AMS stand-in: ours against one message per request."""
    from tests.services.ams import AmsServer

    work = Path(tempfile.mkdtemp(prefix="apeltools-bench-ams-"))
    spread(work)
    server = AmsServer.with_test_pki(work / "ams")
    server.start()
    try:
        ca = pki.make_ca()
        identity = pki.make_host(ca, "bench.example.org")
        cert, key = (str(p) for p in identity.write(work, "host"))
        capath = str(pki.write_ca_dir(work / "capath", [ca, server.ca]))
        (work / "dns").write_text(crypto.signer_dn(identity.cert) + "\n")
        body, count_, base_count = message(1, pad_to=1024), 1000 if quick else 5000, 100 if quick else 300
        print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared)")
        print("baseline: argo-ams-library, one message per publish, per pull and per acknowledgement "
              "(as the existing messenger uses AMS)")
        print(f"{'message':>8} {'count':>5} {'sender':>8} {'receiver':>9} {'end to end':>11} {'baseline':>9} "
              f"{'ratio':>7}   (messages/s)")
        for attempt in range(repeat):
            case = work / f"run-{attempt}"
            case.mkdir()
            sender_rate, receiver_rate, rate = ams_ours(case, server, identity, capath, body, count_)
            base_rate = ams_baseline(case, server, identity, capath, body, base_count)
            print(f"{'1 KB':>8} {count_:>5} {sender_rate:>8.1f} {receiver_rate:>9.1f} {rate:>11.1f} "
                  f"{base_rate:>9.1f} {rate / base_rate:>6.1f}x", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _ams_config(case, server, capath, role, destination, queue):
    config = case / f"{role}-{destination}.cfg"
    config.write_text(f"[{role}]\nprotocol: AMS\n[broker]\nhost: {server.endpoint}\n[certificates]\ncapath: {capath}\n"
                      f"[messaging]\nams_project: accounting\ntoken: bench\ndestination: {destination}\n"
                      f"incoming_path: {queue}\n")
    return config


def ams_ours(case, server, identity, capath, body, count_):
    """(sender alone, receiver alone, end to end) in messages/s, as ours() for STOMP."""
    from apeltools.config import Config
    from apeltools.messaging.ams import AmsChannel, AmsSettings

    server.reset(tokens={"bench": ["accounting"]})

    def drain_to(topic, n):
        outgoing = queues.outgoing_queue(case / f"outgoing-{uuid.uuid4().hex[:6]}")
        for _ in range(n):
            outgoing.add(body)
        os.sync()
        config = _ams_config(case, server, capath, "sender", topic, case / "unused")
        settings = AmsSettings.from_config(Config.load(str(config), environ={}), topic)
        sender = Sender(outgoing, AmsChannel(settings), signer_for(identity.cert_pem, identity.key_pem),
                        window=settings.window, backoff=Backoff(0.2, 1, give_up_after=60))
        started = time.time()
        sender.drain(show_progress=False)
        sender.close()
        return started, time.time()

    def receiver(name):
        incoming = case / f"incoming-{name}"
        config = _ams_config(case, server, capath, "receiver", name, incoming)
        process = subprocess.Popen([sys.executable, "-c", "from apeltools.cli.receive import main; main()",
                                    "--config", str(config), "--dn-file", str(case.parent / "dns"),
                                    "--interval", "0.05", "-q"])
        return process, queues.incoming_queue(incoming)

    server.create("alone", "alone", token="bench")
    started, ended = drain_to("alone", count_)
    sender_rate = count_ / (ended - started)
    process, incoming = receiver("alone")
    try:
        first, last = wait_for(incoming, count_)
    finally:
        process.terminate()
        process.wait()
    receiver_rate = (count_ - 1) / max(last - first, 1e-9)
    server.create("both", "both", token="bench")
    process, incoming = receiver("both")
    try:
        drain_to("both", 1)
        wait_for(incoming, 1)
        started, _ = drain_to("both", count_)
        _, last = wait_for(incoming, count_ + 1)
    finally:
        process.terminate()
        process.wait()
    return sender_rate, receiver_rate, count_ / (last - started)


def ams_baseline(case, server, identity, capath, body, count_):
    """argo-ams-library one message per request each way, sender and receiver at the same time."""
    import argo_ams_library

    from apeltools.messaging.acceptor import Acceptor
    from apeltools.authz.dnlist import DNList

    server.create("baseline", "baseline", token="bench")
    bundle = case / "ams-ca.pem"
    bundle.write_bytes(server.ca.cert_pem)
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)  # the library verifies with requests' default
    acceptor = Acceptor(queues.incoming_queue(case / "baseline-incoming"), queues.reject_queue(case / "baseline-reject"),
                        capath, DNList(str(case.parent / "dns")))

    def send():
        ams = argo_ams_library.ArgoMessagingService(endpoint=server.endpoint, project="accounting", token="bench")
        for n in range(count_):
            signed = crypto.sign(body, identity.cert_pem, identity.key_pem)
            ams.publish("baseline", [argo_ams_library.AmsMessage(data=signed, attributes={"empaid": str(n)})])

    started = time.monotonic()
    sender = threading.Thread(target=send)
    sender.start()
    ams = argo_ams_library.ArgoMessagingService(endpoint=server.endpoint, project="accounting", token="bench")
    got = 0
    while got < count_:
        pulled = ams.pull_sub("baseline", num=1, return_immediately=True)
        if not pulled:
            time.sleep(0.01)
            continue
        for ack_id, received in pulled:
            acceptor.handle(received.get_data(), received.get_attr().get("empaid"))
            ams.ack_sub("baseline", [ack_id])
            got += 1
    sender.join()
    return count_ / (time.monotonic() - started)


def main():
    quick = "--quick" in sys.argv
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 2
    only = [sys.argv[n + 1] for n, arg in enumerate(sys.argv[:-1]) if arg == "--case"]
    memory.keep_large_buffers()  # as apel-send does: the sender runs in this process
    if "--ams" in sys.argv:
        ams_run(quick, repeat)
        return
    broker_dir = tempfile.mkdtemp(prefix="apeltools-bench-rabbitmq-")
    os.chmod(broker_dir, 0o755)
    rabbitmq = ["bash", str(ROOT / "tests/services/rabbitmq.sh")]
    subprocess.run([*rabbitmq, "start", broker_dir], check=True, env={**os.environ, **BROKER_ENV})
    try:
        run(quick, repeat, only)
    finally:
        subprocess.run([*rabbitmq, "stop", broker_dir], env={**os.environ, **BROKER_ENV})
        shutil.rmtree(broker_dir, ignore_errors=True)


def run(quick, repeat, only=()):
    work = Path(tempfile.mkdtemp(prefix="apeltools-bench-"))
    ca = pki.make_ca()
    identity = pki.make_host(ca, "bench.example.org")
    cert, key = (str(p) for p in identity.write(work, "host"))
    capath = str(pki.write_ca_dir(work / "capath", [ca]))
    dns = str(work / "dns")
    (work / "dns").write_text(crypto.signer_dn(identity.cert) + "\n")
    cases = [("1 KB", message(1, pad_to=1024), 1000 if quick else 4000, 50 if quick else 200),
             ("1000 records", message(1000), 40 if quick else 200, 5 if quick else 20),
             ("1 MB", message(1, pad_to=1 << 20), 20 if quick else 100, 3 if quick else 10),
             ("10 MB", message(1, pad_to=10 << 20), 3 if quick else 10, 2 if quick else 3)]
    unknown = set(only) - {case[0] for case in cases}
    if unknown:
        sys.exit(f"no such case: {', '.join(sorted(unknown))} (cases: {', '.join(case[0] for case in cases)})")
    cases = [case for case in cases if not only or case[0] in only]
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared)")
    print("baseline: openssl per step on receipt, as the existing receiver; one-process: a single "
          "openssl smime -verify per message (no signer DN), a lower bound")
    print(f"{'message':>12} {'bytes':>9} {'count':>5} {'sender':>8} {'receiver':>9} {'end to end':>11} "
          f"{'baseline':>9} {'ratio':>7} {'one-process':>12} {'ratio':>7}   (messages/s)")
    for label, body, count_, base_count in cases:
        for attempt in range(repeat):
            case = work / f"{label.replace(' ', '_')}-{attempt}"
            sender_rate, receiver_rate, rate = ours(case, identity, capath, dns, body, count_)
            base_rate = baseline(case, cert, key, capath, body, base_count)
            one_rate = baseline(case, cert, key, capath, body, base_count, per_step=False)
            print(f"{label:>12} {len(body):>9} {count_:>5} {sender_rate:>8.1f} {receiver_rate:>9.1f} {rate:>11.1f} "
                  f"{base_rate:>9.2f} {rate / base_rate:>6.1f}x {one_rate:>12.2f} {rate / one_rate:>6.1f}x",
                  flush=True)
            if len(body) >= 1 << 20:
                shutil.rmtree(case)  # the 10 MB cases alone leave gigabytes
            # Small messages' files stay until the end: deleting tens of thousands of files
            # would slow the next case's file creation (see spread()).
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
