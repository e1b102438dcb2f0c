"""Events: what the programs emit into [events] queue, apel-send --events, and apel-events over local, STOMP and AMS.

A run here is apel-load of an incoming queue (two sites' jobs and one broken
message), apel-summarise and apel-publish, each a real program (CliRunner)
with the configuration's [events] queue; apel-send --events carries the
events, apel-events shows them as JSON lines.
"""

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from dirq.QueueSimple import QueueSimple

from apeltools import api, events
from apeltools.cli.events import main as events_main
from apeltools.cli.load import main as load_main
from apeltools.cli.publish import main as publish_main
from apeltools.cli.send import main as send_main
from apeltools.cli.summarise import main as summarise_main
from apeltools.demo import pipeline
from apeltools.demo.pki import write_ca_dir
from apeltools.event_watch import drain, matches
from apeltools.messaging import crypto, queues
from apeltools.probes import cert, sync
from apeltools.records import text
from tests.conftest import closed_port, queue_elements
from tests.test_probes import NOW, add_summary, add_sync
from tests.test_summariser import job

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "events.json").read_text())
EVENTS = [sys.executable, "-c", "from apeltools.cli.events import main; main()"]
RUN_TYPES = {"message.rejected", "records.loaded", "site_month.summarised", "publication.done"}


@pytest.fixture(autouse=True)
def no_emitter_left():
    """Programs run in-process set the process's emitter: none may outlive a test."""
    with events.emitting_to(None):
        yield


def valid(event):
    jsonschema.validate(event, SCHEMA)
    return event


def incoming_messages(path, sites=("SITE-A", "SITE-B")):
    """Jobs of each site in a message of their own, and one message that is no message, in an incoming queue."""
    rng = random.Random(14)
    incoming = queues.incoming_queue(str(path))
    for site in sites:
        records = [job(rng, site, 2026, 9, n, InfrastructureType="grid") for n in range(5)]
        incoming.add({"body": text.write_message(text.JOB_V04, records), "signer": "/CN=sender", "empaid": site})
    incoming.add({"body": "no APEL header\n", "signer": "/CN=sender", "empaid": "broken"})
    return len(sites) + 1


def write_config(tmp_path, pki, events_section, messaging="", broker=""):
    cert, key = pki.files(pki.site)
    (tmp_path / "dns").write_text(crypto.signer_dn(pki.site.cert) + "\n")
    path = tmp_path / "apeltools.cfg"
    path.write_text(f"""
[broker]
{broker}
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
[messaging]
dn_file: {tmp_path / 'dns'}
receipt_timeout: 5
{messaging}
[events]
queue: {tmp_path / 'events'}
{events_section}
""")
    return str(path)


def invoke(main, *args):
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


def a_run(tmp_path, config, db_url):
    """apel-load, apel-summarise and apel-publish with ``config``'s [events]."""
    incoming_messages(tmp_path / "incoming")
    invoke(load_main, "--config", config, "--db", db_url, "--queue", tmp_path / "incoming",
           "--reject", tmp_path / "reject")
    invoke(summarise_main, "--config", config, "--db", db_url)
    invoke(publish_main, "summaries", "--config", config, "--db", db_url, "--queue", tmp_path / "portal",
           "--interval", "all")


def lines(output):
    return [valid(json.loads(line)) for line in output.splitlines() if line.strip()]


def assert_events_of_a_run(shown):
    assert {event["type"] for event in shown} == RUN_TYPES
    loaded = {(e["site"], e["fields"]["record_type"], e["fields"]["records"]) for e in shown
              if e["type"] == "records.loaded"}
    assert loaded == {("SITE-A", "job", 5), ("SITE-B", "job", 5)}
    [rejected] = [e for e in shown if e["type"] == "message.rejected"]
    assert rejected["fields"]["stage"] == "load" and rejected["fields"]["empaid"] == "broken"
    assert rejected["fields"]["reason"]
    months = {(e["site"], e["fields"]["year"], e["fields"]["month"]) for e in shown
              if e["type"] == "site_month.summarised"}
    assert months == {("SITE-A", 2026, 9), ("SITE-B", 2026, 9)}
    [published] = [e for e in shown if e["type"] == "publication.done"]
    assert published["program"] == "apel-publish" and published["fields"]["messages"] >= 1


def test_registry_and_schema_name_the_same_types():
    assert set(SCHEMA["properties"]["type"]["enum"]) == set(events.EVENT_TYPES)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert all(description.strip() for description in events.EVENT_TYPES.values())


def test_without_an_events_queue_nothing_is_emitted(tmp_path, db_url):
    config = tmp_path / "apeltools.cfg"
    config.write_text("[loader]\n")
    incoming_messages(tmp_path / "incoming")
    invoke(load_main, "--config", config, "--db", db_url, "--queue", tmp_path / "incoming",
           "--reject", tmp_path / "reject")
    assert "events" not in os.listdir(tmp_path) and not os.path.exists("/var/spool/apel/events")


def test_filters_by_type_pattern_and_site():
    event = {"type": "records.loaded", "site": "SITE-A"}
    assert matches(event) and matches(event, ["records.*"], ["SITE-A", "SITE-B"])
    assert not matches(event, ["message.*"]) and not matches(event, (), ["SITE-B"])


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("mysql", marks=pytest.mark.mariadb)], indirect=True)
def test_events_of_a_run_arrive_in_apel_events_through_the_local_transport(tmp_path, pki, db_url):
    config = write_config(tmp_path, pki, "transport: local")
    a_run(tmp_path, config, db_url)
    queued = [valid(json.loads(body)) for body in queue_elements(QueueSimple(str(tmp_path / "events")))]
    assert {event["type"] for event in queued} == RUN_TYPES
    invoke(send_main, "--config", config, "--events")
    assert QueueSimple(str(tmp_path / "events")).count() == 0
    assert os.path.isdir(tmp_path / "events-wire")  # apart from the records' wire

    shown = lines(invoke(events_main, "--config", config, "--once", "--interval", "0.1").stdout)
    assert_events_of_a_run(shown)
    assert shown == queued  # the same events, in the order they were emitted


def test_apel_events_filters_and_runs_a_command_per_event(tmp_path, pki, db_url):
    config = write_config(tmp_path, pki, "transport: local")
    a_run(tmp_path, config, db_url)
    invoke(send_main, "--config", config, "--events")
    spool = tmp_path / "spool"
    hook = tmp_path / "hook"
    # One run of apel-events files everything into its spool and hands on only SITE-B's loads.
    invoke(events_main, "--config", config, "--once", "--spool", spool, "--type", "records.*", "--site", "SITE-B",
           "--exec", f"cat >> {hook}; echo >> {hook}")
    [event] = [json.loads(line) for line in hook.read_text().splitlines() if line.strip()]
    assert (event["type"], event["site"]) == ("records.loaded", "SITE-B")
    assert sum(1 for _ in queues.incoming_queue(str(spool / "incoming"))) == 0  # the others were dropped


def test_a_failing_command_does_not_stop_apel_events(tmp_path, caplog):
    incoming = queues.incoming_queue(str(tmp_path / "incoming"))
    for number in range(3):
        incoming.add({"body": json.dumps({"type": "records.loaded", "n": number}), "signer": "/CN=x", "empaid": "e"})
    incoming.add({"body": "not json", "signer": "/CN=x", "empaid": "e"})
    result = CliRunner().invoke(events_main, ["--queue", str(tmp_path / "incoming"), "--once", "--exec", "exit 3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("exited 3") == 3 and "not an event" in result.output
    assert drain(incoming, print) == 0


def test_events_over_rabbitmq_topic(tmp_path, pki, db_url, rabbitmq_service):
    topic = f"/topic/apeltools.events.{uuid.uuid4().hex[:8]}"
    broker = (f"host: {rabbitmq_service.host}\nport: {rabbitmq_service.port}\nusername: guest\npassword: guest\n"
              "heartbeat: 2")
    config = write_config(tmp_path, pki, f"destination: {topic}\ntransport: stomp", broker=broker)
    out, err = open(tmp_path / "events.out", "wb"), open(tmp_path / "events.err", "wb")
    watcher = subprocess.Popen(EVENTS + ["--config", config, "-v", "--interval", "0.2"], stdout=out, stderr=err,
                               env=dict(os.environ, APELTOOLS_CONFIG=""))
    try:
        # A topic keeps nothing for subscribers to come: send once apel-events listens.
        wait_until(lambda: "receiving from" in (tmp_path / "events.err").read_text(), watcher, tmp_path)
        a_run(tmp_path, config, db_url)
        invoke(send_main, "--config", config, "--events")
        wait_until(lambda: "publication.done" in (tmp_path / "events.out").read_text(), watcher, tmp_path)
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=60) == 0, (tmp_path / "events.err").read_text()
    assert_events_of_a_run(lines((tmp_path / "events.out").read_text()))


def wait_until(condition, process, tmp_path, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"apel-events: {(tmp_path / 'events.err').read_text()[-3000:]}")
        time.sleep(0.2)


def test_events_over_ams(tmp_path, pki, db_url, ams):
    ams.create("apel-events", "apel-events-watch", 10)
    capath = write_ca_dir(tmp_path / "capath", [pki.ca, ams.ca])
    config = write_config(tmp_path, pki, "transport: ams\ndestination: apel-events\nsubscription: apel-events-watch",
                          messaging="ams_project: accounting\ntoken: secret", broker=f"host: {ams.endpoint}")
    Path(config).write_text(Path(config).read_text().replace(f"capath: {pki.capath}", f"capath: {capath}"))
    a_run(tmp_path, config, db_url)
    invoke(send_main, "--config", config, "--events")
    # 2 loads, 1 reject, 2 site-months, 1 publication
    assert ams.state()["projects"]["accounting"]["topics"]["apel-events"] == 6
    shown = lines(invoke(events_main, "--config", config, "--once", "--interval", "0.2").stdout)
    assert_events_of_a_run(shown)


def test_an_events_destination_that_is_down_neither_fails_nor_slows_the_loader(tmp_path, pki, capsys):
    """Loads of 200 messages (100 loadable, 100 not): events off, events queued for a broker that is
    down, events to a queue that cannot be written (below a file); each case twice, the faster
    counts (the second round in the opposite order). The figures are printed, not asserted: a shared
    machine's timings vary (benchmarks/events.py measures the same in CPU seconds)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    cert, key = pki.files(pki.site)
    down = (f"[broker]\nhost: 127.0.0.1\nport: {closed_port()}\n"
            f"[certificates]\ncertificate: {cert}\nkey: {key}\ncapath: {pki.capath}\n")
    cases = {"off": "", "broker down": f"{down}[events]\nqueue: {tmp_path / 'events'}\ntransport: stomp\n",
             "queue unwritable": f"[events]\nqueue: {blocker / 'events'}\n"}
    timings = {}
    for run in range(2):
        order = list(enumerate(cases.items()))
        for number, (case, section) in order if run == 0 else reversed(order):  # fair to each case
            config = tmp_path / f"{number}.cfg"
            config.write_text(section)
            db = f"sqlite:///{tmp_path}/{run}-{number}.db"
            api.create_database(db)
            incoming = tmp_path / f"incoming-{run}-{number}"
            for site in range(100):
                incoming_messages(incoming, (f"SITE-{site}",))
            started, cpu = time.perf_counter(), time.process_time()
            result = CliRunner().invoke(load_main, ["-v", "--config", str(config), "--db", db, "--queue",
                                                    str(incoming), "--reject", str(tmp_path / f"reject-{run}-{number}")])
            took = (time.perf_counter() - started, time.process_time() - cpu)
            timings[case] = min(timings.get(case, took), took)
            assert result.exit_code == 0, result.output
            assert "loaded 100 messages: 500 records, 0 rejected records, 100 rejected messages" in result.output
            assert result.output.count("cannot queue events") == (case == "queue unwritable")  # then a pause
    # What the loader emitted waits for the broker: apel-send --events gives up and keeps it.
    result = CliRunner().invoke(send_main, ["--config", str(tmp_path / "1.cfg"), "--events", "--max-wait", "1"])
    assert result.exit_code == 1 and "broker unavailable" in result.output
    assert QueueSimple(str(tmp_path / "events")).count() == 2 * 200  # each site's load, each broken message
    with capsys.disabled():
        print("\nloading 200 messages (wall, CPU): " + ", ".join(
            f"events {case} {wall:.2f} s, {cpu:.2f} s" for case, (wall, cpu) in timings.items()))


def test_apel_events_sees_the_events_of_a_demo_run(tmp_path):
    result = pipeline.run(str(tmp_path / "demo"))
    assert any(step.startswith("Events: ") for step in result.steps)
    shown = lines(invoke(events_main, "--queue", tmp_path / "demo" / "events" / "incoming", "--once").stdout)
    types = {event["type"] for event in shown}
    assert types >= {"message.accepted", "message.rejected", "records.loaded", "site_month.summarised",
                     "publication.done"}
    assert {event["site"] for event in shown if event["type"] == "records.loaded"} >= {"DEMO-SITE"}
    [rogue] = [e for e in shown if e["type"] == "message.rejected" and e["fields"]["stage"] == "receive"]
    assert "not in the DN list" in rogue["fields"]["reason"]


def probe_config(tmp_path):
    config = tmp_path / "probe.cfg"
    config.write_text(f"[events]\nqueue: {tmp_path / 'events'}\n")
    return str(config)


def queued(tmp_path):
    return [valid(json.loads(body)) for body in queue_elements(QueueSimple(str(tmp_path / "events")))]


@pytest.mark.parametrize("left, expected", [(365, 0), (20, 1)])
def test_check_apel_cert_emits_certificate_expiring_within_the_warning_days(tmp_path, pki, left, expected):
    cert_file, key_file = pki.files(pki.site)
    now = (pki.site.cert.not_valid_after_utc - dt.timedelta(days=left)).isoformat()
    result = CliRunner().invoke(cert.main, ["--config", probe_config(tmp_path), "--cert", cert_file, "--key",
                                            key_file, "--capath", str(pki.capath), "--now", now])
    assert result.exit_code == expected, result.output
    found = queued(tmp_path) if expected else []
    assert [(e["type"], e["program"], e["fields"]["days_left"]) for e in found] == \
        ([("certificate.expiring", "check_apel_cert", 20.0)] if expected else [])
    if expected:
        assert found[0]["fields"]["subject"] == crypto.signer_dn(pki.site.cert)


def test_check_apel_sync_emits_a_sync_difference_per_month_that_differs(tmp_path, db, db_url):
    for month, (held, told) in ((9, (100, 100)), (10, (120, 150))):
        add_summary(db, "SITE-A", 2026, month, held, dt.datetime(2026, month, 15))
        add_sync(db, "SITE-A", 2026, month, told)
    result = CliRunner().invoke(sync.main, ["--config", probe_config(tmp_path), "--site", "SITE-A", "--db", db_url,
                                            "--now", NOW])
    assert result.exit_code == 2, result.output
    [event] = queued(tmp_path)
    assert (event["type"], event["site"], event["fields"]) == (
        "sync.difference", "SITE-A",
        {"month": "2026-10", "state": "CRITICAL", "repository": 120, "site_count": 150, "difference": 20.0})


def test_a_child_forked_while_another_thread_emits_can_emit(tmp_path):
    """The receiver forks its large-message filer while other threads may be emitting."""
    with events.emitting_to(str(tmp_path / "events"), "test") as emitter:
        with emitter._lock:  # another thread is in the middle of an emit
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a child stuck on the lock dies instead of hanging the test
                events.emit("message.accepted", empaid="child", signer="/CN=x")
                os._exit(0)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    [event] = [json.loads(body) for body in queue_elements(QueueSimple(str(tmp_path / "events")))]
    assert event["fields"]["empaid"] == "child"


def test_apel_events_as_a_daemon_on_the_local_transport_is_quiet_and_ends_on_sigterm(tmp_path, pki):
    config = write_config(tmp_path, pki, "transport: local")
    with events.emitting_to(str(tmp_path / "events"), "test"):
        events.emit("publication.done", destination="d", messages=1, records={"jobs": 3})
    with open(tmp_path / "events.out", "wb") as out, open(tmp_path / "events.err", "wb") as err:
        watcher = subprocess.Popen(EVENTS + ["--config", config, "--interval", "0.2"], stdout=out, stderr=err,
                                   env=dict(os.environ, APELTOOLS_CONFIG=""))
    try:
        invoke(send_main, "--config", config, "--events")
        wait_until(lambda: "publication.done" in (tmp_path / "events.out").read_text(), watcher, tmp_path)
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=60) == 0  # a daemon's normal end
    [event] = lines((tmp_path / "events.out").read_text())
    assert (event["type"], event["fields"]["records"]) == ("publication.done", {"jobs": 3})
    assert (tmp_path / "events.err").read_text() == ""  # quiet success
