"""apel-export: XES read back by pm4py (traces, events, a discovered model), MXML valid against its
schema, CSV one row per event, gzip, tags, escaping, and memory that does not grow with the jobs."""

import csv
import gzip
import io
import time
import tracemalloc
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pm4py
import pytest
from click.testing import CliRunner
from lxml import etree

from apeltools import export
from apeltools.demo import pipeline as demo
from apeltools.demo import sample_logs
from apeltools.cli.export import main as apel_export
from apeltools.cli.tag import main as apel_tag
from apeltools.lifecycle import JobLife
from tests.test_stats import logs, site  # noqa: F401 (fixtures used by name)

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def run_export(site, *args):
    url, config = site
    result = CliRunner().invoke(apel_export, [*args, "--db", url, "--config", config])
    assert result.exit_code == 0, result.output
    return result


def read_xes(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm4py.read_xes(str(path), return_legacy_log_object=True, show_progress_bar=False)


def test_xes_is_read_back_by_pm4py_and_a_process_model_is_discovered(site, logs, tmp_path):
    path = tmp_path / "jobs.xes.gz"
    run_export(site, "xes", "-o", str(path))
    with gzip.open(path, "rt") as compressed:
        assert compressed.read(5) == "<?xml"
    log = read_xes(path)
    assert len(log) == len(logs.jobs)
    assert sum(len(trace) for trace in log) == 3 * len(logs.jobs)  # every generated job has a queued time
    net, initial, final = pm4py.discover_petri_net_inductive(log)
    assert {t.label for t in net.transitions if t.label} == {"submit", "start", "end"}
    fitness = pm4py.fitness_token_based_replay(log, net, initial, final)
    assert fitness["log_fitness"] == 1.0
    cancelled = next(trace for trace in log if trace.attributes["state"] == "cancelled")
    assert [(e["concept:name"], e["lifecycle:transition"]) for e in cancelled] == [
        ("submit", "schedule"), ("start", "start"), ("end", "ate_abort")]
    assert cancelled[0]["org:resource"] in (sample_logs.SLURM_CE, sample_logs.PBS_CE, "grid", "long")


def test_xes_of_one_users_jobs_with_their_tags(site, logs, tmp_path):
    url, config = site
    dn = sample_logs.USERS[0][0]
    assert CliRunner().invoke(apel_tag, ["--db", url, "--config", config, "--dn", dn, "--from", "2026-10-03",
                                         "--to", "2026-10-03", "--add", "campaign=mc23"]).exit_code == 0
    path = tmp_path / "alice.xes"
    run_export(site, "xes", "--dn", dn, "-o", str(path))
    log = read_xes(path)
    mine = [job for job in logs.jobs if job.grid and job.grid[0] == dn]
    assert len(log) == len(mine)
    tagged = [trace for trace in log if trace.attributes.get("tag:campaign") == "mc23"]
    ended_that_day = [j for j in mine if time.strftime("%Y-%m-%d", time.gmtime(j.end)) == "2026-10-03"]
    assert len(tagged) == len(ended_that_day) > 0
    assert {trace.attributes["vo"] for trace in log} == {"atlas"}


def test_mxml_validates_against_its_schema(site, logs, tmp_path):
    path = tmp_path / "jobs.mxml"
    run_export(site, "mxml", "-o", str(path))
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "mxml" / "WorkflowLog.xsd")))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    assert len(document.findall(".//ProcessInstance")) == len(logs.jobs)
    assert len(document.findall(".//AuditTrailEntry")) == 3 * len(logs.jobs)
    broken = etree.fromstring(path.read_bytes().replace(b"<EventType>start<", b"<EventType>begin<", 1))
    assert not schema.validate(broken)


def test_csv_has_one_row_per_event(site, logs):
    result = run_export(site, "csv", "--state", "failed")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    failed = [job for job in logs.jobs if job.final_state == "failed"]
    assert len(rows) == 3 * len(failed)
    assert {row["activity"] for row in rows} == {"submit", "start", "end"}
    assert {row["lifecycle"] for row in rows if row["activity"] == "end"} == {"ate_abort"}
    assert {row["state"] for row in rows} == {"failed"}


def job(**changes):
    values = dict(id=1, batch_system="PBS", job_id="7.torque", local_user="u", queue="long", node=None,
                  submit=100, eligible=None, start=160, end=220, wall=60, cpu=30, processors=1,
                  state="Exit_status=0", final_state="completed", exit_code=0)
    values.update(changes)
    return JobLife(**values)


@pytest.mark.parametrize("fmt", ["xes", "mxml"])
def test_odd_characters_are_escaped_and_a_job_without_submit_time_has_two_events(fmt):
    out = io.StringIO()
    odd = job(dn='/CN=A&B <"x">', tags={"note": "a\tb\nc"}, submit=None, final_state=None)
    report = export.export_jobs([odd, job(id=2, job_id="8.torque")], fmt, out)
    assert (report.traces, report.events) == (2, 5)
    root = ElementTree.fromstring(out.getvalue())
    values = {element.get("value") for element in root.iter()} | {element.text for element in root.iter()}
    assert '/CN=A&B <"x">' in values and "a\tb\nc" in values


class Sink:
    def write(self, text):
        return len(text)


def peak_memory(count):
    jobs = (job(id=n, job_id=f"{n}.torque", tags={"n": str(n)}) for n in range(count))
    tracemalloc.start()
    export.export_jobs(jobs, "xes", Sink())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_number_of_jobs():
    small, large = peak_memory(2_000), peak_memory(40_000)
    assert large < small * 1.5 + 64 * 1024, (small, large)


def test_unwritable_output_is_an_error(site, tmp_path):
    url, config = site
    result = CliRunner().invoke(apel_export, ["xes", "--db", url, "--config", config,
                                              "-o", str(tmp_path / "missing" / "x.xes")])
    assert result.exit_code == 1 and "cannot write" in result.output


def test_the_demo_shows_one_users_statistics_and_writes_an_xes_file(tmp_path):
    result = demo.run(str(tmp_path / "demo"))
    text = demo.report(result)
    assert f"Jobs of {sample_logs.USERS[0][0]} at the site" in text and "WaitP90" in text
    assert {row[0] for row in result.user_stats.rows} == {sample_logs.SLURM_CE, sample_logs.PBS_CE}
    log = read_xes(result.xes)
    assert f"apel-export xes: {len(log):,} jobs as {3 * len(log):,} events" in text


def test_csv_is_quoted_as_the_csv_module_quotes():
    out = io.StringIO()
    export.export_jobs([job(dn="/CN=a,b\nc", queue='lo"ng', tags={"k": 'v,"w'}), job(id=2, exit_code=None)], "csv", out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1][5:9] == ["/CN=a,b\nc", "", "", 'lo"ng'] and rows[1][13] == 'k=v,"w' and rows[-1][12] == ""
    again = io.StringIO()
    csv.writer(again, lineterminator="\n").writerows(rows)
    assert again.getvalue() == out.getvalue()
