"""The Nagios probes: every state boundary, perfdata, and UNKNOWN (3) for usage errors, failures and timeouts."""

import datetime as dt
import os
import socket
import subprocess
import threading
import time

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from apeltools.messaging import queues
from apeltools.probes import broker, cert, loader, pub, queue, sync
from tests import pki as testpki
from tests.conftest import closed_port

NOW = "2026-11-21T12:00:00Z"
NOW_DT = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.timezone.utc)


# -- data: rows as apel-summarise and loaded sync messages leave them -----------------------

def add_summary(db, site, year, month, jobs, latest=None, host="ce.example.org"):
    """One SuperSummaries row (the summariser's table behind VSuperSummaries)."""
    ids = {t: db.lookup_ids(t, [n])[n] for t, n in (
        ("Sites", site), ("DNs", "None"), ("VOs", "atlas"), ("VOGroups", "/atlas"), ("VORoles", "Role=NULL"))}
    host_id = db.lookup_ids("SubmitHosts", [host])[host]
    latest = latest.strftime("%Y-%m-%d %H:%M:%S") if latest else None
    with db.transaction():
        db.execute(
            "INSERT INTO SuperSummaries (SiteID, Month, Year, GlobalUserNameID, VOID, VOGroupID, VORoleID, "
            "SubmitHostID, InfrastructureType, ServiceLevelType, ServiceLevel, NodeCount, Processors, "
            "EarliestEndTime, LatestEndTime, WallDuration, CpuDuration, NormalisedWallDuration, "
            "NormalisedCpuDuration, NumberOfJobs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'grid', 'HEPSPEC', 10, 1, 1, "
            "?, ?, 3600, 3000, 36000, 30000, ?)",
            (ids["Sites"], month, year, ids["DNs"], ids["VOs"], ids["VOGroups"], ids["VORoles"], host_id,
             latest, latest, jobs),
        )


def add_sync(db, site, year, month, jobs, host="ce.example.org"):
    """One SyncRecords row, as a loaded APEL-sync-message leaves it."""
    site_id = db.lookup_ids("Sites", [site])[site]
    host_id = db.lookup_ids("SubmitHosts", [host])[host]
    dn_id = db.lookup_ids("DNs", ["/CN=apel.example.org"])["/CN=apel.example.org"]
    with db.transaction():
        db.execute("INSERT INTO SyncRecords (SiteID, SubmitHostID, NumberOfJobs, Month, Year, PublisherDNID) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (site_id, host_id, jobs, month, year, dn_id))


def run(command, *args):
    """(exit code, first line, perfdata, whole output) of a probe run in-process."""
    result = CliRunner().invoke(command, list(args))
    lines = result.output.splitlines()
    first = lines[0] if lines else ""
    text, _, perfdata = first.partition(" | ")
    return result.exit_code, text, perfdata, result.output


# -- check_apel_pub -----------------------------------------------------------------------

@pytest.mark.parametrize("age, code, first, perfdata", [
    (dt.timedelta(days=3), 0, "OK [ last published 3 days ago: 2026-11-18 ]", "age_days=3.0;7;31;0"),
    (dt.timedelta(days=7), 0, "OK [ last published 7 days ago: 2026-11-14 ]", "age_days=7.0;7;31;0"),
    (dt.timedelta(days=7, seconds=1), 1, "WARNING [ last published 7 days ago: 2026-11-14 ]",
     "age_days=7.000012;7;31;0"),
    (dt.timedelta(days=31), 1, "WARNING [ last published 31 days ago: 2026-10-21 ]", "age_days=31.0;7;31;0"),
    (dt.timedelta(days=31, seconds=1), 2, "CRITICAL [ last published 31 days ago: 2026-10-21 ]",
     "age_days=31.000012;7;31;0"),
])
def test_pub_state_boundaries(db, db_url, age, code, first, perfdata):
    latest = NOW_DT - age
    add_summary(db, "SITE-A", latest.year, latest.month, 10, latest)
    add_summary(db, "SITE-A", 2026, 9, 10, dt.datetime(2026, 9, 30))  # older rows do not count
    assert run(pub.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)[:3] == (code, first, perfdata)


def test_pub_site_without_records_is_critical_without_perfdata(db, db_url):
    add_summary(db, "SITE-OTHER", 2026, 11, 10, NOW_DT)
    assert run(pub.main, "--site", "SITE-NONE", "--db", db_url, "--now", NOW)[:3] == (
        2, "CRITICAL [ no accounting data for SITE-NONE in the repository ]", "")


def test_pub_thresholds_are_nagios_ranges(db, db_url):
    add_summary(db, "SITE-A", 2026, 11, 10, NOW_DT - dt.timedelta(days=2))
    assert run(pub.main, "--site", "SITE-A", "--db", db_url, "--now", NOW, "-w", "1", "-c", "5")[:3] == (
        1, "WARNING [ last published 2 days ago: 2026-11-19 ]", "age_days=2.0;1;5;0")


def test_pub_end_time_in_the_future_counts_as_now(db, db_url):
    add_summary(db, "SITE-A", 2026, 11, 10, NOW_DT + dt.timedelta(hours=5))
    assert run(pub.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)[:3] == (
        0, "OK [ last published 0 days ago: 2026-11-21 ]", "age_days=0.0;7;31;0")


def test_database_down_is_unknown(tmp_path):
    url = f"mysql://apel@127.0.0.1:{closed_port()}/apel"
    for command in (pub.main, sync.main):
        code, first, perfdata, _ = run(command, "--site", "SITE-A", "--db", url)
        assert code == 3 and first.startswith("UNKNOWN [ database unavailable:") and perfdata == ""
    code, first, _, _ = run(loader.main, "--db", url)
    assert code == 3 and first.startswith("UNKNOWN [ database unavailable:")


def test_database_without_schema_is_unknown(tmp_path):
    (tmp_path / "empty.db").touch()
    code, first, _, _ = run(pub.main, "--site", "SITE-A", "--db", f"sqlite:///{tmp_path}/empty.db")
    assert (code, first) == (3, "UNKNOWN [ database error: no such table: VSuperSummaries ]")


def test_a_missing_sqlite_file_is_unknown_and_not_created(tmp_path):
    for command, args in ((pub.main, ["--site", "SITE-A"]), (sync.main, ["--site", "SITE-A"]), (loader.main, [])):
        code, first, _, _ = run(command, *args, "--db", f"sqlite:///{tmp_path}/missing.db")
        assert code == 3 and first.startswith("UNKNOWN") and "no SQLite database at" in first, first
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.mariadb
def test_mariadb_stopped_is_unknown_and_back_when_it_returns(mariadb_service, tmp_path, monkeypatch):
    from tests.conftest import fresh_mysql
    from apeltools import db as databases
    from apeltools.db.schema import migrate

    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", mariadb_service.password)
    url, drop = fresh_mysql(mariadb_service)
    try:
        with databases.connect(url) as db:
            migrate(db)
            add_summary(db, "SITE-A", 2026, 11, 10, NOW_DT - dt.timedelta(days=1))
        mariadb_service.stop()
        try:
            code, first, perfdata, _ = run(pub.main, "--site", "SITE-A", "--db", url, "--now", NOW, "-t", "20")
            assert code == 3 and first.startswith("UNKNOWN [ database unavailable") and perfdata == ""
        finally:
            mariadb_service.start()
        assert run(pub.main, "--site", "SITE-A", "--db", url, "--now", NOW)[:2] == (
            0, "OK [ last published 1 day ago: 2026-11-20 ]")
    finally:
        drop()


# -- check_apel_sync ----------------------------------------------------------------------

def test_sync_in_step_is_ok(db, db_url):
    for month, jobs in ((10, 500), (11, 100)):
        add_summary(db, "SITE-A", 2026, month, jobs, dt.datetime(2026, month, 15))
        add_sync(db, "SITE-A", 2026, month, jobs)
    assert run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)[:3] == (
        0, "OK [ 2 months in step: 600 jobs in the repository, 600 reported by the site ]",
        "months_differing=0;;;0 worst_difference=0.0%;;@1:;0;100")


def test_sync_difference_is_critical_with_the_gap_publisher_text(db, db_url):
    add_summary(db, "SITE-A", 2026, 10, 120, dt.datetime(2026, 10, 15))
    add_sync(db, "SITE-A", 2026, 10, 150)
    code, first, perfdata, _ = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)
    assert (code, first, perfdata) == (
        2, "CRITICAL [ Please use the Gap Publisher to synchronise this dataset] 1 of 1 months differ: "
           "2026-10: repository 120, site 150 jobs (20.0 %)",
        "months_differing=1;;;0 worst_difference=20.0%;;@1:;0;100")


@pytest.mark.parametrize("repository, site, code, perf", [
    (990, 1000, 2, "1.0%"),      # exactly 1 %: not below 1 %
    (9901, 10000, 0, "0.99%"),   # just below
])
def test_sync_one_percent_boundary(db, db_url, repository, site, code, perf):
    add_summary(db, "SITE-A", 2026, 11, repository, dt.datetime(2026, 11, 15))
    add_sync(db, "SITE-A", 2026, 11, site)
    got_code, _, perfdata, _ = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)
    assert (got_code, perfdata) == (code, f"months_differing={code // 2};;;0 worst_difference={perf};;@1:;0;100")


def test_sync_months_on_one_side_only_are_named(db, db_url):
    add_summary(db, "SITE-A", 2026, 9, 70, dt.datetime(2026, 9, 15))      # repository only
    add_sync(db, "SITE-A", 2026, 10, 40)                                    # site only
    add_summary(db, "SITE-A", 2026, 11, 5, dt.datetime(2026, 11, 15))
    add_sync(db, "SITE-A", 2026, 11, 5)
    code, first, perfdata, _ = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW)
    assert code == 2
    assert first == ("CRITICAL [ Please use the Gap Publisher to synchronise this dataset] 2 of 3 months differ: "
                     "2026-09: repository 70 jobs, site sent no sync count; "
                     "2026-10: site 40 jobs, none in the repository")
    assert perfdata == "months_differing=2;;;0 worst_difference=100.0%;;@1:;0;100"


def test_sync_zero_counts_are_shown_not_divided_by(db, db_url):
    add_summary(db, "SITE-A", 2026, 11, 0, dt.datetime(2026, 11, 15))
    add_sync(db, "SITE-A", 2026, 11, 0)
    add_sync(db, "SITE-A", 2026, 10, 0)
    code, first, perfdata, output = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW, "-v")
    assert (code, first, perfdata) == (
        0, "OK [ 2 months in step: 0 jobs in the repository, 0 reported by the site ]",
        "months_differing=0;;;0 worst_difference=0.0%;;@1:;0;100")
    assert "2026-10: site 0 jobs, none in the repository" in output
    assert "2026-11: repository 0, site 0 jobs (0.0 %)" in output


def test_sync_long_output_lists_submit_hosts(db, db_url):
    add_summary(db, "SITE-A", 2026, 11, 60, dt.datetime(2026, 11, 15), host="ce1.example.org")
    add_summary(db, "SITE-A", 2026, 11, 40, dt.datetime(2026, 11, 15), host="ce2.example.org")
    add_sync(db, "SITE-A", 2026, 11, 60, host="ce1.example.org")
    add_sync(db, "SITE-A", 2026, 11, 30, host="ce2.example.org")
    code, _, _, output = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW, "-v")
    assert code == 2
    assert output.splitlines()[1:] == [
        "2026-11: repository 100, site 90 jobs (10.0 %)",
        "  ce1.example.org: repository 60, site 60 jobs (0.0 %)",
        "  ce2.example.org: repository 40, site 30 jobs (25.0 %)",
    ]


def test_sync_perfdata_labels_stay_the_same_from_month_to_month(db, db_url):
    """Graphing tools keep one series per label: a label per month would start a new one every month."""
    labels = set()
    for year, month in ((2026, 11), (2026, 12), (2027, 1)):
        add_summary(db, "SITE-A", year, month, 100, dt.datetime(year, month, 15))
        add_sync(db, "SITE-A", year, month, 90)
        now = f"{year:04d}-{month:02d}-21T12:00:00Z"
        _, _, perfdata, output = run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", now, "--months", "1",
                                     "-v")
        labels.add(tuple(item.split("=")[0] for item in perfdata.split()))
        assert f"{year:04d}-{month:02d}: repository 100, site 90 jobs (10.0 %)" in output.splitlines()[1:]
    assert labels == {("months_differing", "worst_difference")}


def test_sync_site_without_records_is_a_warning(db, db_url):
    assert run(sync.main, "--site", "SITE-NONE", "--db", db_url, "--now", NOW)[:3] == (
        1, "WARNING [ no jobs and no sync counts for SITE-NONE since 2026-06 ]", "")


def test_sync_only_compares_the_months_asked_for(db, db_url):
    add_sync(db, "SITE-A", 2025, 1, 99)  # long ago: outside --months
    add_summary(db, "SITE-A", 2026, 11, 5, dt.datetime(2026, 11, 15))
    add_sync(db, "SITE-A", 2026, 11, 5)
    assert run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW, "--months", "3")[0] == 0
    assert run(sync.main, "--site", "SITE-A", "--db", db_url, "--now", NOW, "--months", "23")[0] == 2


# -- usage errors, crashes and timeouts are UNKNOWN, never 2 -------------------------------

@pytest.mark.parametrize("command, args, reason", [
    (pub.main, ["--no-such-option"], "No such option"),
    (pub.main, ["--db", "sqlite:///x.db"], "give either --site SITE or --all"),
    (pub.main, ["--site", "S", "-w", "nonsense"], "is not a Nagios range"),
    (sync.main, ["--site", "S", "--months", "0"], "--months"),
    (sync.main, ["--site", "S", "--emit", "metric"], "--emit metric needs --queue DIR"),
    (queue.main, [], "Missing option '--queue'"),
    (loader.main, ["-t", "-1"], "-t"),
    (cert.main, ["-c", "x:y:z"], "is not a Nagios range"),
    (broker.main, ["--broker", "nohostport"], "not host:port"),
])
def test_usage_errors_are_unknown(command, args, reason):
    code, first, _, output = run(command, *args)
    assert code == 3, output
    assert first.startswith("UNKNOWN [ ") and first.endswith(" ]") and reason in first
    assert len(output.splitlines()) == 1


@pytest.mark.parametrize("name", ["pub", "sync", "queue", "loader", "cert", "broker"])
def test_installed_probe_exits_3_on_a_bad_option(name):
    done = subprocess.run([f"check_apel_{name}", "--bogus"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout.startswith("UNKNOWN [ usage: No such option")


def test_wrappers_in_probes_dir_run_the_probes():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([os.path.join(root, "probes", "check_apel_queue"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Examples:" in done.stdout


def test_timeout_is_unknown(gocdb):
    gocdb.mode = "hang"
    gocdb.hang_seconds = 10
    code, first, perfdata, _ = run(pub.main, "--site", "SITE-A", "--url", gocdb.base_url + "/status", "-t", "1")
    assert code == 3 and first.startswith("UNKNOWN [ ") and ("1 s" in first or "timed out" in first)
    assert perfdata == ""


def test_a_crash_is_unknown(monkeypatch, db_url):
    def broken(*_):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pub.DatabaseSource, "pub", broken)
    assert run(pub.main, "--site", "SITE-A", "--db", db_url)[:2] == (
        3, "UNKNOWN [ internal error: ZeroDivisionError: division by zero ]")


# -- check_apel_queue ---------------------------------------------------------------------

def test_queue_backlog_and_age(tmp_path):
    outgoing = queues.outgoing_queue(tmp_path / "out")
    for _ in range(3):
        outgoing.add("message")
    names = sorted(name for name in outgoing)
    oldest = int(names[0].split("/")[-1][:8], 16)  # "<bucket>/<element>"
    now = dt.datetime.fromtimestamp(oldest + 7200, dt.timezone.utc).isoformat()
    code, first, perfdata, _ = run(queue.main, "--queue", str(tmp_path / "out"), "--now", now,
                                   "-w", "2", "--age-warning", "7200")
    assert code == 1
    assert first == f"WARNING [ 3 elements in {tmp_path}/out, oldest 2.0 h old ]"
    assert perfdata == "elements=3;2;10000;0 oldest=7200s;7200;86400;0"
    code, first, perfdata, _ = run(queue.main, "--queue", str(tmp_path / "out"), "--now", now,
                                   "--age-critical", "3600")
    assert code == 2 and perfdata == "elements=3;1000;10000;0 oldest=7200s;21600;3600;0"


def test_queue_of_the_receiver_layout_and_empty_queue(tmp_path):
    rejects = queues.reject_queue(tmp_path / "reject")
    assert run(queue.main, "--queue", str(tmp_path / "reject"), "-w", "0")[:3] == (
        0, f"OK [ 0 elements in {tmp_path}/reject ]", "elements=0;0;10000;0 oldest=0s;21600;86400;0")
    rejects.add({"body": "x", "signer": "/CN=a", "error": "bad"})
    assert run(queue.main, "--queue", str(tmp_path / "reject"), "-w", "0")[0] == 1
    assert run(queue.main, "--queue", str(tmp_path / "missing"))[:2] == (
        3, f"UNKNOWN [ cannot read queue {tmp_path}/missing: No such file or directory ]")
    assert not (tmp_path / "missing").exists()  # a probe creates nothing


# -- check_apel_loader --------------------------------------------------------------------

def test_loader_never_loaded_is_critical(db_url):
    assert run(loader.main, "--db", db_url)[:3] == (
        2, "CRITICAL [ no message has ever been loaded into this database ]", "")


def test_loader_age_and_reject_rate(db, db_url):
    from apeltools.records.types import SYNC

    record = SYNC.make(Site="SITE-A", SubmitHost="ce", NumberOfJobs=3, Month=11, Year=2026)
    db.store(SYNC, [record] * 1, "/CN=a", note=("m1", "APEL-sync-message: v0.1", 1))
    db.note_rejected_message("m2", "/CN=a")
    newest = db.query("SELECT MAX(LoadTime) FROM LoadedMessages")[0][0]
    newest = newest if isinstance(newest, dt.datetime) else dt.datetime.fromisoformat(newest)
    now = (newest + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, first, perfdata, _ = run(loader.main, "--db", db_url, "--now", now)
    # 1 record loaded, 2 rejected (a record of m1, the whole of m2): 66.7 %.
    assert code == 2
    assert first.startswith("CRITICAL [ last load ") and "2 messages, 1 records loaded, 2 rejected (66.7 %)" in first
    assert perfdata == "last_load=60s;21600;86400;0 rejected=66.667%;5;20;0;100"
    later = (newest + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, first, perfdata, _ = run(loader.main, "--db", db_url, "--now", later, "--window", "1")
    assert code == 2 and "0 messages" in first
    assert perfdata == "last_load=172800s;21600;86400;0 rejected=0.0%;5;20;0;100"


# -- check_apel_cert ----------------------------------------------------------------------

def test_cert_good(pki):
    cert_file, key_file = pki.files(pki.site)
    code, first, perfdata, _ = run(cert.main, "--cert", cert_file, "--key", key_file, "--capath", str(pki.capath))
    assert code == 0 and first.startswith(f"OK [ {testpki.SITE_DN} valid until ")
    assert first.endswith("key matches, chain verified ]") and perfdata.startswith("days_left=")


def test_cert_expiry_thresholds(pki):
    cert_file, key_file = pki.files(pki.site)
    expires = pki.site.cert.not_valid_after_utc
    soon = (expires - dt.timedelta(days=20)).isoformat()
    code, first, perfdata, _ = run(cert.main, "--cert", cert_file, "--key", key_file,
                                   "--capath", str(pki.capath), "--now", soon)
    assert code == 1 and f"expires {expires:%Y-%m-%d} (20 days)" in first
    assert perfdata == "days_left=20.0;30:;7:;0"


@pytest.mark.parametrize("left, state", [(365, 0), (20, 1), (5, 2)])
def test_cert_thresholds_read_as_days_left(pki, left, state):
    """-w 30 -c 7 as every certificate check reads it: WARNING under 30 days left, CRITICAL under 7."""
    cert_file, key_file = pki.files(pki.site)
    now = (pki.site.cert.not_valid_after_utc - dt.timedelta(days=left)).isoformat()
    code, _, perfdata, _ = run(cert.main, "--cert", cert_file, "--key", key_file, "--capath", str(pki.capath),
                               "--now", now, "-w", "30", "-c", "7")
    assert (code, perfdata) == (state, f"days_left={left:.1f};30:;7:;0")


def test_cert_thresholds_keep_nagios_ranges(pki):
    cert_file, key_file = pki.files(pki.site)
    now = (pki.site.cert.not_valid_after_utc - dt.timedelta(days=20)).isoformat()
    code, _, perfdata, _ = run(cert.main, "--cert", cert_file, "--key", key_file, "--capath", str(pki.capath),
                               "--now", now, "-w", "@0:25", "-c", "10:")
    assert (code, perfdata) == (1, "days_left=20.0;@25;10:;0")


def test_cert_wrong_key_and_untrusted_chain_are_critical(pki):
    cert_file, _ = pki.files(pki.site)
    _, other_key = pki.files(pki.other_site)
    code, first, _, _ = run(cert.main, "--cert", cert_file, "--key", other_key, "--capath", str(pki.capath))
    assert code == 2 and "key: private key does not match" in first
    rogue_cert, rogue_key = pki.files(pki.rogue)
    code, first, _, _ = run(cert.main, "--cert", rogue_cert, "--key", rogue_key, "--capath", str(pki.capath))
    assert code == 2 and "chain: certificate" in first and "not issued by a trusted CA" in first


def test_cert_missing_file_is_unknown(tmp_path):
    assert run(cert.main, "--cert", str(tmp_path / "none.pem"), "--key", str(tmp_path / "k"))[:2] == (
        3, f"UNKNOWN [ cannot read certificate {tmp_path}/none.pem: No such file or directory ]")


def test_cert_garbage_key_or_missing_capath_is_unknown(pki, tmp_path):
    """The probe was pointed at the wrong file: it cannot tell, which is UNKNOWN, not a CRITICAL certificate."""
    cert_file, key_file = pki.files(pki.site)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a key\n")
    code, first, _, _ = run(cert.main, "--cert", cert_file, "--key", str(garbage), "--capath", str(pki.capath))
    assert code == 3 and first.startswith(f"UNKNOWN [ {garbage} is not a PEM private key: "), first
    code, first, _, _ = run(cert.main, "--cert", cert_file, "--key", key_file, "--capath", str(tmp_path / "none"))
    assert (code, first) == (3, f"UNKNOWN [ cannot read CA directory {tmp_path}/none: No such file or directory ]")
    # A key that needs a passphrase is a real key the sender cannot sign with: an alarm.
    locked = tmp_path / "locked.pem"
    locked.write_bytes(pki.site.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(b"secret")))
    code, first, _, _ = run(cert.main, "--cert", cert_file, "--key", str(locked), "--capath", str(pki.capath))
    assert code == 2 and "key: private key is protected by a passphrase" in first


# -- check_apel_broker --------------------------------------------------------------------

def test_broker_round_trip(rabbitmq_service, tmp_path):
    config = tmp_path / "broker.cfg"
    config.write_text(f"[broker]\nusername: {rabbitmq_service.user}\npassword: {rabbitmq_service.password}\n")
    code, first, perfdata, _ = run(broker.main, "--broker", f"127.0.0.1:{rabbitmq_service.port}",
                                   "--config", str(config), "-t", "20")
    assert code == 0, first
    assert first.startswith(f"OK [ stomp://127.0.0.1:{rabbitmq_service.port}: message returned in ")
    assert perfdata.startswith("connect=") and ";;;0 round_trip=" in perfdata and perfdata.endswith(";2;8;0")


def test_broker_unreachable_is_critical():
    port = closed_port()
    code, first, perfdata, _ = run(broker.main, "--broker", f"127.0.0.1:{port}")
    assert (code, perfdata) == (2, "") and first.startswith("CRITICAL [ broker: no broker reachable")


@pytest.fixture
def silent_broker():
    """A TCP port that accepts connections and never says a word: a hung broker."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    for connection in accepted:
        connection.close()
    server.close()


def test_broker_that_never_answers_stomp_is_critical(silent_broker):
    started = time.monotonic()
    code, first, perfdata, _ = run(broker.main, "--broker", f"127.0.0.1:{silent_broker}", "-t", "3")
    assert (code, perfdata) == (2, ""), first
    assert first == f"CRITICAL [ stomp://127.0.0.1:{silent_broker}: did not answer the STOMP CONNECT within 2 s ]"
    assert time.monotonic() - started < 3
