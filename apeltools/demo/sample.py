"""Realistic made-up accounting data for the demo, the tests and the benchmarks.

Deterministic for a given seed: a few sites with CEs, batch systems, VOs,
users and benchmarks, and a month of their jobs, summaries and sync counts.
"""

import random
from dataclasses import dataclass

from apeltools.records.fields import month_bounds
from apeltools.records.types import JOB, SUMMARY, SYNC

VOS = (
    ("atlas", "/atlas/Role=production/Capability=NULL"),
    ("atlas", "/atlas/uk/Role=NULL/Capability=NULL"),
    ("cms", "/cms/Role=pilot/Capability=NULL"),
    ("lhcb", "/lhcb/Role=user/Capability=NULL"),
    ("alice", "/alice/Role=NULL/Capability=NULL"),
    ("dteam", "/dteam/Role=NULL/Capability=NULL"),
)


@dataclass(frozen=True)
class Site:
    name: str
    domain: str
    ces: tuple
    batch: str
    benchmark: tuple  # (type, value)

    def dn(self, host):
        return f"/C=UK/O=eScience/OU=Demo/L={self.name}/CN={host}"


SITES = (
    Site("DEMO-NORTH-T2", "north.example.org", ("ce01", "ce02"), "SLURM", ("HEPscore23", 15.3)),
    Site("DEMO-SOUTH-T2", "south.example.org", ("arc01",), "HTCONDOR", ("HEPSPEC", 11.4)),
    Site("DEMO-WEST-T3", "west.example.org", ("ce1",), "PBS", ("si2k", 2500.0)),
)


def _user(rng, site, vo):
    return f"/C=UK/O=eScience/OU=Users/L={site.name}/CN={vo} user {rng.randrange(12):02d}"


def jobs(site, year, month, count, rng, first_id=1):
    """``count`` job records that ended at ``site`` in the given month."""
    start_of_month, end_of_month = month_bounds(year, month)
    records = []
    for number in range(first_id, first_id + count):
        vo, fqan = rng.choice(VOS)
        processors = rng.choice((1, 1, 1, 8, 8, 16))
        wall = int(rng.expovariate(1 / 14400)) + 60
        cpu = int(wall * processors * rng.uniform(0.55, 0.98))
        end = rng.randrange(start_of_month + wall, end_of_month - 1)
        ce = rng.choice(site.ces)
        host = f"{ce}.{site.domain}"
        records.append(JOB.make(
            Site=site.name, SubmitHost=f"{host}:8443/{site.batch.lower()}-grid",
            MachineName=f"wn{rng.randrange(200):03d}.{site.domain}", Queue=rng.choice(("grid", "long", "short")),
            LocalJobId=f"{number}.{ce}", LocalUserId=f"{vo}{rng.randrange(50):03d}",
            GlobalUserName=_user(rng, site, vo), FQAN=fqan, WallDuration=wall, CpuDuration=cpu,
            Processors=processors, NodeCount=1, StartTime=end - wall, EndTime=end,
            InfrastructureDescription=f"APEL-ARC-{site.batch}" if ce.startswith("arc") else f"APEL-CREAM-{site.batch}",
            InfrastructureType="grid", MemoryReal=rng.randrange(500_000, 4_000_000),
            MemoryVirtual=rng.randrange(1_000_000, 8_000_000),
            ServiceLevelType=site.benchmark[0], ServiceLevel=site.benchmark[1],
        ))
        JOB.check(records[-1], end)  # derives VO, VOGroup and VORole from the FQAN
    return records


def summaries(site, year, month, job_records):
    """Monthly summary records of ``job_records``, as a site that publishes summaries sends them."""
    groups = {}
    for job in job_records:
        key = (job.GlobalUserName, job.VO, job.VOGroup, job.VORole, job.SubmitHost,
               job.InfrastructureType, job.InfrastructureDescription, job.ServiceLevelType,
               job.ServiceLevel, job.NodeCount, job.Processors)
        group = groups.setdefault(key, [0, 0, 0, None, None])
        group[0] += job.WallDuration
        group[1] += job.CpuDuration
        group[2] += 1
        group[3] = job.EndTime if group[3] is None else min(group[3], job.EndTime)
        group[4] = job.EndTime if group[4] is None else max(group[4], job.EndTime)
    records = []
    for key, (wall, cpu, count, earliest, latest) in sorted(groups.items(), key=lambda kv: str(kv[0])):
        (dn, vo, group, role, host, infra, description, level_type, level, nodes, processors) = key
        records.append(SUMMARY.make(
            Site=site.name, Month=month, Year=year, GlobalUserName=dn, VO=vo, VOGroup=group, VORole=role,
            SubmitHost=host, InfrastructureType=infra, InfrastructureDescription=description,
            ServiceLevelType=level_type, ServiceLevel=level, NodeCount=nodes, Processors=processors,
            EarliestEndTime=earliest, LatestEndTime=latest, WallDuration=wall, CpuDuration=cpu,
            NumberOfJobs=count,
        ))
    return records


def syncs(site, year, month, job_records):
    """The site's own job counts per submit host for the month."""
    counts = {}
    for job in job_records:
        counts[job.SubmitHost] = counts.get(job.SubmitHost, 0) + 1
    return [SYNC.make(Site=site.name, SubmitHost=host, NumberOfJobs=n, Month=month, Year=year)
            for host, n in sorted(counts.items())]


def rng_for(seed):
    return random.Random(seed)
