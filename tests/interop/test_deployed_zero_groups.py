"""Zeroed summary groups (apel-publish after corrections) through the deployed APEL server (dev only).

Skipped unless APELTOOLS_DEPLOYED_APEL and APELTOOLS_DEPLOYED_PYTHON are given (see
test_deployed.py). A site publishes, corrects jobs so that a published group and a sync count
have no jobs any more, and publishes again: the deployed loader must accept the zero records,
and after the deployed summariser its totals must equal the site's.
"""

import dataclasses
import datetime
import random

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.cli.publish import main as apel_publish
from apeltools.db.schema import migrate
from apeltools.records.types import JOB
from apeltools.summariser import summarise
from tests.interop.test_deployed import APEL_PYTHON, APEL_SRC, both  # noqa: F401 (the fixture)
from tests.test_publisher import drain
from tests.test_summariser import job

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not (APEL_SRC and APEL_PYTHON),
                       reason="set APELTOOLS_DEPLOYED_APEL and APELTOOLS_DEPLOYED_PYTHON to run"),
]

VIEW = {"summaries": "VSuperSummaries", "normalised-summaries": "VNormalisedSuperSummaries"}


def _deployed_totals(mariadb, database, view):
    conn = mariadb.connect(database)
    try:
        cursor = conn.cursor()
        cursor.execute("SET SESSION sql_mode = ''")  # the deployed views need it
        cursor.execute(f"SELECT SUM(NumberOfJobs), SUM(WallDuration), SUM(CpuDuration) FROM {view}")
        totals = [int(v) for v in cursor.fetchone()]
        cursor.execute("SELECT SubmitHost, NumberOfJobs FROM VSyncRecords")
        return totals, dict(cursor.fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("source, syntax", [("summaries", "legacy"), ("summaries", "v0.4"),
                                            ("normalised-summaries", "legacy"),
                                            ("normalised-summaries", "v0.4")])
def test_the_deployed_server_drops_the_jobs_of_a_zeroed_group(both, mariadb_service, tmp_path, source, syntax):
    deployed, _ = both
    last = datetime.date.today().replace(day=1) - datetime.timedelta(days=1)
    rng = random.Random(15)

    def jobs(first, count, vo, host):
        return [job(rng, "DEMO-ZERO", last.year, last.month, n, FQAN=None, VO=vo, SubmitHost=host,
                    InfrastructureType="grid", ServiceLevelType="HEPSPEC", ServiceLevel=10.0, Processors=1,
                    NodeCount=1, GlobalUserName="/CN=user") for n in range(first, first + count)]

    site = f"sqlite:///{tmp_path}/site.db"
    wrong = jobs(10, 5, "cms", "ce2.example.org")
    with databases.connect(site) as db:
        migrate(db)
        db.store(JOB, jobs(0, 10, "atlas", "ce1.example.org") + wrong, "site")
        summarise(db)
    queue = str(tmp_path / "out")
    args = [source, "--db", site, "--queue", queue, "--syntax", syntax]
    assert CliRunner().invoke(apel_publish, args).exit_code == 0
    assert deployed.load(drain(queue)) == []
    with databases.connect(site) as db:
        db.store(JOB, [dataclasses.replace(r, VO="atlas", SubmitHost="ce1.example.org") for r in wrong], "site")
        summarise(db)
        expected = [int(v) for v in db.query(
            "SELECT SUM(NumberOfJobs), SUM(WallDuration), SUM(CpuDuration) FROM VSuperSummaries")[0]]
    assert CliRunner().invoke(apel_publish, args).exit_code == 0
    bodies = drain(queue)
    assert any("NumberOfJobs: 0" in body for body in bodies)
    assert deployed.load(bodies) == []  # nothing rejected
    deployed.step("summarise")
    totals, sync = _deployed_totals(mariadb_service, deployed.name, VIEW[source])
    assert totals == expected
    assert sync == {"ce1.example.org": 15, "ce2.example.org": 0}
