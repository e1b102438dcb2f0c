"""The demo: a month of accounting from a few made-up sites, loaded into SQLite, start to finish."""

import datetime
import os
import tempfile
from dataclasses import dataclass, field

from apeltools import db as databases
from apeltools import loader as loading
from apeltools import publisher, query, sample
from apeltools.db.schema import migrate
from apeltools.messaging import queues
from apeltools.records import text
from apeltools.summariser import summarise

JOBS_PER_SITE = (2400, 900, 700)
RECORDS_PER_MESSAGE = 1000


@dataclass
class DemoResult:
    directory: str
    db_url: str
    year: int
    month: int
    messages: int = 0
    records_sent: int = 0
    tally: object = None
    rejects: list = field(default_factory=list)


def previous_month(today=None):
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def _chunks(records, size):
    return [records[i:i + size] for i in range(0, len(records), size)]


def write_messages(incoming, year, month, seed=2026):
    """Put a month of messages from the sample sites into an incoming queue.

    Returns (messages, records). The first site sends its jobs as v0.4, the
    second monthly summaries, the third v0.3 jobs with one broken record;
    every site also sends its sync counts.
    """
    rng = sample.rng_for(seed)
    messages = records = 0

    def put(fmt, batch, signer):
        nonlocal messages, records
        queues.add(incoming, {"body": text.write_message(fmt, batch), "signer": signer,
                              "empaid": f"demo-{messages:04d}"})
        messages += 1
        records += len(batch)

    for site, count in zip(sample.SITES, JOBS_PER_SITE):
        signer = site.dn(f"apel.{site.domain}")
        jobs = sample.jobs(site, year, month, count, rng)
        if site is sample.SITES[1]:
            put(text.SUMMARY_V02, sample.summaries(site, year, month, jobs), signer)
        else:
            fmt = text.JOB_V04 if site is sample.SITES[0] else text.JOB_V03
            batches = _chunks(jobs, RECORDS_PER_MESSAGE)
            if site is sample.SITES[2]:
                broken = batches[0][0]
                broken.StartTime, broken.EndTime = broken.EndTime, broken.StartTime
            for batch in batches:
                put(fmt, batch, signer)
        put(text.SYNC_V01, sample.syncs(site, year, month, jobs), signer)
    return messages, records


def run(directory=None, seed=2026):
    """Generate, queue and load the demo month; returns what happened."""
    directory = directory or tempfile.mkdtemp(prefix="apeltools-demo-")
    os.makedirs(directory, exist_ok=True)
    year, month = previous_month()
    db_url = "sqlite:///" + os.path.join(os.path.abspath(directory), "apel.db")
    result = DemoResult(directory, db_url, year, month)
    incoming = queues.incoming_queue(os.path.join(directory, "incoming"))
    rejects = queues.reject_queue(os.path.join(directory, "reject"))
    result.messages, result.records_sent = write_messages(incoming, year, month, seed)
    with databases.connect(db_url) as db:
        db.create_database()
        migrate(db)
        loader = loading.Loader(db, rejects=rejects)
        result.tally = loading.load_queue(loader, incoming)
        result.per_site = db.query(
            "SELECT Site, COUNT(*), SUM(WallDuration), SUM(CpuDuration) FROM VJobRecords "
            "GROUP BY Site ORDER BY Site"
        )
        result.summarised = db.query(
            "SELECT Site, SUM(NumberOfJobs), SUM(WallDuration) FROM VSummaries GROUP BY Site ORDER BY Site"
        )
        result.synced = db.query(
            "SELECT Site, SUM(NumberOfJobs) FROM VSyncRecords GROUP BY Site ORDER BY Site"
        )
        result.summarised_run = summarise(db)
        result.super_rows = db.query("SELECT COUNT(*) FROM SuperSummaries")[0][0]
        outgoing = queues.outgoing_queue(os.path.join(directory, "outgoing"))
        result.published = publisher.publish(
            db, ["summaries"], lambda body: queues.add(outgoing, body), outgoing.path,
            publisher.Options(interval="all"),
        )
        result.answer = query.ask(db, "summaries", query.Filters(), ("site",))
    for _, element, _ in queues.locked_elements(rejects):
        result.rejects.append(element["error"])
    return result


def report(result):
    """What the demo did and what to run next, for people."""
    hours = lambda seconds: f"{(seconds or 0) / 3600:,.0f} h"  # noqa: E731
    tally = result.tally
    lines = [
        f"apeltools demo in {result.directory}",
        "",
        f"1. Generated {result.records_sent:,} records for {result.year}-{result.month:02d} from "
        f"{len(sample.SITES)} sites in {result.messages} messages (jobs v0.3 and v0.4, summaries, sync),",
        "   signed by each site's host, in the incoming queue:",
        f"   {result.directory}/incoming",
        f"2. Loaded them into {result.db_url}:",
        f"   {tally.records:,} records from {tally.messages} messages, {tally.rejected_records} record rejected.",
        "",
        "   Jobs per site (VJobRecords):",
    ]
    for site, count, wall, cpu in result.per_site:
        lines.append(f"     {site:<16} {count:>6,} jobs  wall {hours(wall):>10}  cpu {hours(cpu):>10}")
    lines.append("   Summaries sent directly (VSummaries):")
    for site, jobs, wall in result.summarised:
        lines.append(f"     {site:<16} {jobs:>6,} jobs  wall {hours(wall):>10}")
    lines.append("   Sites' own counts (VSyncRecords):")
    for site, jobs in result.synced:
        lines.append(f"     {site:<16} {jobs:>6,} jobs")
    if result.rejects:
        lines += [f"   Rejected, kept with the reason in {result.directory}/reject:"]
        lines += [f"     {error}" for error in result.rejects]
    run = result.summarised_run
    lines += [
        "",
        f"3. Summarised them into {result.super_rows} monthly super-summary rows (VSuperSummaries): new jobs",
        f"   added in place ({run.deltas} groups), {run.months} site-month recomputed from the summaries it received.",
        f"4. Published {sum(result.published.records.values()):,} records "
        f"({', '.join(f'{n} {k}' for k, n in result.published.records.items())}) in "
        f"{result.published.messages} messages to the outgoing queue for apel-send:",
        f"   {result.directory}/outgoing",
        "5. Asked: hours per site (apel-query summaries --group-by site):",
        "",
    ]
    widths = [max(len(str(v)) for v in column) for column in zip(result.answer.columns, *result.answer.rows)]
    for row in [result.answer.columns] + result.answer.rows:
        lines.append("   " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w)
                                       for i, (v, w) in enumerate(zip(row, widths))))
    db = result.db_url
    lines += [
        "",
        "Next:",
        f"  apel-query summaries --db {db} --group-by vo,month",
        f"  apel-query jobs --db {db} --site DEMO-NORTH-T2 --group-by dn --limit 5",
        f"  apel-publish jobs --db {db} --interval all --stdout | head -30",
        f"  apel-load --db {db} --queue {result.directory}/incoming --reject {result.directory}/reject",
        f"  apel-summarise --db {db} --full",
    ]
    return "\n".join(lines)
