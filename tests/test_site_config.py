"""The existing site configuration files, accepted as they are: parser.cfg drives apel-parse,
client.cfg drives apel-join and apel-publish; and the samples in etc/ are valid."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from apeltools import sample_logs
from apeltools.cli.config import main as apeltools_config
from apeltools.cli.join import main as apel_join
from apeltools.cli.parse import main as apel_parse
from apeltools.cli.publish import main as apel_publish
from apeltools.cli.summarise import main as apel_summarise
from apeltools.config import Config
from apeltools.messaging import queues
from apeltools.parsers import sources

ROOT = Path(__file__).resolve().parent.parent
YEAR, MONTH = 2026, 3


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return sample_logs.generate(str(tmp_path_factory.mktemp("logs")), YEAR, MONTH, jobs_per_day=6)


def parser_cfg(tmp_path, logs, db_url, batch="slurm", reparse="false", extra=""):
    """A parser.cfg as sites have it (keys of the existing file, nothing of ours but the db url)."""
    directory = {"slurm": "slurm", "pbs": "pbs"}[batch]
    prefix = {"slurm": "sacct-", "pbs": "20"}[batch]
    path = tmp_path / "parser.cfg"
    path.write_text(f"""[db]
url = {db_url}

[site_info]
site_name = {logs.site}
lrms_server = slurm.demo.example.org

[blah]
enabled = true
dir = {logs.directory}/blah
filename_prefix = blahp.log
subdirs = false

[batch]
enabled = true
reparse = {reparse}
type = {batch.upper()}
parallel = true
dir = {logs.directory}/{directory}
filename_prefix = {prefix}
subdirs = false

[parser]
timezone = UTC
{extra}
[logging]
level = INFO
console = true
""")
    return str(path)


def client_cfg(tmp_path, logs, db_url, send_summaries="false", interval="latest", unloader=""):
    """A client.cfg as sites have it."""
    path = tmp_path / "client.cfg"
    specs = "\n".join(line for line in logs.config_text().splitlines()
                      if line.startswith("manual_spec") and sample_logs.LOCAL_SUBMIT_HOST not in line)
    path.write_text(f"""[db]
url = {db_url}

[spec_updater]
enabled = false
site_name = {logs.site}
ldap_host = bdii.invalid
ldap_port = 2170
{specs}
lrms_server = {sample_logs.LOCAL_SUBMIT_HOST}
spec_type = HEPSPEC
spec_value = 11.0

[joiner]
enabled = true
local_jobs = true

[unloader]
enabled = true
dir_location = {tmp_path}/spool/
send_summaries = {send_summaries}
withhold_dns = false
interval = {interval}
send_ur = false
{unloader}
[ssm]
enabled = false

[logging]
level = INFO
console = true
""")
    return str(path)


def invoke(command, args):
    result = CliRunner().invoke(command, [str(a) for a in args])
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result


def counts(db):
    return {table: db.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table in ("BatchRecords", "BlahRecords")}


def expected_counts(logs, systems=("SLURM",)):
    return {"BatchRecords": sum(1 for j in logs.jobs if j.system in systems),
            "BlahRecords": sum(1 for j in logs.jobs if j.grid)}


def test_apel_parse_without_arguments_parses_what_parser_cfg_describes(db, db_url, tmp_path, logs):
    config = parser_cfg(tmp_path, logs, db_url)
    invoke(apel_parse, ["--config", config])
    assert counts(db) == expected_counts(logs)
    # lrms_server names the batch server where sacct does not.
    assert db.query("SELECT DISTINCT MachineName FROM BatchRecords") == [("slurm.demo.example.org",)]
    # Nothing is read twice ...
    again = CliRunner().invoke(apel_parse, ["--config", config, "-v"])
    assert again.exit_code == 0 and " 0 records in " in again.stderr
    # ... unless [batch] reparse = true, which reads every file again (records replace themselves).
    config = parser_cfg(tmp_path, logs, db_url, reparse="true")
    reparsed = invoke(apel_parse, ["--config", config, "-v"])
    assert f" {expected_counts(logs)['BatchRecords'] * 3} lines parsed" in reparsed.stderr  # job, batch, extern
    assert counts(db) == expected_counts(logs)


def test_more_batch_systems_in_parser_sections_and_only_matching_files(db, db_url, tmp_path, logs):
    (Path(logs.directory) / "pbs" / "README").write_text("not a log\n")
    extra = f"[parser:torque]\ntype = pbs\ndir = {logs.directory}\nglob = 2*\nsubdirs = true\n"
    config = parser_cfg(tmp_path, logs, db_url, extra=extra)
    assert [(s.section, s.type) for s in sources.configured(Config.load(config))] == [
        ("blah", "blah"), ("batch", "slurm"), ("parser:torque", "pbs")]
    invoke(apel_parse, ["--config", config])
    assert counts(db) == expected_counts(logs, ("SLURM", "PBS"))


def test_disabled_sections_are_skipped_and_nothing_configured_is_a_usage_error(db_url, tmp_path, logs):
    config = parser_cfg(tmp_path, logs, db_url)
    text = Path(config).read_text().replace("enabled = true", "enabled = false")
    Path(config).write_text(text)
    result = CliRunner().invoke(apel_parse, ["--config", config])
    assert result.exit_code == 2 and "configure [blah], [batch]" in result.stderr
    result = CliRunner().invoke(apel_parse, ["--db", db_url, "slurm"])
    assert result.exit_code == 2 and "give the FILEs of TYPE" in result.stderr
    Path(config).write_text(text.replace("[batch]\nenabled = false", "[batch]\nenabled = true")
                            .replace("type = SLURM", "type = "))
    result = CliRunner().invoke(apel_parse, ["--config", config])
    assert result.exit_code == 1 and "[batch] needs type" in result.stderr


def test_client_cfg_drives_join_and_publish(db, db_url, tmp_path, logs):
    invoke(apel_parse, ["--config", parser_cfg(tmp_path, logs, db_url, extra=(
        f"[parser:torque]\ntype = pbs\ndir = {logs.directory}/pbs\nfilename_prefix = 20\n"))])
    config = client_cfg(tmp_path, logs, db_url)
    joined = invoke(apel_join, ["--config", config, "-v"])
    assert "bdii.invalid" not in joined.stderr  # [spec_updater] enabled = false: no BDII asked
    local = db.query("SELECT SubmitHost, ServiceLevelType, ServiceLevel, COUNT(*) FROM VJobRecords "
                     "WHERE InfrastructureType = 'local' GROUP BY SubmitHost, ServiceLevelType, ServiceLevel")
    # Local jobs: lrms_server is their SubmitHost, spec_type/spec_value their benchmark.
    assert [(h, t, float(v), n) for h, t, v, n in local] == [
        (sample_logs.LOCAL_SUBMIT_HOST, "HEPSPEC", 11.0, sum(1 for j in logs.jobs if j.grid is None))]
    assert db.query("SELECT DISTINCT Site FROM VJobRecords") == [(logs.site,)]
    invoke(apel_summarise, ["--config", config])

    # send_summaries = false: jobs, into <dir_location>/outgoing, with sync records.
    invoke(apel_publish, ["--config", config])
    bodies = message_bodies(tmp_path / "spool" / "outgoing")
    grid = sum(1 for j in logs.jobs if j.grid)
    assert sum(b.count("LocalJobId:") for b in bodies) == grid
    assert any(b.startswith("APEL-sync-message") for b in bodies)

    # send_summaries = true, interval = gap with gap_start/gap_end, include_vos.
    config = client_cfg(tmp_path, logs, db_url, send_summaries="true", interval="gap", unloader=(
        f"include_vos = atlas\nexclude_vos = atlas\ngap_start = {YEAR}-{MONTH:02d}-01\n"
        f"gap_end = {YEAR}-{MONTH:02d}-31\n"))
    invoke(apel_publish, ["--config", config, "--queue", tmp_path / "gap"])
    bodies = message_bodies(tmp_path / "gap")
    summaries = [b for b in bodies if b.startswith("APEL-summary-job-message")]
    assert summaries and all("VO: atlas" in b and "VO: cms" not in b for b in summaries)
    atlas = sum(1 for j in logs.jobs if j.grid and j.grid[1].startswith("/atlas"))
    assert sum(int(line.split(":")[1]) for b in summaries for line in b.splitlines()
               if line.startswith("NumberOfJobs:")) == atlas


def message_bodies(path):
    queue = queues.outgoing_queue(path)
    found = []
    for name in queue:
        if queue.lock(name):
            found.append(queue.get(name).decode())
            queue.unlock(name)
    return found


def test_apeltools_config_prints_what_the_programs_see(tmp_path, monkeypatch):
    config = tmp_path / "client.cfg"
    config.write_text("[ssm]\nenabled = no\n[unloader]\ndir_location = /var/spool/apel/\n")
    assert invoke(apeltools_config, ["--config", config, "--bool", "ssm", "enabled"]).stdout == "false\n"
    assert invoke(apeltools_config, ["--config", config, "--bool", "--default", "yes", "joiner",
                                     "enabled"]).stdout == "true\n"
    assert invoke(apeltools_config, ["--config", config, "unloader", "dir_location"]).stdout == "/var/spool/apel/\n"
    monkeypatch.setenv("APELTOOLS_SSM_ENABLED", "true")
    assert invoke(apeltools_config, ["--config", config, "--bool", "ssm", "enabled"]).stdout == "true\n"
    missing = CliRunner().invoke(apeltools_config, ["--config", config, "joiner", "enabled"])
    assert missing.exit_code == 1 and "[joiner] enabled is not set" in missing.stderr


@pytest.mark.parametrize("name", ["site.cfg", "parser.cfg", "client.cfg"])
def test_the_sample_configurations_are_valid(name):
    config = Config.load(str(ROOT / "etc" / name))
    found = [(s.section, s.type) for s in sources.configured(config)]
    assert found == {"site.cfg": [("blah", "blah"), ("parser:slurm", "slurm"), ("parser:torque", "pbs")],
                     "parser.cfg": [("blah", "blah"), ("batch", "pbs")],
                     "client.cfg": []}[name]
    if name != "parser.cfg":
        assert config.get("unloader", "dir_location") == "/var/spool/apel/"
        assert config.db_url()
        from apeltools.spec import from_config

        assert from_config(config)
