"""apeltools on a 3-node MariaDB Galera cluster (tests/services/galera.sh): loaders on several nodes
at once, a node SIGKILLed while they load, summarisers on two nodes at once, full summarises while
loaders write on other nodes, a join that loses a certification conflict, and the write-set limits
(issue 18). The fault tests end with the summaries of a single-server run of the same data."""

import datetime
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from apeltools import db as databases
from apeltools import summariser
from apeltools.ce_benchmarks import Benchmark, update
from apeltools.db import site
from apeltools.db import summaries as summaries_sql
from apeltools.db.schema import migrate
from apeltools.demo import sample
from apeltools.errors import BusyError, TransientDatabaseError
from apeltools.joiner import JoinSettings, join
from apeltools.messaging import queues
from apeltools.records.types import JOB
from tests.test_join import CE_PBS, NOW, T0, add, batch, blah
from tests.test_loader_faults import apel_load, check_loaded_once, fill, leftovers

pytestmark = [pytest.mark.cluster, pytest.mark.mariadb]

SUMMARY_COLUMNS = ("Site, Month, Year, GlobalUserName, VO, VOGroup, VORole, SubmitHost, InfrastructureType, "
                   "ServiceLevelType, ServiceLevel, NodeCount, Processors, EarliestEndTime, LatestEndTime, "
                   "WallDuration, CpuDuration, NumberOfJobs")


@pytest.fixture
def cluster_db(galera_cluster, monkeypatch):
    """A fresh migrated database on the cluster: its name; created through node 1, seen by all."""
    monkeypatch.setenv("APELTOOLS_DB_PASSWORD", galera_cluster.password)
    name = "apelgalera_" + uuid.uuid4().hex[:10]
    conn = galera_cluster.connect_node(1)
    try:
        conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        conn.close()
    with databases.connect(f"{galera_cluster.url_of(1)}/{name}") as db:
        migrate(db)
    for node in galera_cluster.nodes:
        # Each node applies node 1's commits a moment after certifying them: a causal read waits
        # until it has, so that no program started on it finds the migrations missing.
        with databases.connect(node_url(galera_cluster, node, name)) as db:
            db.execute("SET SESSION wsrep_sync_wait = 1")
            db.query("SELECT COUNT(*) FROM SchemaMigrations")
    yield name
    for node in galera_cluster.nodes:  # whichever node is up (a fault test may have left one down)
        try:
            conn = galera_cluster.connect_node(node)
        except Exception:
            continue
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            conn.close()
        break


def node_url(cluster, node, name):
    return f"{cluster.url_of(node)}/{name}"


def test_a_certification_conflict_at_commit_is_transient(galera_cluster, cluster_db):
    """Two nodes change one row at once: the second commit fails certification (1213 raised by the
    connector's C extension at commit) and must come out as a transient error, to be replayed."""
    first = databases.connect(node_url(galera_cluster, 1, cluster_db))
    second = databases.connect(node_url(galera_cluster, 2, cluster_db))
    first.execute("INSERT INTO Sites (name) VALUES ('conflict.example.org')")
    time.sleep(0.5)  # replicated to node 2
    with pytest.raises(TransientDatabaseError, match="1213"):
        with second.transaction():
            second.execute("UPDATE Sites SET name = 'b.example.org' WHERE name = 'conflict.example.org'")
            with first.transaction():
                first.execute("UPDATE Sites SET name = 'a.example.org' WHERE name = 'conflict.example.org'")
    first.close()
    second.close()


def test_two_loaders_on_two_nodes_load_every_message_once(galera_cluster, cluster_db, tmp_path):
    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 600
    records = fill(incoming, messages, 3)
    loaders = [apel_load(node_url(galera_cluster, node, cluster_db), tmp_path / "in", tmp_path / "rej")
               for node in (1, 2)]
    logs = []
    for process in loaders:
        _, stderr = process.communicate(timeout=600)
        logs.append(stderr)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    url = node_url(galera_cluster, 3, cluster_db)
    assert incoming.count() == 0, leftovers(incoming, url, logs)
    assert queues.reject_queue(tmp_path / "rej").count() == 0
    check_loaded_once(url, messages, records)


def summarise(url, *extra):
    env = dict(os.environ, APELTOOLS_CONFIG=os.devnull)
    return subprocess.Popen([sys.executable, "-m", "apeltools.cli.summarise", "--db", url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def super_summaries(url):
    """The rows of VSuperSummaries, sorted, times as text (as SQLite gives them)."""
    with databases.connect(url) as db:
        # Galera applies a commit of another node asynchronously after certifying it: a read right
        # after it waits for that only with wsrep_sync_wait (causal reads).
        if db.on_galera():
            db.execute("SET SESSION wsrep_sync_wait = 1")
        return sorted(tuple(str(value) if isinstance(value, datetime.datetime) else value for value in row)
                      for row in db.query(f"SELECT {SUMMARY_COLUMNS} FROM VSuperSummaries"))


@pytest.mark.slow
def test_a_node_killed_while_loading_on_all_nodes_loses_nothing(galera_cluster, cluster_db, tmp_path,
                                                                 mariadb_service):
    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 900
    records = fill(incoming, messages, 5)
    single, drop = _single_server_copy(mariadb_service, tmp_path, messages)
    try:
        loaders = [apel_load(node_url(galera_cluster, node, cluster_db), tmp_path / "in", tmp_path / "rej",
                             "--max-wait", "300") for node in galera_cluster.nodes]
        try:
            deadline = time.monotonic() + 120
            while incoming.count() > messages * 2 // 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert incoming.count() > 0, "the loaders finished before a node could be killed"
            galera_cluster.kill_node(2)
            time.sleep(2)
        finally:
            galera_cluster.start_node(2)
        logs = []
        for process in loaders:
            _, stderr = process.communicate(timeout=600)
            logs.append(stderr)
            assert process.returncode == 0, stderr
        url = node_url(galera_cluster, 2, cluster_db)
        assert incoming.count() == 0, leftovers(incoming, url, logs)
        assert queues.reject_queue(tmp_path / "rej").count() == 0
        check_loaded_once(url, messages, records)
        for process in [summarise(url)]:
            _, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr
        assert super_summaries(node_url(galera_cluster, 3, cluster_db)) == super_summaries(single)
    finally:
        drop()


def _single_server_copy(mariadb_service, tmp_path, messages, per_message=5):
    """The same messages loaded and summarised on the single MariaDB server: the reference."""
    from tests.conftest import fresh_mysql

    url, drop = fresh_mysql(mariadb_service)
    with databases.connect(url) as db:
        migrate(db)
    incoming = queues.incoming_queue(tmp_path / "single")
    fill(incoming, messages, per_message)
    loader = apel_load(url, tmp_path / "single", tmp_path / "single-rej")
    _, stderr = loader.communicate(timeout=600)
    assert loader.returncode == 0, stderr
    process = summarise(url)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return url, drop


def test_a_summariser_on_another_node_is_refused_while_one_runs(galera_cluster, cluster_db):
    """The run lock holds across nodes: GET_LOCK, local to a node, let both run."""
    with databases.connect(node_url(galera_cluster, 1, cluster_db)) as db, db.exclusive("summarise"):
        process = summarise(node_url(galera_cluster, 2, cluster_db))
        _, stderr = process.communicate(timeout=120)
        assert process.returncode != 0
        assert "another apel-summarise is running" in stderr and "Traceback" not in stderr
    process = summarise(node_url(galera_cluster, 2, cluster_db))  # released: it runs now
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr


def test_two_summarisers_started_at_once_on_two_nodes_one_runs(galera_cluster, cluster_db):
    """Taken at the same instant on two nodes, the lock still goes to one of them only."""
    first = databases.connect(node_url(galera_cluster, 1, cluster_db))
    second = databases.connect(node_url(galera_cluster, 2, cluster_db))
    outcomes = []

    def take(db):
        try:
            with db.exclusive("summarise"):
                outcomes.append("ran")
                time.sleep(1.5)
        except BusyError:
            outcomes.append("refused")

    threads = [threading.Thread(target=take, args=(db,)) for db in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ran", "refused"]
    first.close()
    second.close()


def test_a_lock_left_by_a_dead_holder_is_taken_over(galera_cluster, cluster_db):
    with databases.connect(node_url(galera_cluster, 1, cluster_db)) as db:
        db.execute("INSERT INTO RunLocks (Name, Owner, Host, Pid, Acquired, Expires) VALUES "
                   "('summarise', 'x', 'elsewhere', 1, UTC_TIMESTAMP(), UTC_TIMESTAMP() - INTERVAL 1 SECOND)")
        with db.exclusive("summarise"):
            assert db.query("SELECT Host FROM RunLocks") != [("elsewhere",)]
        assert db.query("SELECT COUNT(*) FROM RunLocks") == [(0,)]


@pytest.mark.parametrize("setting, limit", [("wsrep_max_ws_rows", 100), ("wsrep_max_ws_size", 4096)])
def test_a_message_over_the_write_set_limit_is_refused_clearly(galera_cluster, cluster_db, tmp_path, setting, limit):
    """MariaDB's defaults (wsrep_max_ws_rows 0: none, wsrep_max_ws_size 2 GiB) take any message the
    senders make (1000 records at most); a cluster set tighter refuses the transaction, which apel-load
    must say in words that name the setting, without a traceback, keeping the message."""
    incoming = queues.incoming_queue(tmp_path / "in")
    fill(incoming, 1, 300)
    root = galera_cluster.connect_node(3)
    default = _global(root, setting)
    try:
        root.cursor().execute(f"SET GLOBAL {setting} = {limit}")
        loader = apel_load(node_url(galera_cluster, 3, cluster_db), tmp_path / "in", tmp_path / "rej")
        _, stderr = loader.communicate(timeout=120)
    finally:
        root.cursor().execute(f"SET GLOBAL {setting} = {default}")
        root.close()
    assert loader.returncode != 0
    assert "larger than the Galera cluster lets one transaction be" in stderr and "Traceback" not in stderr, stderr
    assert incoming.count() == 1
    loader = apel_load(node_url(galera_cluster, 3, cluster_db), tmp_path / "in", tmp_path / "rej")
    _, stderr = loader.communicate(timeout=120)
    assert loader.returncode == 0, stderr
    assert incoming.count() == 0


def test_summarising_on_one_node_while_loading_on_the_others_never_fails(galera_cluster, cluster_db, tmp_path):
    """A summarise committing while loaders on other nodes write the same site-months loses
    certification now and then: the run is replayed, not ended with 1213."""
    incoming = queues.incoming_queue(tmp_path / "in")
    records = fill(incoming, 400, 20)
    loaders = [apel_load(node_url(galera_cluster, node, cluster_db), tmp_path / "in", tmp_path / "rej")
               for node in (1, 3)]
    runs = []
    while any(loader.poll() is None for loader in loaders) or not runs:
        process = summarise(node_url(galera_cluster, 2, cluster_db))
        _, stderr = process.communicate(timeout=300)
        runs.append(stderr)
        assert process.returncode == 0, stderr
    for loader in loaders:
        assert loader.wait() == 0
    process = summarise(node_url(galera_cluster, 2, cluster_db))  # what was loaded after the last run
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    with databases.connect(node_url(galera_cluster, 2, cluster_db)) as db:
        assert db.query("SELECT SUM(NumberOfJobs) FROM VSuperSummaries")[0][0] == records


def test_a_join_that_loses_a_certification_conflict_is_replayed(galera_cluster, cluster_db, caplog):
    """apel-join on node 1 while a loader on node 2 commits a job the join is writing (the same
    natural key): the join's transaction loses certification, is rolled back whole and replayed;
    every job is there once, as the join made it, and each batch record is marked joined."""
    joining = databases.connect(node_url(galera_cluster, 1, cluster_db))
    loading = databases.connect(node_url(galera_cluster, 2, cluster_db))
    update(joining, [Benchmark(CE_PBS, "HEPSPEC", 10.0)], "config", now=T0)
    ids = [f"{n}.torque" for n in range(25)]
    add(joining, *[record for n, job_id in enumerate(ids)
                   for record in (batch(job_id, T0 + n * 3600), blah(job_id, T0 + n * 3600 - 600))])
    stored, conflicts = [], []
    store, replace_rows = joining.store, joining._replace_rows

    def store_seen(rtype, records, *args, **kwargs):
        stored.append(records)
        return store(rtype, records, *args, **kwargs)

    def replace_then_lose(plan, rows):
        replace_rows(plan, rows)
        if not conflicts:  # once: the join's rows are written, not committed yet
            conflicts.append(stored[-1][0].LocalJobId)
            loading.store(JOB, stored[-1][:1], "/CN=a loader on node 2")

    joining.store, joining._replace_rows = store_seen, replace_then_lose
    with caplog.at_level("WARNING"):
        report = join(joining, JoinSettings(site="TEST-SITE", chunk=10), now=NOW)
    assert conflicts and "1213" in caplog.text, caplog.text
    assert (report.joined, dict(report.unjoined)) == (len(ids), {})
    with databases.connect(node_url(galera_cluster, 3, cluster_db)) as db:
        db.execute("SET SESSION wsrep_sync_wait = 1")
        assert sorted(db.query("SELECT LocalJobId, PublisherDN FROM VJobRecordsExt")) == sorted(
            (job_id, "None") for job_id in ids)
        assert db.query("SELECT JoinStatus, COUNT(*) FROM BatchRecords GROUP BY JoinStatus") == [(site.FINE, len(ids))]
    joining.close()
    loading.close()


def test_summarisers_started_on_two_nodes_at_once_one_runs_one_is_refused(galera_cluster, cluster_db, tmp_path,
                                                                          mariadb_service):
    """apel-summarise on nodes 1 and 2 at the same instant, after a load: one runs, the other is
    refused, and the summaries are those of the same data on a single server."""
    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 200
    records = fill(incoming, messages, 5)
    single, drop = _single_server_copy(mariadb_service, tmp_path, messages)
    try:
        loader = apel_load(node_url(galera_cluster, 1, cluster_db), tmp_path / "in", tmp_path / "rej")
        _, stderr = loader.communicate(timeout=600)
        assert loader.returncode == 0, stderr
        check_loaded_once(node_url(galera_cluster, 2, cluster_db), messages, records)
        started = threading.Barrier(2)
        outcomes = {}

        def run(node):
            with databases.connect(node_url(galera_cluster, node, cluster_db)) as db:
                started.wait()
                try:
                    summariser.summarise(db)
                    outcomes[node] = "ran"
                except BusyError as error:
                    outcomes[node] = str(error)

        threads = [threading.Thread(target=run, args=(node,)) for node in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted("refused" if outcome.startswith("another apel-summarise is running") else outcome
                      for outcome in outcomes.values()) == ["ran", "refused"], outcomes
        assert super_summaries(node_url(galera_cluster, 3, cluster_db)) == super_summaries(single)
    finally:
        drop()


@pytest.mark.slow
def test_a_full_summarise_on_one_node_while_a_loader_runs_on_another(galera_cluster, cluster_db, tmp_path,
                                                                     mariadb_service, caplog):
    """apel-summarise --full on node 1, again and again while apel-load writes on node 2: a run that
    loses to the loader's commits is replayed, never ends with 1213, and an incremental run after
    the load gives the summaries of the same data on a single server: no full run consumed the
    deltas of jobs it did not count. How often runs were replayed is printed."""
    incoming = queues.incoming_queue(tmp_path / "in")
    messages, per_message = 400, 20
    records = fill(incoming, messages, per_message)
    single, drop = _single_server_copy(mariadb_service, tmp_path, messages, per_message)
    try:
        loader = apel_load(node_url(galera_cluster, 2, cluster_db), tmp_path / "in", tmp_path / "rej")
        url = node_url(galera_cluster, 1, cluster_db)
        runs = 0
        with databases.connect(url) as db, caplog.at_level("WARNING", logger="apeltools.summariser"):
            while loader.poll() is None or not runs:
                summariser.summarise(db, full=True)
                runs += 1
        _, stderr = loader.communicate()
        assert loader.returncode == 0, stderr
        replays = caplog.text.count("replaying the run")
        print(f"\n{runs} full runs while loading, {replays} replays")
        with databases.connect(node_url(galera_cluster, 3, cluster_db)) as db:  # (DNs: the summariser's too)
            assert db.query("SELECT COUNT(*), COUNT(DISTINCT LocalJobId) FROM JobRecords") == [(records, records)]
            assert db.query("SELECT COUNT(*), COUNT(DISTINCT EmpaId) FROM LoadedMessages") == [(messages, messages)]
        # Incremental: the jobs loaded after the last full run's rebuild come from their deltas,
        # which that run must have left.
        process = summarise(url)
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert super_summaries(node_url(galera_cluster, 3, cluster_db)) == super_summaries(single)
    finally:
        drop()


def test_messages_that_fit_the_write_set_limit_one_by_one_load_when_together_they_do_not(
        galera_cluster, cluster_db, tmp_path):
    """apel-load stores several messages in one transaction; on a cluster whose limit each message
    fits but the batch does not, it stores them one by one instead of stopping."""
    incoming = queues.incoming_queue(tmp_path / "in")
    messages = 20
    records = fill(incoming, messages, 60)
    url = node_url(galera_cluster, 3, cluster_db)
    root = galera_cluster.connect_node(3)
    default = _global(root, "wsrep_max_ws_rows")
    try:
        root.cursor().execute("SET GLOBAL wsrep_max_ws_rows = 500")
        loader = apel_load(url, tmp_path / "in", tmp_path / "rej")
        _, stderr = loader.communicate(timeout=300)
    finally:
        root.cursor().execute(f"SET GLOBAL wsrep_max_ws_rows = {default}")
        root.close()
    assert loader.returncode == 0, stderr
    assert incoming.count() == 0 and queues.reject_queue(tmp_path / "rej").count() == 0
    check_loaded_once(url, messages, records)


@pytest.mark.parametrize("setting, limit", [("wsrep_max_ws_rows", 20), ("wsrep_max_ws_size", 4096)])
def test_a_full_summarise_over_a_write_set_limit_is_refused_clearly(galera_cluster, cluster_db, tmp_path,
                                                                      setting, limit):
    """A full summarise is one transaction (it replaces every super-summary row and consumes every
    delta): on a cluster set tighter than it needs, it is refused in words that name the settings,
    without a traceback, leaving the summaries as they were; with the limit lifted it runs."""
    incoming = queues.incoming_queue(tmp_path / "in")
    records = fill(incoming, 40, 10)
    loader = apel_load(node_url(galera_cluster, 1, cluster_db), tmp_path / "in", tmp_path / "rej")
    _, stderr = loader.communicate(timeout=120)
    assert loader.returncode == 0, stderr
    url = node_url(galera_cluster, 1, cluster_db)
    roots = [galera_cluster.connect_node(node) for node in galera_cluster.nodes]
    try:
        default = _global(roots[0], setting)
        for root in roots:
            root.cursor().execute(f"SET GLOBAL {setting} = {limit}")
        process = summarise(url, "--full")
        _, stderr = process.communicate(timeout=120)
    finally:
        for root in roots:
            root.cursor().execute(f"SET GLOBAL {setting} = {default}")
            root.close()
    assert process.returncode != 0
    assert "larger than the Galera cluster lets one transaction be" in stderr and "Traceback" not in stderr, stderr
    assert super_summaries(url) == []
    process = summarise(url, "--full")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    with databases.connect(url) as db:
        assert db.query("SELECT SUM(NumberOfJobs) FROM VSuperSummaries")[0][0] == records


def _global(conn, setting):
    cursor = conn.cursor()
    cursor.execute(f"SELECT @@GLOBAL.{setting}")
    return cursor.fetchone()[0]


def test_a_full_summarise_is_not_undone_by_a_load_committed_on_another_node(galera_cluster, cluster_db, caplog,
                                                                            monkeypatch):
    """A loader on node 2 commits jobs while a full summarise on node 1 is between its rebuild and
    its commit: the full run goes on (it was replayed before: its locking reads of every job were
    broken by node 2's write set), and the jobs it did not count keep their deltas for the next run."""
    rng = sample.rng_for(5)
    before = sample.jobs(sample.SITES[0], 2026, 10, 300, rng, first_id=0)
    during = sample.jobs(sample.SITES[0], 2026, 10, 100, rng, first_id=1000)
    summarising = databases.connect(node_url(galera_cluster, 1, cluster_db))
    loading = databases.connect(node_url(galera_cluster, 2, cluster_db))
    watching = databases.connect(node_url(galera_cluster, 1, cluster_db))
    watching.execute("SET SESSION wsrep_sync_wait = 1")
    summarising.store(JOB, before, "/CN=loader 1")
    consume, loaded = summaries_sql.consume_all_deltas, []

    def load_then_consume(db):
        if not loaded:
            loaded.append(loading.store(JOB, during, "/CN=loader 2"))
            watching.query("SELECT COUNT(*) FROM JobRecords")  # applied on node 1 too
        return consume(db)

    monkeypatch.setattr(summaries_sql, "consume_all_deltas", load_then_consume)
    with caplog.at_level("WARNING", logger="apeltools.summariser"):
        summariser.summarise(summarising, full=True)
    assert loaded and "replaying" not in caplog.text, caplog.text
    assert summarising.query("SELECT SUM(NumberOfJobs) FROM VSuperSummaries")[0][0] == len(before)
    summariser.summarise(summarising)
    assert summarising.query("SELECT SUM(NumberOfJobs) FROM VSuperSummaries")[0][0] == len(before) + len(during)
    for db in (summarising, loading, watching):
        db.close()
