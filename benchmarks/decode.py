#!/usr/bin/env python3
"""Decoding throughput: records/s decoded and validated on one core, per message layout.

Each layout is a message of 1,000 records as some producer writes it:

* the deployed client's order, every field present (v0.3 and v0.4 jobs);
* the same records shuffled line by line, VO/VOGroup/VORole left out (other producers);
* CRLF line ends, blank lines around the separators and ``Key:Value`` without a space;
* summaries (v0.2), sync and cloud records, canonical and shuffled.

``parse_message`` (what the loader runs) decodes each; the baseline decodes the same
messages with the decoder of another git revision (``--baseline``, by default the one
before the columnar decoder), copied from git into a temporary package. Figures are CPU
seconds of this process (the best of ``--repeat`` runs), so that other load on the machine
weighs less; the ratio to the baseline is what to compare between machines.

    python benchmarks/decode.py
    python benchmarks/decode.py --baseline HEAD~5 --repeat 9
"""

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apeltools.demo import sample  # noqa: E402
from apeltools.records import text  # noqa: E402
from apeltools.records.message import parse_message  # noqa: E402
from apeltools.records.types import CLOUD  # noqa: E402

PER_MESSAGE = 1000
NOW = 1793491200  # 2026-11-01: every sample record lies before it
BASELINE = "71dc5a0"  # the last revision with the canonical fast path and the general path
BASELINE_FILES = ("text.py", "canonical.py", "message.py")


def cloud_records(rng, count):
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
    header, blocks = text.split_records(body)
    records = ["\n".join(line.replace(": ", ":", 1) for line in block.split("\n")) for block in blocks]
    return (header + "\n" + "".join(r + "\n\n%%\n\n" for r in records)).replace("\n", "\r\n")


def layouts():
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


def baseline_decoder(revision, workdir):
    """``parse_message`` of the text decoder at ``revision``, as a package of its own."""
    package = Path(workdir) / "baseline_records"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in BASELINE_FILES:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:apeltools/records/{name}"],
                                check=True, capture_output=True, text=True).stdout
        source = source.replace("from apeltools.records.canonical", "from baseline_records.canonical")
        source = source.replace("from apeltools.records import accelerator, car, star, text",
                                "from apeltools.records import accelerator, car, star\n"
                                "from baseline_records import text")
        (package / name).write_text(source)
    sys.path.insert(0, str(workdir))
    from baseline_records.message import parse_message as baseline
    return baseline


def rate(parse, body, repeat):
    """Records/s of ``parse`` on ``body``: the best of ``repeat`` runs, in CPU seconds."""
    parsed = parse(body, NOW)
    if parsed.errors or len(parsed.records) != PER_MESSAGE:
        raise SystemExit(f"benchmark message did not decode: {parsed.errors[:3]}")
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        parse(body, NOW)
        best = min(best, time.process_time() - started)
    return PER_MESSAGE / best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the decoder to compare with")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        baseline = baseline_decoder(args.baseline, workdir)
        print(f"{'layout':45} {'records/s':>10} {'baseline':>10} {'ratio':>6}")
        for name, body in layouts().items():
            ours, theirs = rate(parse_message, body, args.repeat), rate(baseline, body, args.repeat)
            assert parse_message(body, NOW).records == baseline(body, NOW).records, name
            print(f"{name:45} {ours:10,.0f} {theirs:10,.0f} {ours / theirs:6.2f}", flush=True)


if __name__ == "__main__":
    main()
