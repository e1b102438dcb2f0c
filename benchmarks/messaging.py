"""Signed messages per second end to end (outgoing queue → RabbitMQ → incoming queue), against a baseline.

Ours: apel-send's Sender (window of messages awaiting receipts, in-process
signing) in this process and apel-receive (in-process verification, fsync,
ACK) as a separate process, running at the same time; the clock runs from the
first send to the last message on disk. Baseline, measured in the same run: the existing
tools' way, one message at a time waiting for each receipt, with an
``openssl smime`` process to sign each message and another to verify it.

Usage: python benchmarks/messaging.py [--quick]
Needs the RabbitMQ of tests/services (started here when it is not running).
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apeltools.messaging import crypto, pki, queues  # noqa: E402
from apeltools.messaging.brokers import Broker  # noqa: E402
from apeltools.messaging.connection import Link  # noqa: E402
from apeltools.messaging.sender import Sender, StompChannel, signer_for  # noqa: E402
from apeltools.retry import Backoff  # noqa: E402

HOST, PORT = "127.0.0.1", int(os.environ.get("APELTOOLS_RABBITMQ_STOMP_PORT", "61613"))
RECORD = ("Site: BENCH-SITE\nSubmitHost: ce01.example.org:8443/cream-pbs-long\nMachineName: wn{i}.example.org\n"
          "Queue: long\nLocalJobId: {i}\nLocalUserId: atlas001\nGlobalUserName: /C=UK/O=eScience/CN=user\n"
          "FQAN: /atlas/Role=production\nWallDuration: 3600\nCpuDuration: 3000\nProcessors: 1\nNodeCount: 1\n"
          "StartTime: 1700000000\nEndTime: 1700003600\nServiceLevelType: HEPSPEC\nServiceLevel: 10.0\n%%\n")


def message(records, pad_to=None):
    body = "APEL-individual-job-message: v0.3\n" + "".join(RECORD.format(i=i) for i in range(records))
    if pad_to:
        body = (body * (pad_to // len(body) + 1))[:pad_to]
    return body.encode()


def link():
    return Link([Broker(HOST, PORT)], username="guest", password="guest", heartbeat=0)


def ours(work, identity, capath, dn_file, body, count):
    """Sender in this process, apel-receive as a separate process (as deployed)."""
    outgoing = queues.outgoing_queue(work / "outgoing")
    for _ in range(count):
        outgoing.add(body)
    destination = f"/queue/apeltools.bench.{uuid.uuid4().hex[:8]}"
    config = work / "receiver.cfg"
    config.write_text(f"[broker]\nhost: {HOST}\nport: {PORT}\nusername: guest\npassword: guest\n"
                      f"[certificates]\ncapath: {capath}\n[messaging]\ndestination: {destination}\n"
                      f"path: {work}/incoming\n")
    receiver = subprocess.Popen([sys.executable, "-c", "from apeltools.cli.receive import main; main()",
                                 "--config", str(config), "--dn-file", dn_file, "-q"])
    incoming = queues.incoming_queue(work / "incoming")
    sender = Sender(outgoing, StompChannel(link(), destination), signer_for(identity.cert_pem, identity.key_pem),
                    window=100, backoff=Backoff(0.2, 1, give_up_after=60))
    started = time.monotonic()
    sender.drain(show_progress=False)
    sender.close()
    while sum(1 for _ in incoming) < count:
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    receiver.terminate()
    receiver.wait()
    return count / elapsed


def baseline(work, cert, key, capath, body, count):
    """Stop-and-wait, an openssl process to sign and one to verify each message."""
    destination = f"/queue/apeltools.bench.{uuid.uuid4().hex[:8]}"
    incoming = queues.incoming_queue(work / "baseline-incoming")
    (work / "body").write_bytes(body)
    started = time.monotonic()
    out = link()
    out.open()
    for n in range(count):
        signed = subprocess.run(["openssl", "smime", "-sign", "-text", "-signer", cert, "-inkey", key,
                                 "-in", str(work / "body")], capture_output=True, check=True).stdout
        out.send(destination, signed, {"receipt": f"r{n}", "persistent": "true", "empa-id": str(n)})
        while not out.events.take()[0]:
            out.events.wait(30)
    out.close()
    got = threading.Semaphore(0)
    inbound = link()

    def verify(frame, events):
        path = work / "in.msg"
        path.write_bytes(frame.body)
        verified = subprocess.run(["openssl", "smime", "-verify", "-text", "-purpose", "any", "-CApath", capath,
                                   "-in", str(path)], capture_output=True, check=True).stdout
        queues.add(incoming, {"body": verified.decode(), "signer": "-", "empaid": frame.headers["empa-id"]})
        inbound.ack(frame, events)
        got.release()

    inbound.on_message = verify
    inbound.open()
    inbound.subscribe(destination, {"prefetch-count": "1"})
    for _ in range(count):
        got.acquire()
    elapsed = time.monotonic() - started
    inbound.close()
    return count / elapsed


def main():
    quick = "--quick" in sys.argv
    if subprocess.run(["bash", str(ROOT / "tests/services/rabbitmq.sh"), "status"], capture_output=True).returncode:
        subprocess.run(["bash", str(ROOT / "tests/services/rabbitmq.sh"), "start"], check=True)
    work = Path(tempfile.mkdtemp(prefix="apeltools-bench-"))
    ca = pki.make_ca()
    identity = pki.make_host(ca, "bench.example.org")
    cert, key = (str(p) for p in identity.write(work, "host"))
    capath = str(pki.write_ca_dir(work / "capath", [ca]))
    (work / "dns").write_text(crypto.signer_dn(identity.cert) + "\n")
    cases = [("1 KB", message(1, pad_to=1024), 500 if quick else 3000, 50 if quick else 200),
             ("1000 records", message(1000), 20 if quick else 100, 5 if quick else 20),
             ("1 MB", message(1, pad_to=1 << 20), 10 if quick else 50, 3 if quick else 10)]
    print(f"{'message':>14} {'bytes':>9} {'ours msg/s':>11} {'baseline msg/s':>15} {'ratio':>7}")
    for label, body, count, base_count in cases:
        case = work / label.replace(" ", "_")
        ours_rate = ours(case, identity, capath, str(work / "dns"), body, count)
        base_rate = baseline(case, cert, key, capath, body, base_count)
        print(f"{label:>14} {len(body):>9} {ours_rate:>11.0f} {base_rate:>15.1f} {ours_rate / base_rate:>6.1f}x",
              flush=True)
    big = message(1, pad_to=10 << 20)
    rate = ours(work / "10MB", identity, capath, str(work / "dns"), big, 2 if quick else 5)
    print(f"{'10 MB':>14} {len(big):>9} {rate:>11.1f} {'-':>15} {'-':>7}  (handled)")


if __name__ == "__main__":
    main()
