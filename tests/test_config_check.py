"""Configuration keys no program reads: a warning from every program, and ``apeltools config check``."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from apeltools import config_keys

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "etc").glob("*.cfg"))

# The sections and keys of the deployed programs' files (conf/ of the APEL client/server and of
# SSM), commented-out ones included: accepted as they are, so none of them may be warned about.
DEPLOYED = {
    "auth": "gocdb_url extra-dns banned-dns allowed-dns proxy expire_hours",
    "logging": "logfile level console",
    "db": "backend hostname port name username password type",
    "spec_updater": "enabled site_name ldap_host ldap_port lrms_server spec_type spec_value manual_spec1",
    "joiner": "enabled local_jobs",
    "unloader": "enabled dir_location send_summaries dict_benchmark_type withhold_dns include_vos exclude_vos "
                "interval gap_start gap_end send_ur table_name include_infrastructure_description local_jobs "
                "decimal_cpu_count records_per_message",
    "ssm": "enabled",
    "loader": "msgpath pidfile interval save_messages",
    "site_info": "site_name lrms_server",
    "blah": "enabled dir filename_prefix subdirs",
    "batch": "enabled reparse type parallel dir filename_prefix subdirs scale_host_factor ge_ms_timestamps",
    "summariser": "pidfile delete_stale_summaries stale_summary_window_days",
    "receiver": "protocol",
    "sender": "protocol",
    "broker": "host port use_ssl",
    "certificates": "certificate key capath check_crls server_cert",
    "messaging": "ams_project destination token path path_type",
    "daemon": "pidfile",
}

TYPO = """[db]
url = {url}

[laoder]
msg_dri = /var/spool/apel/incoming
"""


def run(*args, **kwargs):
    """A program as a real process, without the developer's or the system's configuration file."""
    return subprocess.run(args, env=dict(os.environ, APELTOOLS_CONFIG=os.devnull), capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_a_program_warns_once_about_a_mistyped_section_naming_the_key_it_meant(tmp_path):
    config = tmp_path / "apeltools.cfg"
    config.write_text(TYPO.format(url=f"sqlite:///{tmp_path}/apel.db"))
    result = run("apeltools", "db", "init", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"init: {config}: [laoder] msg_dri: unknown section [laoder] (did you mean [loader] msg_dir?)"]


def test_a_mistyped_key_of_the_db_file_is_warned_about_too(tmp_path):
    """apel-load --db-config reads a second file: its keys are checked as the main file's."""
    db_config = tmp_path / "db.cfg"
    db_config.write_text(f"[db]\nurl = sqlite:///{tmp_path}/apel.db\nhostnme = db.example.org\n")
    run("apeltools", "db", "init", "--db", f"sqlite:///{tmp_path}/apel.db")
    result = run("apel-load", "--config", os.devnull, "--db-config", str(db_config), "--queue", str(tmp_path / "in"))
    assert result.returncode == 0, result.stderr
    assert f"{db_config}: [db] hostnme: unknown key (did you mean [db] hostname?)" in result.stderr
    assert result.stderr.count("hostnme") == 1


def test_a_clean_configuration_gives_no_warning(tmp_path):
    config = tmp_path / "apeltools.cfg"
    config.write_text(f"[db]\nurl = sqlite:///{tmp_path}/apel.db\n[loader]\nmsg_dir = {tmp_path}/in\n")
    result = run("apeltools", "db", "init", "--config", str(config))
    assert result.returncode == 0 and result.stderr == ""


def test_config_check_lists_unknown_keys_and_refused_values_and_exits_1(tmp_path):
    config = tmp_path / "loader.cfg"
    config.write_text("""[laoder]
msg_dri = /var/spool/apel/incoming

[loader]
intervl = 5
workers = two
save_messages = maybe
reject_dir = spool/reject
check_site = strict

[logging]
level = LOUD

[parser:slurm]
dir = /var/log/slurm
subdirs = yes

[spec_updater]
manual_spec1 = ce.example.org,HEPSPEC,10
""")
    result = run("apeltools", "config", "check", str(config))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{config}: [laoder] msg_dri: unknown section [laoder] (did you mean [loader] msg_dir?)",
        f"{config}: [loader] intervl: unknown key (did you mean [loader] interval?)",
        f"{config}: [loader] workers: must be a whole number, not 'two'",
        f"{config}: [loader] save_messages: must be true or false (yes/no, on/off, 1/0), not 'maybe'",
        f"{config}: [loader] reject_dir: must be an absolute path, not 'spool/reject'",
        f"{config}: [loader] check_site: must be one of off, warn, enforce, not 'strict'",
        f"{config}: [logging] level: must be one of debug, info, warning, error, critical, not 'LOUD'",
    ]


def test_config_check_of_clean_files_exits_0(tmp_path):
    config = tmp_path / "client.cfg"
    config.write_text("[joiner]\nenabled = true\n[unloader]\ngap_start = 2026-01-01\ninterval = gap\n")
    result = run("apeltools", "config", "check", str(config))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_config_check_of_a_missing_file_is_an_error(tmp_path):
    result = run("apeltools", "config", "check", str(tmp_path / "nothere.cfg"))
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot read configuration {tmp_path}/nothere.cfg: No such file or directory\n"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_every_sample_passes_config_check_with_its_commented_keys_too(tmp_path, sample):
    """The samples' commented-out sections and keys are documentation: uncommented, they are known too."""
    uncommented = tmp_path / sample.name
    uncommented.write_text(re.sub(r"(?m)^#(\[[a-z_:]+\]|[a-z_:-]+\s*[:=])", r"\1", sample.read_text()))
    for path in (sample, uncommented):
        result = run("apeltools", "config", "check", str(path))
        assert (result.returncode, result.stdout) == (0, ""), result.stdout


def test_the_deployed_files_keys_are_known():
    unknown = [(section, key) for section, keys in DEPLOYED.items() for key in keys.split()
               if config_keys.kind_of(section, key) is None]
    assert unknown == []


def test_every_key_the_code_reads_by_name_is_in_the_registry():
    """A program that reads a new key adds it to apeltools/config_keys.py, or it would be warned about."""
    read = re.compile(r"""\bget(?:_bool|_float)?\(\s*["']([a-z_:]+)["'],\s*["']([a-z_-]+)["']""")
    missing = [(str(path.relative_to(ROOT)), section, key)
               for path in (ROOT / "apeltools").rglob("*.py")
               for section, key in read.findall(path.read_text())
               if config_keys.kind_of(section, key) is None]
    assert missing == []


def test_apeltools_config_section_key_still_prints_a_value(tmp_path):
    """apel-site-run calls `apeltools config --config FILE SECTION KEY`: short for `config get`."""
    config = tmp_path / "client.cfg"
    config.write_text("[unloader]\ndir_location = /var/spool/apel/\n")
    result = run("apeltools", "config", "--config", str(config), "--default", "x", "unloader", "dir_location")
    assert (result.returncode, result.stdout) == (0, "/var/spool/apel/\n"), result.stderr
    result = run("apeltools", "config", "get", "--config", str(config),
                 "--bool", "--default", "true", "joiner", "enabled")
    assert (result.returncode, result.stdout) == (0, "true\n"), result.stderr


def test_apel_site_run_reads_its_settings_without_warning_its_programs_warn(tmp_path):
    """It reads seven settings through `apeltools config` before the steps: those reads stay quiet
    (seven copies of the warning before), each program it runs warns once."""
    config = tmp_path / "site.cfg"
    config.write_text(f"[db]\nurl = sqlite:///{tmp_path}/site.db\n[joiner]\nenabeld = false\n")
    result = run(str(ROOT / "bin" / "apel-site-run"), "--config", str(config), "--lock", str(tmp_path / "lock"))
    assert result.returncode == 2  # the parse step: the file describes no logs
    warning = f"{config}: [joiner] enabeld: unknown key (did you mean [joiner] enabled?)"
    assert [line for line in result.stderr.splitlines() if warning in line] == [
        f"init: {warning}", f"apel-parse: {warning}"], result.stderr


def test_a_default_section_key_is_known_when_some_section_has_it(tmp_path):
    config = tmp_path / "apeltools.cfg"
    config.write_text("[DEFAULT]\nlogfle = /var/log/apel.log\nlevel = INFO\n\n[loader]\ninterval = 5\n")
    result = run("apeltools", "config", "check", str(config))
    assert (result.returncode, result.stdout) == (
        1, f"{config}: [DEFAULT] logfle: unknown key (did you mean [logging] logfile?)\n")
