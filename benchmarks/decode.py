#!/usr/bin/env python3
"""Decoding throughput: records/s decoded and validated on one core, per message layout.

Each layout is a message of 1,000 records as some producer writes it:

* the deployed client's order, every field present (v0.3 and v0.4 jobs);
* the same records shuffled line by line, VO/VOGroup/VORole left out (other producers);
* CRLF line ends, blank lines around the separators and ``Key:Value`` without a space;
* summaries (v0.2), sync and cloud records, canonical and shuffled.

``parse_message`` (what the loader runs) decodes each, in a process of its own for this
tree and for the whole ``apeltools`` package of another git revision (``--baseline``, by
default the one before the columnar decoder, whose canonical layout had a fast path of its
own), taken turn about (``--rounds``) so that both meet the same load on a shared machine.
Figures are CPU seconds of the decoding process (the best of every run), so that other load
weighs less; the ratio to the baseline is what to compare between machines. Both must give
the same records and rejects.

    python benchmarks/decode.py
    python benchmarks/decode.py --baseline HEAD~5 --repeat 9 --rounds 5
"""

import argparse
import dataclasses
import hashlib
import io
import json
import os
import pickle
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_MESSAGE = 1000
NOW = 1793491200  # 2026-11-01: every sample record lies before it
BASELINE = "71dc5a0"  # the last revision with the canonical fast path and the general path


def cloud_records(rng, count):
    from apeltools.records.types import CLOUD

    records = []
    for number in range(count):
        start = rng.randrange(1790000000, 1792000000)
        wall = rng.randrange(60, 10**6)
        records.append(CLOUD.make(
            RecordCreateTime=start + wall, VMUUID=f"{rng.getrandbits(128):032x}", SiteName="DEMO-CLOUD",
            CloudComputeService="nova.example.org", MachineName=f"vm-{number}", LocalUserId=f"u{number % 97}",
            LocalGroupId="g1", GlobalUserName=f"/C=UK/O=eScience/CN=user {number % 31}", FQAN="/atlas/Role=NULL",
            Status="completed", StartTime=start, EndTime=start + wall, SuspendDuration=0, WallDuration=wall,
            CpuDuration=wall * 2, CpuCount=4, NetworkType="private", NetworkInbound=rng.randrange(10**9),
            NetworkOutbound=rng.randrange(10**9), PublicIPCount=1, Memory=4096, Disk=40, BenchmarkType="HEPSPEC",
            Benchmark=round(rng.uniform(5, 20), 3), StorageRecordId=f"sr-{number}", ImageId="image-1",
            CloudType="OpenStack",
        ))
    return records


def shuffled(body, leave_out=()):
    """The same message with each record's lines in random order, ``leave_out`` keys dropped."""
    from apeltools.records import text

    rng = random.Random(3)
    header, blocks = text.split_records(body)
    out = [header]
    for block in blocks:
        lines = [line for line in block.split("\n") if line.split(":", 1)[0] not in leave_out]
        rng.shuffle(lines)
        out += lines + ["%%"]
    return "\n".join(out) + "\n"


def loose(body):
    """CRLF line ends, blank lines around each separator and ``Key:Value`` without a space."""
    from apeltools.records import text

    header, blocks = text.split_records(body)
    records = ["\n".join(line.replace(": ", ":", 1) for line in block.split("\n")) for block in blocks]
    return (header + "\n" + "".join(r + "\n\n%%\n\n" for r in records)).replace("\n", "\r\n")


def layouts():
    """{layout: message} of the layouts above."""
    from apeltools.demo import sample
    from apeltools.records import text

    rng = sample.rng_for(1)
    jobs = sample.jobs(sample.SITES[0], 2026, 10, PER_MESSAGE, rng)
    summaries = []
    for site in sample.SITES:
        site_jobs = sample.jobs(site, 2026, 10, 3000, rng)
        summaries += sample.summaries(site, 2026, 10, site_jobs)
    syncs = []
    for site in sample.SITES:
        for month in range(1, 11):
            syncs += sample.syncs(site, 2026, month, jobs[: month * 50])
    v03 = text.write_message(text.JOB_V03, jobs)
    v04 = text.write_message(text.JOB_V04, jobs)
    vo = ("VO", "VOGroup", "VORole")
    summary = text.write_message(text.SUMMARY_V02, (summaries * PER_MESSAGE)[:PER_MESSAGE])
    sync = text.write_message(text.SYNC_V01, (syncs * PER_MESSAGE)[:PER_MESSAGE])
    cloud = text.write_message(text.CLOUD_V04, cloud_records(rng, PER_MESSAGE))
    return {
        "jobs v0.3, deployed client's order": v03,
        "jobs v0.3, shuffled, no VO/VOGroup/VORole": shuffled(v03, vo),
        "jobs v0.3, CRLF, blank lines, Key:Value": loose(v03),
        "jobs v0.4 dict benchmarks": v04,
        "jobs v0.4, shuffled, no VO/VOGroup/VORole": shuffled(v04, vo),
        "jobs v0.4, CRLF, blank lines, Key:Value": loose(v04),
        "summaries v0.2": summary,
        "summaries v0.2, shuffled": shuffled(summary),
        "sync v0.1": sync,
        "sync v0.1, shuffled": shuffled(sync),
        "cloud v0.4": cloud,
        "cloud v0.4, shuffled, CRLF": loose(shuffled(cloud)),
    }


def tree_of(revision, workdir):
    """A directory holding the ``apeltools`` package as it was at ``revision``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "apeltools"],
                             check=True, capture_output=True).stdout
    tree = Path(workdir) / "baseline"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree)
    return tree


def outcome(parsed):
    """A digest of what a message decoded to: every record's values and every reject."""
    records = [tuple(getattr(r, f.name) for f in dataclasses.fields(r)) for r in parsed.records]
    errors = [(e.index, e.field, e.reason) for e in parsed.errors]
    return hashlib.sha256(repr((records, errors)).encode()).hexdigest()


def worker(messages, repeat):
    """Time ``parse_message`` of whichever ``apeltools`` is first on the path: {layout: (best
    CPU seconds, digest)}."""
    from apeltools.records.message import parse_message

    found = {}
    for name, body in messages.items():
        parsed = parse_message(body, NOW)
        if parsed.errors or len(parsed.records) != PER_MESSAGE:
            raise SystemExit(f"{name}: benchmark message did not decode: {parsed.errors[:3]}")
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            parse_message(body, NOW)
            best = min(best, time.process_time() - started)
        found[name] = (best, outcome(parsed))
    return found


def run_worker(tree, messages_file, repeat):
    """``worker`` in a process importing ``apeltools`` from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--worker", str(messages_file), "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True, env=env, cwd=tree).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the decoder to compare with")
    parser.add_argument("--repeat", type=int, default=7, help="decodings of each message per process")
    parser.add_argument("--rounds", type=int, default=3, help="processes of each decoder, taken turn about")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with open(args.worker, "rb") as stream:
            print(json.dumps(worker(pickle.load(stream), args.repeat)))
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as workdir:
        messages = layouts()
        messages_file = Path(workdir) / "messages.pickle"
        messages_file.write_bytes(pickle.dumps(messages))
        trees = {"ours": ROOT, "baseline": tree_of(args.baseline, workdir)}
        best = {}
        for _ in range(args.rounds):
            for side, tree in trees.items():
                for name, (seconds, digest) in run_worker(tree, messages_file, args.repeat).items():
                    previous = best.get((side, name), (float("inf"), digest))
                    best[side, name] = (min(previous[0], seconds), digest)
        print(f"{'layout':45} {'records/s':>10} {'baseline':>10} {'ratio':>6}")
        for name in messages:
            (ours, digest), (theirs, their_digest) = best["ours", name], best["baseline", name]
            if digest != their_digest:
                raise SystemExit(f"{name}: the two decoders disagree")
            print(f"{name:45} {PER_MESSAGE / ours:10,.0f} {PER_MESSAGE / theirs:10,.0f} {theirs / ours:6.2f}")


if __name__ == "__main__":
    main()
