"""The existing site configuration files, accepted as they are: parser.cfg drives apel-parse,
client.cfg drives apel-join and apel-publish; and the samples in etc/ are valid."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from apeltools.demo import sample_logs
from apeltools.cli.config import main as apeltools_config
from apeltools.cli.join import main as apel_join
from apeltools.cli.parse import main as apel_parse
from apeltools.cli.publish import main as apel_publish
from apeltools.cli.summarise import main as apel_summarise
from apeltools.config import Config
from apeltools.messaging import queues
from apeltools.parsers import sources
from tests.conftest import invoke, queue_elements

ROOT = Path(__file__).resolve().parent.parent
YEAR, MONTH = 2026, 3


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return sample_logs.generate(str(tmp_path_factory.mktemp("logs")), YEAR, MONTH, jobs_per_day=6)


def parser_cfg(tmp_path, logs, db_url, batch="slurm", reparse="false", extra="", parallel="parallel = true"):
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
{parallel}
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
        from apeltools.ce_benchmarks import from_config

        assert from_config(config)


# -- apel-send and apel-receive: one file for both, and their existing files as they are ----------


def elements(path, schema=None):
    """Every element of a directory queue (none when there is none): bodies of a QueueSimple,
    or dicts with ``schema``."""
    from dirq.queue import Queue
    from dirq.QueueSimple import QueueSimple

    if not os.path.isdir(path):
        return []
    return queue_elements(Queue(str(path), schema=schema) if schema else QueueSimple(str(path)))


def receiving_setup(tmp_path, pki):
    """The site's certificate and key files, with the site's DN in the DN list ``tmp_path/dns``."""
    from apeltools.messaging import crypto

    (tmp_path / "dns").write_text(crypto.signer_dn(pki.site.cert) + "\n")
    return pki.files(pki.site)


def test_one_configuration_serves_apel_send_and_apel_receive(tmp_path, pki):
    """Each program's queues have keys of their own, so nothing lands in the other's queue."""
    from apeltools.cli.receive import main as apel_receive
    from apeltools.cli.send import main as apel_send
    from apeltools.messaging.local import wire_queue

    cert, key = receiving_setup(tmp_path, pki)
    config = tmp_path / "apeltools.cfg"
    config.write_text(f"""[certificates]
certificate = {cert}
key = {key}
capath = {pki.capath}
[messaging]
transport = local
wire_path = {tmp_path}/wire
outgoing_path = {tmp_path}/outgoing
dead_letter_path = {tmp_path}/dead
incoming_path = {tmp_path}/incoming
reject_path = {tmp_path}/reject
dn_file = {tmp_path}/dns
max_message_size = 4000
""")
    outgoing = queues.outgoing_queue(tmp_path / "outgoing")
    for body in ("APEL-sync-message: v0.1\n%%\n", "APEL-sync-message: v0.1\n%%\n", "x" * 5000):
        queues.add(outgoing, body.encode())

    sent = CliRunner().invoke(apel_send, ["--config", str(config)])
    assert sent.exit_code == 1 and f"dead-letter queue {tmp_path}/dead" in sent.output  # the big one
    wire_queue(tmp_path / "wire").add({"message": b"not signed", "empaid": "forged"})
    received = CliRunner().invoke(apel_receive, ["--config", str(config), "--once", "-v"])
    assert received.exit_code == 0, received.output

    assert [len(e["body"]) for e in elements(tmp_path / "dead", queues.REJECT_SCHEMA)] == [5000]
    assert len(elements(tmp_path / "incoming", queues.INCOMING_SCHEMA)) == 2
    assert [e["empaid"] for e in elements(tmp_path / "reject", queues.REJECT_SCHEMA)] == ["forged"]
    assert elements(tmp_path / "outgoing") == []
    assert sorted(os.listdir(tmp_path)) == ["apeltools.cfg", "dead", "dns", "incoming", "outgoing", "reject",
                                            "wire"]


def test_the_existing_receiver_cfg_means_the_spool_directory_by_path(tmp_path, pki):
    """receiver.cfg: accepted messages in <path>/incoming, rejected ones in <path>/reject."""
    from apeltools.cli.receive import main as apel_receive
    from apeltools.messaging import crypto
    from apeltools.messaging.local import wire_queue

    cert, key = receiving_setup(tmp_path, pki)
    config = tmp_path / "receiver.cfg"
    config.write_text(f"""[receiver]
protocol: STOMP
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
check_crls: false
[messaging]
transport: local
path: {tmp_path}/spool
dn_file: {tmp_path}/dns
[daemon]
pidfile: {tmp_path}/receiver.pid
""")
    wire = wire_queue(tmp_path / "spool" / "wire")  # next to the queues, where apel-send's default puts it
    wire.add({"message": crypto.sign(b"APEL-sync-message: v0.1\n%%\n", pki.site.cert_pem, pki.site.key_pem),
              "empaid": "good"})
    wire.add({"message": b"not signed", "empaid": "bad"})
    received = CliRunner().invoke(apel_receive, ["--config", str(config), "--once"])
    assert received.exit_code == 0, received.output
    assert [e["empaid"] for e in elements(tmp_path / "spool" / "incoming", queues.INCOMING_SCHEMA)] == ["good"]
    assert [e["empaid"] for e in elements(tmp_path / "spool" / "reject", queues.REJECT_SCHEMA)] == ["bad"]

    # A path that is itself a queue (apeltools' receiver.cfg had it so) is refused, not filed below.
    config.write_text(config.read_text().replace(f"path: {tmp_path}/spool", f"path: {tmp_path}/spool/incoming"))
    refused = CliRunner().invoke(apel_receive, ["--config", str(config), "--once"])
    assert refused.exit_code == 1 and "name the incoming queue with incoming_path" in refused.output


@pytest.mark.parametrize("how", ["flag", "key", "environment", "default"])
def test_apel_send_dead_letters_go_where_flag_environment_key_or_default_say(tmp_path, pki, monkeypatch, how):
    """The sender.cfg layout (path = the outgoing queue) with apel-send's dead-letter path."""
    from apeltools.cli.send import main as apel_send

    cert, key = pki.files(pki.site)
    config = tmp_path / "sender.cfg"
    config.write_text(f"""[sender]
protocol: STOMP
[certificates]
certificate: {cert}
key: {key}
capath: {pki.capath}
[messaging]
transport: local
path: {tmp_path}/outgoing
max_message_size: 100
reject_path: {tmp_path}/receiver-reject
{"dead_letter_path: " + str(tmp_path / "by-key") if how != "default" else ""}
""")
    queues.add(queues.outgoing_queue(tmp_path / "outgoing"), b"x" * 200)
    if how == "environment":
        monkeypatch.setenv("APELTOOLS_MESSAGING_DEAD_LETTER_PATH", str(tmp_path / "by-environment"))
    flag = ["--dead-letters", str(tmp_path / "by-flag")] if how == "flag" else []

    result = CliRunner().invoke(apel_send, ["--config", str(config), *flag])

    expected = {"flag": "by-flag", "key": "by-key", "environment": "by-environment", "default": "outgoing-reject"}
    assert result.exit_code == 1 and f"dead-letter queue {tmp_path / expected[how]}" in result.output
    assert len(elements(tmp_path / expected[how], queues.REJECT_SCHEMA)) == 1
    assert not (tmp_path / "receiver-reject").exists()  # apel-receive's key, not apel-send's


def test_the_sample_apeltools_cfg_gives_each_program_its_own_queues():
    from apeltools.messaging.settings import MessagingSettings

    config = Config.load(str(ROOT / "etc" / "apeltools.cfg"), environ={})
    sender, receiver = (MessagingSettings.from_config(config, role) for role in ("sender", "receiver"))
    queues_of = {(s.path, s.reject_path) for s in (sender, receiver)}
    assert queues_of == {("/var/spool/apel/outgoing", "/var/spool/apel/outgoing-reject"),
                         ("/var/spool/apel/incoming", "/var/spool/apel/reject")}
    assert receiver.path == config.get("loader", "msg_dir")  # what apel-load reads
    assert sender.wire_path == receiver.wire_path


@pytest.mark.parametrize("layout", ["receiver.cfg", "apeltools.cfg"])
def test_apel_load_reads_the_queue_apel_receive_fills_from_the_same_file(db, db_url, tmp_path, layout):
    from apeltools.cli.load import main as apel_load

    key = {"receiver.cfg": f"path = {tmp_path}/spool", "apeltools.cfg": f"incoming_path = {tmp_path}/spool/incoming"}
    config = tmp_path / layout
    config.write_text(f"[messaging]\n{key[layout]}\n")
    incoming = queues.incoming_queue(tmp_path / "spool" / "incoming")
    queues.add(incoming, {"body": "APEL-sync-message: v0.1\nSite: A\nSubmitHost: ce\nNumberOfJobs: 3\nMonth: 3\n"
                                  "Year: 2026\n%%\n", "signer": "/CN=site", "empaid": "e1"})

    invoke(apel_load, ["--config", config, "--db", db_url, "--reject", tmp_path / "load-reject"])

    assert db.query("SELECT COUNT(*) FROM SyncRecords")[0][0] == 1


def db_cfg(path, db_url, monkeypatch):
    """The deployed db.cfg for ``db_url``, its password in the file (not the environment)."""
    from urllib.parse import urlsplit

    parts = urlsplit(db_url)
    if parts.scheme == "sqlite":
        keys = f"backend = sqlite\nname = {parts.path}\n"
    else:
        keys = (f"backend = mysql\nhostname = {parts.hostname}\nport = {parts.port}\nname = {parts.path[1:]}\n"
                f"username = {parts.username}\npassword = {os.environ.get('APELTOOLS_DB_PASSWORD', '')}\n")
        monkeypatch.delenv("APELTOOLS_DB_PASSWORD", raising=False)
    path.write_text(f"[db]\n{keys}")
    return path


def test_apel_load_takes_the_deployed_loader_cfg_and_db_cfg_as_they_are(db, db_url, tmp_path, monkeypatch):
    """apeldbloader -d db.cfg -c loader.cfg: <msgpath>/incoming is loaded, bad messages go to
    <msgpath>/reject, loaded ones with save_messages to <msgpath>/accept; a pidfile left behind
    blocks nothing."""
    from apeltools.cli.load import main as apel_load

    spool = tmp_path / "spool"
    pidfile = tmp_path / "loader.pid"
    pidfile.write_text("12345\n")
    loader_cfg = tmp_path / "loader.cfg"
    loader_cfg.write_text((ROOT / "etc" / "loader.cfg").read_text()
                          .replace("/var/spool/apel", str(spool)).replace("/var/run/apel/loader.pid", str(pidfile))
                          .replace("save_messages = false", "save_messages = true")
                          .replace("/var/log/apel/loader.log", str(tmp_path / "loader.log")))
    incoming = queues.incoming_queue(spool / "incoming")
    queues.add(incoming, {"body": "APEL-sync-message: v0.1\nSite: A\nSubmitHost: ce\nNumberOfJobs: 3\nMonth: 3\n"
                                  "Year: 2026\n%%\n", "signer": "/CN=site", "empaid": "good"})
    queues.add(incoming, {"body": "not a message", "signer": "/CN=site", "empaid": "bad"})

    invoke(apel_load, ["--config", loader_cfg, "--db-config", db_cfg(tmp_path / "db.cfg", db_url, monkeypatch)])

    assert db.query("SELECT COUNT(*) FROM SyncRecords")[0][0] == 1
    assert queue_elements(incoming) == []
    assert [e["empaid"] for e in queue_elements(queues.reject_queue(spool / "reject"))] == ["bad"]
    assert [e["empaid"] for e in queue_elements(queues.incoming_queue(spool / "accept"))] == ["good"]


def test_apel_load_help_says_where_the_queue_comes_from():
    from apeltools.cli.load import main as apel_load

    text = " ".join(CliRunner().invoke(apel_load, ["--help"]).output.split())
    for source in ("[loader] msg_dir", "<[loader] msgpath>/incoming", "[messaging] incoming_path",
                   "<[messaging] path>/incoming", "/var/spool/apel/incoming", "--db-config"):
        assert source in text


@pytest.mark.parametrize("batch", ["pbs", "slurm"])
@pytest.mark.parametrize("parallel", ["parallel = true", "parallel = false", ""])
def test_batch_parallel_false_stores_no_cores_or_nodes_as_the_deployed_pbs_sge_lsf_parsers(
        db, db_url, tmp_path, logs, batch, parallel):
    """Processors and NodeCount are summary keys: a site switching from the deployed parser with
    parallel = false (or no parallel key, which means false there) keeps its summary groups. The
    deployed SLURM (and HTCondor) parsers record them whatever the key says."""
    invoke(apel_parse, ["--config", parser_cfg(tmp_path, logs, db_url, batch=batch, parallel=parallel)])

    rows = db.query("SELECT Processors, NodeCount FROM BatchRecords")
    assert rows
    zeroed = batch == "pbs" and parallel != "parallel = true"
    assert all(row == (0, 0) for row in rows) == zeroed
    assert any(processors > 1 for processors, _ in rows) == (not zeroed)


def test_the_parsers_that_honour_parallel_are_the_deployed_ones():
    from apeltools.parsers import registry

    assert {name for name in ("slurm", "pbs", "sge", "lsf", "htcondor", "blah")
            if registry.get(name).honours_parallel} == {"pbs", "sge", "lsf"}
