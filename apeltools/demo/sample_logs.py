"""Made-up site logs for the demo, the tests and the benchmarks: a month of two batch systems
(SLURM behind one CE, Torque/PBS behind another) and the CEs' blah logs.

Deterministic for a seed. One file per day and log, as sites keep them
(``sacct-YYYYMMDD.txt``, Torque's ``YYYYMMDD``, ``blahp.log-YYYYMMDD``); days
before the last week are gzip-compressed, as logrotate leaves them. Some jobs
are local (no blah record). Jobs wait in the queue before they start and most
complete; some fail, are cancelled or (SLURM) time out or lose their node;
sacct lines are in the extended format (Submit, Eligible, ExitCode). ``generate`` returns the file paths, the
configuration the join needs, and the totals a correct parse and join must
give, computed here from the generated jobs and not by parsing.
"""

from __future__ import annotations

import calendar
import gzip
import os
import random
import time
from dataclasses import dataclass, field

SITE = "DEMO-SITE"
SLURM_CE = "ce01.demo.example.org:8443/cream-slurm-grid"
PBS_CE = "ce02.demo.example.org:8443/cream-pbs-long"
PBS_SERVER = "torque.demo.example.org"
LOCAL_SUBMIT_HOST = "batch.demo.example.org"  # SubmitHost of local jobs
BENCHMARKS = {SLURM_CE: ("HEPSPEC", 12.5), PBS_CE: ("si2k", 2750.0), LOCAL_SUBMIT_HOST: ("HEPSPEC", 11.0)}
SLURM_TIMEZONE = "UTC"  # the generated sacct times are UTC wall-clock times
USERS = (
    ("/C=UK/O=eScience/OU=Demo/CN=alice", "/atlas/Role=production/Capability=NULL", "atlas001"),
    ("/C=UK/O=eScience/OU=Demo/CN=bob", "/cms/Role=pilot/Capability=NULL", "cms002"),
    ("/C=UK/O=eScience/OU=Demo/CN=carol", "/lhcb/Role=NULL/Capability=NULL", "lhcb003"),
    ("/C=UK/O=eScience/OU=Demo/CN=dave", "/dteam/Role=NULL/Capability=NULL", "dteam004"),
)
LOCAL_USERS = ("localphys", "localchem")
LOCAL_SHARE = 0.1


@dataclass
class Job:
    system: str  # SLURM or PBS
    job_id: str
    start: int
    end: int
    cpu: int
    cores: int
    nodes: int
    rss_kb: int
    vmem_kb: int
    user: str
    grid: tuple | None  # (dn, fqan, ce) or None for a local job
    submit: int = 0  # when it was queued
    final_state: str = "completed"  # as apeltools.lifecycle names it
    exit_code: int = 0


@dataclass
class SampleLogs:
    """What ``generate`` wrote and what joining it must give."""

    directory: str
    files: dict = field(default_factory=dict)  # parser name → [paths]
    jobs: list = field(default_factory=list)
    site: str = SITE
    slurm_timezone: str = SLURM_TIMEZONE

    def config_text(self, db_url=None):
        """A configuration for apel-join: site name, local jobs, and the CEs' benchmarks."""
        lines = ["[site_info]", f"site_name = {self.site}", "",
                 "[joiner]", "local_jobs = true", f"local_submit_host = {LOCAL_SUBMIT_HOST}", "",
                 "[spec_updater]"]
        for number, (ce, (kind, value)) in enumerate(sorted(BENCHMARKS.items()), 1):
            lines.append(f"manual_spec{number} = {ce},{kind},{value}")
        if db_url:
            lines += ["", "[db]", f"url = {db_url}"]
        return "\n".join(lines) + "\n"

    def totals(self, grid_only=True):
        """{(submit host, year, month): (jobs, wall, cpu)} of the generated jobs (by end time, UTC);
        local jobs count under ``LOCAL_SUBMIT_HOST`` unless ``grid_only``."""
        found = {}
        for job in self.jobs:
            if grid_only and job.grid is None:
                continue
            host = job.grid[2] if job.grid else LOCAL_SUBMIT_HOST
            moment = time.gmtime(job.end)
            key = (host, moment.tm_year, moment.tm_mon)
            count, wall, cpu = found.get(key, (0, 0, 0))
            found[key] = (count + 1, wall + job.end - job.start, cpu + job.cpu)
        return found


# How jobs end: (share, final state, sacct State, sacct ExitCode, Torque Exit_status or None when Torque
# cannot say it), the exit code a parser gives.
ENDINGS = (
    (0.82, "completed", "COMPLETED", "0:0", 0, 0),
    (0.08, "failed", "FAILED", "1:0", 1, 1),
    (0.05, "cancelled", "CANCELLED by 0", "0:15", 271, 143),
    (0.03, "timeout", "TIMEOUT", "0:15", None, 143),
    (0.02, "node_fail", "NODE_FAIL", "0:9", None, 137),
)


def _lifecycles(jobs, rng):
    """Give each job a queued time and an ending, from a generator of their own so that the
    jobs' usage stays what it was before lifecycles were generated."""
    for job in jobs:
        job.submit = job.start - int(min(rng.expovariate(1 / 900), 3 * 86400))
        roll = rng.random()
        for share, state, _, _, torque, code in ENDINGS:
            if roll < share and (torque is not None or job.system == "SLURM"):
                job.final_state, job.exit_code = state, code
                break
            roll -= share


def _ending(job):
    return next(e for e in ENDINGS if e[1] == job.final_state)


def _jobs(year, month, jobs_per_day, rng):
    first = calendar.timegm((year, month, 1, 0, 0, 0))
    days = calendar.monthrange(year, month)[1]
    jobs = []
    for day in range(days):
        for number in range(jobs_per_day):
            system = "SLURM" if number % 2 == 0 else "PBS"
            end = first + day * 86400 + rng.randrange(600, 86400 - 60)
            wall = rng.randrange(300, 36 * 3600)
            start = max(end - wall, first - 3 * 86400)
            cores = rng.choice((1, 1, 1, 8, 8, 16))
            nodes = 1 if cores < 16 else rng.choice((1, 2))
            cpu = int((end - start) * cores * rng.uniform(0.5, 0.98))
            local = rng.random() < LOCAL_SHARE
            if local:
                grid, user = None, rng.choice(LOCAL_USERS)
            else:
                dn, fqan, user = rng.choice(USERS)
                grid = (dn, fqan, SLURM_CE if system == "SLURM" else PBS_CE)
            serial = 100000 + day * jobs_per_day + number
            job_id = str(serial) if system == "SLURM" else f"{serial}.{PBS_SERVER}"
            jobs.append(Job(system, job_id, start, end, cpu, cores, nodes,
                            rng.randrange(200_000, 4_000_000), rng.randrange(4_000_000, 16_000_000), user, grid))
    jobs.sort(key=lambda j: j.end)
    return jobs


def _sacct_time(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def _hms(seconds):
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def _slurm_lines(job):
    common = f"{_sacct_time(job.start)}|{_sacct_time(job.end)}|{_hms(job.end - job.start)}"
    group = job.user.rstrip("0123456789") or job.user
    node_list = "wn[001-002]" if job.nodes > 1 else "wn001"
    _, _, state, exit_code, _, _ = _ending(job)
    yield (f"{job.job_id}|job{job.job_id}|{job.user}|{group}|{common}|{job.cpu}|grid|{job.cores}|"
           f"{job.nodes}|{node_list}|||{state}|{_sacct_time(job.submit)}|{_sacct_time(job.submit)}|{exit_code}")
    yield (f"{job.job_id}.batch|batch|||{common}|{job.cpu}||{job.cores}|1|wn001|"
           f"{job.rss_kb}K|{job.vmem_kb / 1024:.1f}M|COMPLETED")
    yield f"{job.job_id}.extern|extern|||{common}|0||{job.cores}|{job.nodes}|{node_list}|0|4K|COMPLETED"


def _pbs_lines(job):
    stamp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(job.end))
    queued = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(job.start - 60))
    group = job.user.rstrip("0123456789") or job.user
    per_node = job.cores // job.nodes
    hosts = "+".join(f"wn{n:03d}/0-{per_node - 1}" if per_node > 1 else f"wn{n:03d}/0"
                     for n in range(1, job.nodes + 1))
    exit_status = _ending(job)[4]
    yield f"{queued};Q;{job.job_id};queue=long"
    if job.final_state == "cancelled":
        yield f"{stamp};D;{job.job_id};requestor={job.user}@ce02.demo.example.org"
    yield (f"{stamp};E;{job.job_id};user={job.user} group={group} jobname=job queue=long "
           f"ctime={job.submit} qtime={job.submit} etime={job.submit} start={job.start} "
           f"exec_host={hosts} Resource_List.walltime=48:00:00 session=4242 end={job.end} Exit_status={exit_status} "
           f"resources_used.cput={job.cpu} resources_used.mem={job.rss_kb}kb "
           f"resources_used.vmem={job.vmem_kb}kb resources_used.walltime={_hms(job.end - job.start)}")


def _blah_line(job, rng):
    dn, fqan, ce = job.grid
    stamp = job.start - rng.randrange(30, 1800)
    extra = ' "userFQAN=/' + fqan.split("/")[1] + '/Role=NULL/Capability=NULL"'
    return (f'"timestamp={time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))}" "userDN={dn}" '
            f'"userFQAN={fqan}"{extra} "ceID={ce}" "jobID=CREAM{job.job_id.split(".")[0]}" '
            f'"lrmsID={job.job_id}" "localUser={job.user}" "clientID=cream_{job.job_id.split(".")[0]}"')


def generate(directory, year, month, jobs_per_day=100, seed=1, compress_before_days=7):
    """Write a month of SLURM, PBS and blah logs into ``directory``; returns ``SampleLogs``."""
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    jobs = _jobs(year, month, jobs_per_day, rng)
    _lifecycles(jobs, random.Random(seed + 1))
    days = {}
    for job in jobs:
        days.setdefault(time.strftime("%Y%m%d", time.gmtime(job.end)), []).append(job)
    sample = SampleLogs(directory=directory, jobs=jobs)
    last_days = sorted(days)[-compress_before_days:] if compress_before_days else sorted(days)
    for day, day_jobs in sorted(days.items()):
        texts = {
            "slurm": (f"sacct-{day}.txt", [line for j in day_jobs if j.system == "SLURM"
                                           for line in _slurm_lines(j)]),
            "pbs": (day, [line for j in day_jobs if j.system == "PBS" for line in _pbs_lines(j)]),
            "blah": (f"blahp.log-{day}", [_blah_line(j, rng) for j in sorted(day_jobs, key=lambda j: j.start)
                                          if j.grid]),
        }
        for kind, (name, lines) in texts.items():
            data = ("\n".join(lines) + "\n").encode()
            path = os.path.join(directory, kind, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if day not in last_days:
                path += ".gz"
                with gzip.open(path, "wb") as out:
                    out.write(data)
            else:
                with open(path, "wb") as out:
                    out.write(data)
            sample.files.setdefault(kind, []).append(path)
    return sample
