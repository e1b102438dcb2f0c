"""apel-publish from a site database (what apel-parse and apel-join made): individual jobs or
summaries, always with sync records for the months published; --interval gap republishes a period;
a job that joins late is published by the next latest run."""

import calendar
import re
import time

import pytest

from apeltools.demo import sample_logs
from apeltools.cli.join import main as apel_join
from apeltools.cli.parse import main as apel_parse
from apeltools.cli.publish import main as apel_publish
from apeltools.cli.summarise import main as apel_summarise
from apeltools.db import publish_state as state
from apeltools.records.message import parse_message
from tests.conftest import invoke

YEAR, MONTH = 2026, 5


def publish(config, *args):
    """{record type: [records]} of what apel-publish --stdout wrote."""
    out = invoke(apel_publish, ["--config", config, "--stdout", *args]).stdout
    found = {}
    for body in re.split(r"(?m)^(?=APEL-[a-z-]+-message: v)", out)[1:]:
        message = parse_message(body)
        assert not message.errors
        found.setdefault(body.split(":")[0], []).extend(message.records)
    return found


def make_site(db_url, tmp_path, hold_back=False):
    """A site database with a month of parsed, joined and summarised sample logs, and its config.
    With ``hold_back`` the blah line of one grid job (``late``) is kept out, to arrive later, and
    local jobs are off (else that job would become a local one)."""
    logs = sample_logs.generate(str(tmp_path / "logs"), YEAR, MONTH, jobs_per_day=8, compress_before_days=0)
    logs.late, logs.held_back = None, []
    if hold_back:
        logs.late = next(job for job in reversed(logs.jobs) if job.grid and job.system == "PBS")
        for path in logs.files["blah"]:
            with open(path) as handle:
                lines = handle.readlines()
            kept = [line for line in lines if f'"lrmsID={logs.late.job_id}"' not in line]
            logs.held_back += [line for line in lines if line not in kept]
            with open(path, "w") as handle:
                handle.writelines(kept)
    config = tmp_path / "site.cfg"
    text = logs.config_text(db_url)
    config.write_text(text.replace("local_jobs = true", "local_jobs = false") if hold_back else text)
    for kind, paths in sorted(logs.files.items()):
        invoke(apel_parse, ["--config", config, "--timezone", "UTC", kind, *paths])
    invoke(apel_join, ["--config", config, "--no-bdii"])
    invoke(apel_summarise, ["--config", config])
    logs.config = str(config)
    return logs


@pytest.fixture
def site(db_url, tmp_path):
    return make_site(db_url, tmp_path)


def grid_jobs(logs, day_range=None):
    jobs = [j for j in logs.jobs if j.grid and j is not logs.late]
    if day_range:
        first, last = day_range
        start = calendar.timegm((YEAR, MONTH, first, 0, 0, 0))
        end = calendar.timegm((YEAR, MONTH, last + 1, 0, 0, 0))
        jobs = [j for j in jobs if start <= j.end < end]
    return jobs


def per_host(jobs):
    counts = {}
    for job in jobs:
        host = job.grid[2] if job.grid else sample_logs.LOCAL_SUBMIT_HOST
        counts[host] = counts.get(host, 0) + 1
    return counts


def sync_counts(found):
    return {(r.SubmitHost, r.Year, r.Month): r.NumberOfJobs for r in found.get("APEL-sync-message", [])}


def test_jobs_are_published_with_sync_records_of_their_months(site):
    found = publish(site.config, "jobs", "--interval", "all")
    jobs = found["APEL-individual-job-message"]
    assert sorted(r.LocalJobId for r in jobs) == sorted(j.job_id for j in grid_jobs(site))
    assert {r.Site for r in jobs} == {site.site} and {r.InfrastructureType for r in jobs} == {"grid"}
    assert sync_counts(found) == {(host, YEAR, MONTH): n for host, n in per_host(grid_jobs(site)).items()}


def test_summaries_are_published_with_sync_records_and_local_jobs_only_when_asked(site):
    found = publish(site.config, "summaries", "--interval", "all")
    summaries = found["APEL-summary-job-message"]
    jobs = grid_jobs(site)
    assert sum(r.NumberOfJobs for r in summaries) == len(jobs)
    assert sum(r.WallDuration for r in summaries) == sum(j.end - j.start for j in jobs)
    assert sum(r.CpuDuration for r in summaries) == sum(j.cpu for j in jobs)
    assert sync_counts(found) == {(host, YEAR, MONTH): n for host, n in per_host(jobs).items()}

    with_local = publish(site.config, "summaries", "--interval", "all", "--local-jobs")
    local = [j for j in site.jobs if j.grid is None]
    assert local and sync_counts(with_local)[(sample_logs.LOCAL_SUBMIT_HOST, YEAR, MONTH)] == len(local)
    assert sum(r.NumberOfJobs for r in with_local["APEL-summary-job-message"]) == len(jobs) + len(local)


def test_gap_republishes_the_jobs_of_a_period_with_whole_month_sync_counts(site):
    found = publish(site.config, "jobs", "--interval", "gap", "--start", f"{YEAR}-{MONTH:02d}-10",
                    "--end", f"{YEAR}-{MONTH:02d}-12")
    period = grid_jobs(site, (10, 12))
    assert period and sorted(r.LocalJobId for r in found["APEL-individual-job-message"]) == sorted(
        j.job_id for j in period)
    # The repository compares whole months: the sync records count the month, not the gap.
    assert sync_counts(found) == {(host, YEAR, MONTH): n for host, n in per_host(grid_jobs(site)).items()}
    summaries = publish(site.config, "summaries", "--interval", "gap", "--start", f"{YEAR}-{MONTH:02d}",
                        "--end", f"{YEAR}-{MONTH:02d}")
    assert sum(r.NumberOfJobs for r in summaries["APEL-summary-job-message"]) == len(grid_jobs(site))


def test_a_job_that_joins_late_goes_out_with_the_next_latest_publish(db_url, db, tmp_path):
    site = make_site(db_url, tmp_path, hold_back=True)
    first = publish(site.config, "jobs")
    assert site.late.job_id not in {r.LocalJobId for r in first["APEL-individual-job-message"]}
    # Move the watermark past the margin it keeps (receivers replace by key, so publishing a row twice
    # is harmless, but here only the new row should go): the mark is now, the earlier rows older.
    time.sleep(1.1)
    state.set_watermark(db, "jobs", "stdout", db.now())
    time.sleep(1.1)
    late_log = tmp_path / "blahp.log-late"
    late_log.write_text("".join(site.held_back))
    invoke(apel_parse, ["--config", site.config, "blah", late_log])
    invoke(apel_join, ["--config", site.config, "--no-bdii"])
    invoke(apel_summarise, ["--config", site.config])
    second = publish(site.config, "jobs")
    assert [r.LocalJobId for r in second["APEL-individual-job-message"]] == [site.late.job_id]
    everyone = grid_jobs(site) + [site.late]
    assert sync_counts(second) == {(host, YEAR, MONTH): n for host, n in per_host(everyone).items()}
