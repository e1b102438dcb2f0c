"""The demo: a month of accounting from made-up sites, through the whole pipeline, on SQLite.

Site side: batch (SLURM, Torque) and CE (blah) logs are parsed, joined with
the CEs' benchmarks, summarised and published by the real programs; three
more sites' messages (jobs, summaries, sync counts, one broken record) join
them. Messaging: everything is signed with throw-away host certificates and
handed over by the local transport, where the receiver verifies signatures
and the DN list (a host not on it is rejected). Repository side: loaded,
summarised, published for the portal, and queried.
"""

import contextlib
import datetime
import logging
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field

import nagiosplugin

from apeltools import api
from apeltools import db as databases
from apeltools import events, export, lifecycle, publisher, query, stats
from apeltools.db import monitoring
from apeltools.errors import ConfigError
from apeltools.demo import pki, sample, sample_logs
from apeltools.messaging import local, queues
from apeltools.messaging.crypto import signer_dn
from apeltools.probes.publishing import PAGE_WORDS, SYNC_CRITICAL
from apeltools.probes.runtime import OK
from apeltools.probes.sources import DatabaseSource
from apeltools.records import text
from apeltools.reports.monthly import monthly_report, write_report
from apeltools.reports.status import write_status
from apeltools.records.types import SYNC
from apeltools.summariser import summarise
from apeltools.words import plural

JOBS_PER_SITE = (2400, 900, 700)
RECORDS_PER_MESSAGE = 1000
LOG_JOBS_PER_DAY = 40
REPOSITORY_HOST = "apel-repository.demo.example.org"
OTHERS_HOST = "apel-regional.demo.example.org"  # publishes for the three sample sites
ROGUE_HOST = "not-in-gocdb.demo.example.org"  # a valid certificate, but not an authorised sender
# Marks a directory as the demo's, so that a run there may clear what the previous one left.
MARKER = ".apeltools-demo"


@dataclass
class DemoResult:
    directory: str
    db_url: str
    year: int
    month: int
    steps: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    answer: object = None
    user: str = ""
    user_stats: object = None  # one user's statistics at the site, per CE
    xes: str = ""


def previous_month(today=None):
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def _chunks(records, size):
    return [records[i:i + size] for i in range(0, len(records), size)]


def write_messages(outgoing, year, month, seed=2026):
    """Queue a month of messages from the sample sites in an outgoing queue; returns (messages, records).

    The first site sends its jobs as v0.4, the second monthly summaries, the
    third v0.3 jobs with one broken record; every site also sends its sync counts.
    """
    rng = sample.rng_for(seed)
    messages = records = 0

    def put(fmt, batch):
        nonlocal messages, records
        queues.add(outgoing, text.write_message(fmt, batch))
        messages += 1
        records += len(batch)

    for site, count in zip(sample.SITES, JOBS_PER_SITE):
        jobs = sample.jobs(site, year, month, count, rng)
        if site is sample.SITES[1]:
            put(text.SUMMARY_V02, sample.summaries(site, year, month, jobs))
        else:
            fmt = text.JOB_V04 if site is sample.SITES[0] else text.JOB_V03
            batches = _chunks(jobs, RECORDS_PER_MESSAGE)
            if site is sample.SITES[2]:
                broken = batches[0][0]
                broken.StartTime, broken.EndTime = broken.EndTime, broken.StartTime
            for batch in batches:
                put(fmt, batch)
        put(text.SYNC_V01, sample.syncs(site, year, month, jobs))
    return messages, records


@contextlib.contextmanager
def _quiet():
    """The library's log lines during the demo's steps (what -q silences): the demo's report says it all."""
    logger = logging.getLogger("apeltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _site(directory, year, month, outgoing_dir):
    """The site's own chain: parse logs, join, summarise, publish jobs (with sync) to its queue."""
    logs = sample_logs.generate(os.path.join(directory, "logs"), year, month, jobs_per_day=LOG_JOBS_PER_DAY)
    db_url = "sqlite:///" + os.path.join(directory, "site.db")
    config = os.path.join(directory, "site.cfg")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(logs.config_text(db_url))
    api.create_database(db_url)
    for parser, paths in sorted(logs.files.items()):
        api.parse(db_url, parser, paths, config=config)
    api.join(db_url, no_bdii=True, config=config)
    api.summarise(db_url, config=config)
    api.publish(db_url, ["jobs"], interval="all", syntax="v0.4", queue=outgoing_dir, config=config)
    with databases.connect(db_url) as db:
        joined = db.count_rows("JobRecords")
    lines = sum(len(paths) for paths in logs.files.values())
    return logs, joined, lines


def _pki(directory, hosts):
    ca = pki.make_ca("/C=XX/O=apeltools demo/CN=apeltools demo CA")
    capath = pki.write_ca_dir(os.path.join(directory, "ca"), [ca])
    identities = {}
    for host in hosts:
        identity = pki.make_host(ca, host, dn=f"/C=XX/O=apeltools demo/CN={host}")
        cert, key = identity.write(directory, host)
        identities[host] = (str(cert), str(key), signer_dn(identity.cert_pem))
    return str(capath), identities


def _start_afresh(directory):
    """Empty a directory an earlier demo ran in, so that a rerun tells the same figures, not grown ones.

    Only a directory the demo marked as its own is emptied; another one that
    is not empty is refused rather than cleared.
    """
    os.makedirs(directory, exist_ok=True)
    marker = os.path.join(directory, MARKER)
    if not os.path.exists(marker):
        if os.listdir(directory):
            raise ConfigError(f"{directory} is not empty and no earlier demo ran there: give a new or empty "
                              "directory")
    else:
        for name in os.listdir(directory):
            entry = os.path.join(directory, name)
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry)
            else:
                os.unlink(entry)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("apeltools demo: the next demo run here empties this directory\n")


def run(directory=None, seed=2026):
    """Run the whole pipeline on a month of made-up data; returns what happened.

    A rerun in the same directory starts from an empty one (see ``_start_afresh``).
    The programs' events go to ``events/outgoing`` there, as ``[events] queue`` sends them.
    """
    directory = os.path.abspath(directory or tempfile.mkdtemp(prefix="apeltools-demo-"))
    with _quiet(), events.emitting_to(os.path.join(directory, "events", "outgoing"), "apeltools demo"):
        return _run(directory, seed)


def _run(directory, seed):
    _start_afresh(directory)
    path = lambda *parts: os.path.join(directory, *parts)  # noqa: E731
    year, month = previous_month()
    db_url = "sqlite:///" + path("apel.db")
    result = DemoResult(directory, db_url, year, month)
    steps = result.steps

    # 1. The site with logs, and the other sites' messages.
    site_out = path("site", "outgoing")
    logs, joined, files = _site(path("site"), year, month, site_out)
    steps.append(f"Site {logs.site}: parsed {plural(files, 'log file')} (SLURM, Torque, blah; older days gzipped), "
                 f"joined {plural(joined, 'job record')} with their CE's benchmark, summarised, and published them "
                 f"with sync counts to {site_out}")
    steps.append(_lifecycles(result, logs, "sqlite:///" + path("site", "site.db"), path("site", "jobs.xes")))
    others_out = path("regional", "outgoing")
    messages, records = write_messages(queues.outgoing_queue(others_out), year, month, seed)
    steps.append(f"Sites {', '.join(s.name for s in sample.SITES)}: {plural(records, 'record')} (jobs v0.3 and "
                 f"v0.4, summaries, sync, one broken record) in {plural(messages, 'message')} to {others_out}")
    rogue_out = path("rogue", "outgoing")
    forged = SYNC.make(Site=sample.SITES[0].name, SubmitHost="ce01.north.example.org", NumberOfJobs=1,
                       Month=month, Year=year)
    queues.add(queues.outgoing_queue(rogue_out), text.write_message(text.SYNC_V01, [forged]))

    # 2. Signed messaging through the local transport.
    capath, hosts = _pki(path("pki"), [logs_host(logs), OTHERS_HOST, REPOSITORY_HOST, ROGUE_HOST])
    dn_file = path("pki", "authorised-dns")
    with open(dn_file, "w", encoding="utf-8") as handle:
        handle.write("".join(hosts[h][2] + "\n" for h in (logs_host(logs), OTHERS_HOST)))
    incoming, reject = path("incoming"), path("reject")
    sent = received = 0
    for host, outgoing in ((logs_host(logs), site_out), (OTHERS_HOST, others_out), (ROGUE_HOST, rogue_out)):
        cert, key, _ = hosts[host]
        sender, receiver = local.deliver_local(outgoing, path("wire"), incoming, reject, cert, key, capath, dn_file)
        sent += sender.sent
        received += receiver.accepted
    steps.append(f"apel-send signed {plural(sent, 'message')} with each host's certificate (throw-away CA in "
                 f"{path('pki')}); apel-receive verified them and accepted {received} from the hosts in the "
                 f"DN list into {incoming}, rejecting the one from {ROGUE_HOST}")

    # 3. The repository.
    api.create_database(db_url)
    api.load(db_url, queue=incoming, reject=reject)
    with databases.connect(db_url) as db:
        loaded, jobs = db.count_rows("LoadedMessages"), db.count_rows("JobRecords")
        steps.append(f"apel-load loaded {plural(loaded, 'message')} into {db_url}: {plural(jobs, 'job record')}, "
                     f"{plural(db.count_rows('Summaries'), 'summary')}, "
                     f"{plural(db.count_rows('SyncRecords'), 'sync record')}; "
                     f"the broken record went to {reject} with its reason")
        run_ = summarise(db)
        rows = db.count_rows("SuperSummaries")
        steps.append(f"apel-summarise: {plural(rows, 'monthly super-summary row')} (new jobs added in place, "
                     f"{plural(run_.months, 'site-month')} recomputed from the summaries it received)")
        portal = queues.outgoing_queue(path("portal", "outgoing"))
        published = publisher.publish(db, ["summaries"], lambda body: queues.add(portal, body), portal.path,
                                      publisher.Options(interval="all"))
        steps.append(f"apel-publish: {plural(sum(published.records.values()), 'summary and sync record')} in "
                     f"{plural(published.messages, 'message')} to {portal.path}, for the portal")
        result.sync = _sync_check(db, year, month)
        result.answer = query.ask(db, "summaries", query.Filters(), ("site",))
        result.site_totals = (_log_totals(logs), monitoring.grid_totals(db, logs.site))
        steps.append(_reports(db, path("reports"), year, month))
    for _, element, _ in queues.locked_elements(queues.reject_queue(reject)):
        result.rejects.append(element["error"])
    with events.emitting_to(None):  # receiving the events must not make more
        steps.append(_deliver_events(path, hosts[REPOSITORY_HOST], capath))
    return result


def _reports(db, directory, year, month):
    """apel-report status and monthly on the repository."""
    now = datetime.datetime.now(datetime.timezone.utc)
    index = write_status(db, os.path.join(directory, "status"), None, now)[-1]
    written = write_report(monthly_report(db, year, month, now), directory)
    return (f"apel-report: the status pages, every site's Pub and Sync state, at {index}; the month's report "
            f"(charts per VO, site, user and day) at {written['html']}, with .txt and .json beside it")


def _deliver_events(path, identity, capath):
    """The run's events signed by the repository host and handed over to where apel-events reads them."""
    cert, key, dn = identity
    dn_file = path("pki", "event-dns")
    with open(dn_file, "w", encoding="utf-8") as handle:
        handle.write(dn + "\n")
    incoming = path("events", "incoming")
    _, received = local.deliver_local(path("events", "outgoing"), path("events", "wire"), incoming,
                                      path("events", "reject"), cert, key, capath, dn_file)
    return (f"Events: {plural(received.accepted, 'event')} of the run (messages accepted and rejected, records "
            f"loaded per site, site-months summarised, publications) sent as apel-send --events sends them, "
            f"into {incoming}: see them with apel-events --queue {shlex.quote(incoming)} --once")


def _lifecycles(result, logs, site_db, xes_path):
    """One user's statistics at the site (apel-query stats --dn), and every job's lifecycle as XES."""
    result.user = sample_logs.USERS[0][0]
    mine = lifecycle.JobSelection(filters=query.Filters(dns=(result.user,)), site=logs.site)
    with databases.connect(site_db) as db:
        result.user_stats = stats.statistics_of(lifecycle.read_jobs(db, mine), ("ce",))
        with export.open_output(xes_path) as out:
            exported = export.export(db, lifecycle.JobSelection(site=logs.site), "xes", out)
    result.xes = xes_path
    return (f"apel-query stats: how the jobs of {result.user} ended and how long they waited (below); "
            f"apel-export xes: {plural(exported.traces, 'job')} as {plural(exported.events, 'event')} "
            f"(submit, start, end) to {xes_path}, for process-mining tools")


def logs_host(logs):
    return f"apel.{logs.site.lower()}.example.org"


def _log_totals(logs):
    total = [0, 0]
    for count, wall, _ in logs.totals().values():
        total[0] += count
        total[1] += wall
    return tuple(total)


def _sync_check(db, year, month):
    """{site: (the month's SyncMonth, its Sync state)}: the repository's job count against the site's own,
    decided as check_apel_sync and the status pages decide it."""
    source, critical = DatabaseSource(db), nagiosplugin.Range(SYNC_CRITICAL)
    checked = {}
    for site in monitoring.sites(db):
        for entry in source.sync(site, (year, month)):
            if (entry.year, entry.month) == (year, month):
                checked[site] = (entry, entry.state(critical))
    return checked


def report(result):
    """What the demo did and what to run next, for people."""
    lines = [f"apeltools demo for {result.year}-{result.month:02d}, in {result.directory}", ""]
    for number, step in enumerate(result.steps, 1):
        lines.append(f"{number}. {step}")
    if result.rejects:
        lines += ["", "Rejected, kept with the reason for re-processing:"]
        lines += [f"  {error}" for error in result.rejects]
    logs_total, repository_total = result.site_totals
    lines += ["", f"Check: the site's grid jobs from its logs {logs_total[0]:,} ({logs_total[1] / 3600:,.0f} h "
                  f"wall), in the repository {repository_total[0]:,} ({repository_total[1] / 3600:,.0f} h): "
                  f"{'equal' if logs_total == repository_total else 'DIFFERENT'}",
              "Sync (repository / site's own count):"]
    for site, (entry, state) in result.sync.items():
        held, told = entry.counts.repository or 0, entry.counts.site or 0
        word = PAGE_WORDS[state]
        if held != told:
            word += (f" ({plural(abs(told - held), 'job')} {'fewer' if held < told else 'more'} in the repository, "
                     f"{entry.counts.difference:.1f} %")
            word += (", under the 1 % check_apel_sync allows; the rejected record above explains it)"
                     if state == OK else ")")
        lines.append(f"  {site:<16} {held:>6,} / {told:<6,} {word}")
    lines += ["", "Hours per site (apel-query summaries --group-by site):", ""]
    lines += _table(result.answer.columns, result.answer.rows)
    shown = ("ce", "Jobs", "Completed", "Failed", "Cancelled", "Timeout", "FailureRate", "WaitMedian", "WaitP90",
             "WaitMax", "Efficiency")
    index = [result.user_stats.columns.index(name) for name in shown]
    lines += ["", f"Jobs of {result.user} at the site (apel-query stats --dn ... --group-by ce; waiting in seconds):",
              ""]
    lines += _table(shown, [[row[i] for i in index] for row in result.user_stats.rows])
    db = shlex.quote(result.db_url)
    site_db = shlex.quote("sqlite:///" + os.path.join(result.directory, "site", "site.db"))
    lines += [
        "",
        "Next:",
        f"  apel-query summaries --db {db} --group-by vo,month",
        f"  apel-query jobs --db {db} --site DEMO-SITE --group-by dn",
        f"  check_apel_sync --site DEMO-SITE --db {db}",
        f"  apel-publish jobs --db {db} --interval all --stdout | head -30",
        f"  apel-summarise --db {db} --full",
        f"  apel-query states --db {site_db} --group-by vo,queue",
        f"  apel-query waiting --db {site_db} --dn {shlex.quote(result.user)} --group-by day",
        f"  apel-tag --db {site_db} --dn {shlex.quote(result.user)} --state failed --add checked=no",
        f"  apel-export mxml --db {site_db} -o {shlex.quote(result.xes[:-len('xes')] + 'mxml')}",
    ]
    return "\n".join(lines)


def _table(columns, rows):
    """Lines of a table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(v)) for v in column) for column in zip(columns, *rows)]
    return ["  " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
            for row in [columns, *rows]]
