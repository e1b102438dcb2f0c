"""apel-tag: tags added and removed by job id or by filters, listed, used by apel-query; all or nothing."""

import csv
import io

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools import tags
from apeltools.cli.query import main as apel_query
from apeltools.cli.tag import main as apel_tag
from tests.test_parsers import PBS_CLASSIC, parse_into

DELETED = "04/15/2024 11:16:30;D;4243.torque.example.org;requestor=atlas001@ce01.example.org"


@pytest.fixture
def site(db_url, tmp_path):
    """Three PBS jobs: 4242 completed (run twice: two batch records), 4243 cancelled, 4244 failed."""
    log = tmp_path / "20240415"
    lines = [PBS_CLASSIC, PBS_CLASSIC.replace("end=1713179800", "end=1713179900"), DELETED,
             PBS_CLASSIC.replace("4242.torque", "4243.torque").replace("Exit_status=0", "Exit_status=271"),
             PBS_CLASSIC.replace("4242.torque", "4244.torque").replace("Exit_status=0", "Exit_status=2")
             .replace("user=atlas001", "user=cms002")]
    log.write_text("\n".join(lines) + "\n")
    parse_into(db_url, "pbs", log)
    return db_url


def tag(db_url, *args):
    return CliRunner().invoke(apel_tag, [*args, "--db", db_url])


def stored(db_url):
    with databases.connect(db_url) as db:
        return sorted(db.query("SELECT b.LocalJobId, b.EndTime, t.TagKey, t.TagValue FROM JobTags t "
                               "JOIN BatchRecords b ON b.id = t.BatchRecordId"))


def test_tags_by_job_id_on_every_run_of_the_job_and_a_new_value_replaces(site):
    assert tag(site, "--job", "4242.torque.example.org", "--add", "campaign=mc23", "--add", "step=reco").exit_code == 0
    assert stored(site) == [("4242.torque.example.org", 1713179800, "campaign", "mc23"),
                            ("4242.torque.example.org", 1713179800, "step", "reco"),
                            ("4242.torque.example.org", 1713179900, "campaign", "mc23"),
                            ("4242.torque.example.org", 1713179900, "step", "reco")]
    assert tag(site, "--job", "4242.torque.example.org", "--add", "step=x", "--add", "step=merge",
               "--remove", "campaign").exit_code == 0
    assert stored(site) == [("4242.torque.example.org", 1713179800, "step", "merge"),
                            ("4242.torque.example.org", 1713179900, "step", "merge")]
    assert tag(site, "--job", "4242.torque.example.org", "--remove", "step=reco").exit_code == 0  # not that value
    assert len(stored(site)) == 2


def test_tags_by_filters_then_as_filter_and_group_in_apel_query(site):
    assert tag(site, "--state", "cancelled,failed", "--add", "check=yes").exit_code == 0
    assert tag(site, "--local-user", "cms002", "--add", "owner=cms").exit_code == 0
    assert [(job, key) for job, _, key, _ in stored(site)] == [
        ("4243.torque.example.org", "check"), ("4244.torque.example.org", "check"),
        ("4244.torque.example.org", "owner")]
    result = CliRunner().invoke(apel_query, ["states", "--db", site, "--format", "csv", "--group-by", "tag:check"])
    rows = {row["tag:check"]: row for row in csv.DictReader(io.StringIO(result.output))}
    assert (rows[""]["Jobs"], rows["yes"]["Jobs"], rows["yes"]["Cancelled"], rows["yes"]["Failed"]) == (
        "2", "2", "1", "1")
    filtered = CliRunner().invoke(apel_query, ["states", "--db", site, "--format", "csv", "--tag", "check=yes",
                                               "--tag", "owner=cms"])
    assert next(csv.DictReader(io.StringIO(filtered.output)))["Jobs"] == "1"


def test_list(site):
    tag(site, "--job", "4244.torque.example.org", "--add", "campaign=mc23")
    listed = CliRunner().invoke(apel_tag, ["--list", "--db", site, "--format", "csv"])
    assert listed.exit_code == 0
    assert listed.output.splitlines() == ["JobId,BatchSystem,EndTime,Key,Value",
                                          "4244.torque.example.org,PBS,1713179800,campaign,mc23"]
    one = CliRunner().invoke(apel_tag, ["--list", "--db", site, "--format", "csv", "--job", "4242.torque.example.org"])
    assert one.output.splitlines() == ["JobId,BatchSystem,EndTime,Key,Value"]


@pytest.mark.parametrize("args, code, message", [
    (["--job", "4242.torque.example.org", "--job", "9999", "--add", "a=b"], 1,
     "unknown job '9999': nothing was tagged"),
    (["--job", "4242.torque.example.org", "--add", "a=b", "--add", "bad key=x"], 2, "malformed tag 'bad key=x'"),
    (["--job", "4242.torque.example.org", "--add", "novalue"], 2, "expected key=value"),
    (["--job", "4242.torque.example.org", "--add", "a="], 2, "1 to 255 printable characters"),
    (["--add", "a=b"], 2, "choose jobs with --job or with filters"),
    (["--job", "4242.torque.example.org"], 2, "give --add, --remove or --list"),
    (["--state", "failed", "--tag", "broken", "--add", "a=b"], 2, "malformed tag 'broken'"),
])
def test_bad_input_is_a_clear_error_and_nothing_is_half_applied(site, args, code, message):
    result = tag(site, *args)
    assert result.exit_code == code and message in result.output, result.output
    assert stored(site) == []


def test_a_failure_while_writing_leaves_no_tag(site, monkeypatch):
    def fail_after_the_removals(db, ids, pairs):
        raise tags.TagError("disk full")

    assert tag(site, "--job", "4242.torque.example.org", "--add", "keep=me").exit_code == 0
    with monkeypatch.context() as patched:
        patched.setattr(tags.sql, "set_tags", fail_after_the_removals)
        result = tag(site, "--job", "4242.torque.example.org", "--remove", "keep", "--add", "c=d")
    assert result.exit_code == 1 and "disk full" in result.output
    assert [key for _, _, key, _ in stored(site)] == ["keep", "keep"]  # the removal was rolled back


def test_tag_parsing():
    assert tags.parse_tag("run:id=2026-03/a b") == ("run:id", "2026-03/a b")
    assert tags.parse_removal("campaign") == ("campaign", None)
    for text in ("=x", "1key=x", "k" * 65 + "=x", "key=" + "v" * 256, "key=line\nbreak"):
        with pytest.raises(tags.TagError):
            tags.parse_tag(text)


def test_many_jobs_tagged_and_retagged_by_filter(db_url, tmp_path):
    log = tmp_path / "20240415"
    log.write_text("".join(PBS_CLASSIC.replace("4242.torque", f"{n}.torque") + "\n" for n in range(1200)))
    parse_into(db_url, "pbs", log)
    for value in ("one", "two"):
        assert tag(db_url, "--queue", "long", "--add", f"batch={value}").exit_code == 0
    assert {(key, value) for _, _, key, value in stored(db_url)} == {("batch", "two")}
    assert len(stored(db_url)) == 1200
    assert tag(db_url, "--tag", "batch=two", "--remove", "batch=two").exit_code == 0
    assert stored(db_url) == []
