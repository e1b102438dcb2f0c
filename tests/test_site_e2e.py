"""A site's cron run end to end: generated SLURM, Torque and blah logs → bin/apel-site-run (a real
subprocess, local transport, signed with a throw-away host certificate) → apel-receive --once →
apel-load → apel-summarise in a second database, whose VSuperSummaries must hold exactly what the
logs say, with check_apel_sync OK for the site."""

import calendar
import datetime
import fcntl
import gzip
import os
import subprocess
import time
from pathlib import Path

import pytest

from apeltools import db as databases
from apeltools.demo import pki, sample_logs
from apeltools.messaging.crypto import signer_dn

ROOT = Path(__file__).resolve().parent.parent
SITE_RUN = ROOT / "bin" / "apel-site-run"
SITE_HOST = "apel.demo.example.org"
JOBS_PER_DAY = 12


def previous_month():
    first = datetime.date.today().replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def recount(logs):
    """{(submit host, year, month): [jobs, wall, cpu]} counted from the log files themselves:
    SLURM job lines (not steps) and Torque E records, each grid job's CE taken from its blah line."""
    def lines(kind):
        for path in logs.files[kind]:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as handle:
                yield from (line.rstrip("\n") for line in handle if line.strip())

    ce_of = {}
    for line in lines("blah"):
        tokens = dict(token.split("=", 1) for token in line.strip('"').split('" "'))
        ce_of[tokens["lrmsID"]] = tokens["ceID"]
    ended = []  # (job id, end, wall, cpu)
    for line in lines("slurm"):
        fields = line.split("|")
        if "." in fields[0]:
            continue  # a job step: part of its job
        end = calendar.timegm(time.strptime(fields[5], "%Y-%m-%dT%H:%M:%S"))
        ended.append((fields[0], end, _seconds(fields[6]), int(fields[7])))
    for line in lines("pbs"):
        _, kind, job_id, rest = line.split(";", 3)
        if kind != "E":
            continue
        values = dict(item.split("=", 1) for item in rest.split())
        ended.append((job_id, int(values["end"]), int(values["end"]) - int(values["start"]),
                      int(values["resources_used.cput"])))
    totals = {}
    for job_id, end, wall, cpu in ended:
        moment = time.gmtime(end)
        key = (ce_of.get(job_id, sample_logs.LOCAL_SUBMIT_HOST), moment.tm_year, moment.tm_mon)
        counts = totals.setdefault(key, [0, 0, 0])
        counts[0] += 1
        counts[1] += wall
        counts[2] += cpu
    return totals


def _seconds(text):
    days, _, clock = text.rpartition("-")
    hours, minutes, seconds = map(int, clock.split(":"))
    return int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def certificates(tmp_path):
    """A throw-away CA directory and the site's host certificate and key."""
    ca = pki.make_ca("/C=XX/O=apeltools test/CN=apeltools test CA")
    capath = pki.write_ca_dir(tmp_path / "pki" / "ca", [ca])
    host = pki.make_host(ca, SITE_HOST, dn=f"/C=XX/O=apeltools test/CN={SITE_HOST}")
    cert, key = host.write(tmp_path / "pki", SITE_HOST)
    return str(capath), str(cert), str(key), signer_dn(host.cert_pem)


def site_config(tmp_path, logs, site_db, capath, cert, key, send_summaries):
    spool = tmp_path / "site-spool"
    benchmarks = [line for line in logs.config_text().splitlines() if line.startswith("manual_spec")]
    return write(tmp_path / "site.cfg", "\n".join([
        "[db]", f"url = {site_db}",
        "[site_info]", f"site_name = {logs.site}",
        "[spec_updater]", "enabled = false", *benchmarks,
        "[parser]", "timezone = UTC",
        "[parser:slurm]", f"dir = {logs.directory}/slurm", "glob = sacct-*",
        "[parser:torque]", "type = pbs", f"dir = {logs.directory}/pbs", "filename_prefix = 20",
        "[blah]", "enabled = true", f"dir = {logs.directory}/blah", "filename_prefix = blahp.log",
        "subdirs = false",
        "[joiner]", "enabled = true", "local_jobs = true", f"local_submit_host = {sample_logs.LOCAL_SUBMIT_HOST}",
        "[unloader]", "enabled = true", f"dir_location = {spool}", f"send_summaries = {send_summaries}",
        "interval = latest",
        "[ssm]", "enabled = true",
        "[messaging]", "transport = local", f"path = {spool}/outgoing", f"wire_path = {tmp_path}/wire",
        "[certificates]", f"certificate = {cert}", f"key = {key}", f"capath = {capath}",
    ]) + "\n")


def run(command, tmp_path, **env):
    environment = dict(os.environ, TMPDIR=str(tmp_path), **env)
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600, env=environment)


def repository_side(tmp_path, receiver, db_url):
    """apel-receive --once, apel-load and apel-summarise, as subprocesses; nothing may be rejected."""
    for command in (["apel-receive", "--config", receiver, "--dn-file", tmp_path / "dns", "--once"],
                    ["apel-load", "--db", db_url, "--queue", tmp_path / "incoming",
                     "--reject", tmp_path / "load-reject"],
                    ["apel-summarise", "--db", db_url]):
        done = run(command, tmp_path, APELTOOLS_CONFIG=os.devnull)
        assert done.returncode == 0, (command, done.stderr)
    assert not list((tmp_path / "reject").rglob("body")), "a message was rejected"
    assert not list((tmp_path / "load-reject").rglob("body")), "a record was rejected"


def repository_totals(db_url, site):
    """{(submit host, year, month): [jobs, wall, cpu]} of the repository's VSuperSummaries."""
    with databases.connect(db_url) as repository:
        return {(host, int(y), int(m)): [int(n), int(w), int(c)] for host, y, m, n, w, c in repository.query(
            "SELECT SubmitHost, Year, Month, SUM(NumberOfJobs), SUM(WallDuration), SUM(CpuDuration) "
            "FROM VSuperSummaries WHERE Site = ? GROUP BY SubmitHost, Year, Month", [site])}


@pytest.mark.parametrize("send_summaries", ["false", "true"], ids=["jobs", "summaries"])
def test_logs_to_repository_super_summaries_through_apel_site_run(tmp_path, db_url, certificates,
                                                                  send_summaries):
    year, month = previous_month()
    logs = sample_logs.generate(str(tmp_path / "logs"), year, month, jobs_per_day=JOBS_PER_DAY)
    capath, cert, key, dn = certificates
    site_db = f"sqlite:///{tmp_path}/site/site.db"  # made by the first run
    config = site_config(tmp_path, logs, site_db, capath, cert, key, send_summaries)

    site_run = run([SITE_RUN, "--config", config], tmp_path)
    assert site_run.returncode == 0, site_run.stderr
    assert site_run.stdout == "" and site_run.stderr == ""  # quiet for cron

    write(tmp_path / "dns", f"# authorised senders\n{dn}\n")
    receiver = write(tmp_path / "receiver.cfg", "\n".join([
        "[messaging]", "transport = local", f"wire_path = {tmp_path}/wire", f"incoming_path = {tmp_path}/incoming",
        f"reject_path = {tmp_path}/reject", "[certificates]", f"capath = {capath}"]) + "\n")
    repository_side(tmp_path, receiver, db_url)

    expected = recount(logs)
    assert expected == {key: list(value) for key, value in logs.totals(grid_only=False).items()}
    assert repository_totals(db_url, logs.site) == expected
    with databases.connect(db_url) as repository:
        synced = {(host, int(y), int(m)): int(n) for host, y, m, n in repository.query(
            "SELECT SubmitHost, Year, Month, NumberOfJobs FROM VSyncRecords WHERE Site = ?", [logs.site])}
    assert synced == {key: counts[0] for key, counts in expected.items()}

    sync = run(["check_apel_sync", "--site", logs.site, "--db", db_url], tmp_path, APELTOOLS_CONFIG=os.devnull)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert sync.stdout.startswith("OK [ 1 month in step"), sync.stdout

    # A second run finds nothing new in the logs; the repository still holds the same.
    again = run([SITE_RUN, "--config", config], tmp_path)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    repository_side(tmp_path, receiver, db_url)
    assert repository_totals(db_url, logs.site) == expected


def test_apel_site_run_takes_the_existing_parser_client_and_sender_files(tmp_path, certificates):
    logs = sample_logs.generate(str(tmp_path / "logs"), *previous_month(), jobs_per_day=4)
    capath, cert, key, _ = certificates
    site_db = f"sqlite:///{tmp_path}/site.db"
    parser = write(tmp_path / "parser.cfg", f"""[db]
url = {site_db}
[site_info]
site_name = {logs.site}
lrms_server = slurm.example.org
[blah]
enabled = true
dir = {logs.directory}/blah
filename_prefix = blahp.log
subdirs = false
[batch]
enabled = true
reparse = false
type = SLURM
parallel = false
dir = {logs.directory}/slurm
filename_prefix = sacct-
subdirs = false
[parser]
timezone = UTC
""")
    specs = "\n".join(line for line in logs.config_text().splitlines() if line.startswith("manual_spec"))
    client = write(tmp_path / "client.cfg", f"""[db]
url = {site_db}
[spec_updater]
enabled = false
site_name = {logs.site}
{specs}
[joiner]
enabled = true
local_jobs = false
[unloader]
enabled = true
dir_location = {tmp_path}/spool/
send_summaries = true
withhold_dns = false
interval = latest
send_ur = false
[ssm]
enabled = false
""")
    sender = write(tmp_path / "sender.cfg", f"""[messaging]
transport = local
path = {tmp_path}/spool/outgoing
wire_path = {tmp_path}/wire
[certificates]
certificate = {cert}
key = {key}
capath = {capath}
""")
    command = [SITE_RUN, "--config", client, "--parser-config", parser, "--sender-config", sender]
    done = run(command, tmp_path)
    assert done.returncode == 0, done.stderr
    # Local jobs are off, so the local SLURM jobs are reported (once, a warning cron mails), not dropped.
    local = sorted(j.job_id for j in logs.jobs if not j.grid and j.system == "SLURM")
    assert done.stderr == (f"apel-join: {len(local)} batch records not joined: no blah record: "
                           + ", ".join(f"SLURM {job_id}" for job_id in local) + "\n")
    outgoing = tmp_path / "spool" / "outgoing"
    bodies = [p.read_text() for p in outgoing.glob("*/*") if not p.name.endswith((".tmp", ".lck"))]
    grid_slurm = sum(1 for j in logs.jobs if j.grid and j.system == "SLURM")
    assert sum(int(line.split(":")[1]) for body in bodies if body.startswith("APEL-summary-job-message")
               for line in body.splitlines() if line.startswith("NumberOfJobs")) == grid_slurm
    assert any(body.startswith("APEL-sync-message") for body in bodies)
    assert not (tmp_path / "wire").exists()  # [ssm] enabled = false: nothing sent

    write(Path(client), Path(client).read_text().replace("[ssm]\nenabled = false", "[ssm]\nenabled = true"))
    done = run([*command, "-v"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "apel-site-run: sending" in done.stderr and "apel-site-run: done" in done.stderr
    assert not [p for p in outgoing.glob("*/*")] and list((tmp_path / "wire").rglob("message"))


def test_apel_site_run_usage_errors_and_a_second_run_at_once(tmp_path):
    assert run([SITE_RUN, "--no-such-option"], tmp_path).returncode == 2
    missing = run([SITE_RUN, "--config", tmp_path / "none.cfg"], tmp_path)
    assert missing.returncode == 1 and "cannot read configuration" in missing.stderr
    config = write(tmp_path / "site.cfg", "[db]\nurl = sqlite:///" + str(tmp_path / "site.db") + "\n")
    lock = tmp_path / "run.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = run([SITE_RUN, "--config", config, "--lock", lock], tmp_path)
    assert busy.returncode == 1 and "another apel-site-run" in busy.stderr
    # Nothing configured to parse: the parse step fails, the run stops there and says so.
    stopped = run([SITE_RUN, "--config", config, "--lock", lock], tmp_path)
    assert stopped.returncode == 2 and "the parse step failed (exit 2)" in stopped.stderr
