"""apel-auth: GOCDB paging and errors, timeouts, extra and banned DNs, the shrink guard, atomic
replacement, the site map with apel-load --check-site, and GOCDB → apel-auth → apel-receive."""

import json
import os
import shutil
import ssl
import subprocess
import threading
import time

import pytest
from click.testing import CliRunner

from apeltools.authz.dnlist import normalise_dn
from apeltools.cli.auth import main as auth_main
from apeltools.cli.load import main as load_main
from apeltools.cli.receive import main as receive_main
from apeltools.messaging import crypto, queues
from apeltools.messaging.local import wire_queue
from tests import pki as testpki
from tests.conftest import queue_elements
from tests.services.gocdb import DEFAULT_FIXTURES, GocdbServer

GOCDB_DNS = [
    "/C=FR/O=CNRS/OU=R&D/CN=apel.site-c.example.org",
    "/C=IT/O=INFN/OU=Host/L=Bologna/CN=apel.site-d.example.org",
    "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=apel.site-a.example.org",
    "/DC=org/DC=example/OU=Hosts/CN=apel-old.site-b.example.org",
    "/DC=org/DC=example/OU=Hosts/CN=apel.site-b.example.org",
]


def auth(*args):
    return CliRunner().invoke(auth_main, list(args))


def dns_in(path):
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_all_pages_are_read_and_the_list_is_sorted(gocdb, tmp_path):
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns"))
    assert result.exit_code == 0, result.output
    assert result.output == ""  # quiet on success (cron)
    assert dns_in(tmp_path / "dns") == GOCDB_DNS
    assert [r for r in gocdb.requests if "page=2" in r], "the second page was not fetched"
    site_map = json.loads((tmp_path / "dns.sites.json").read_text())
    assert site_map["sites"]["/C=UK/O=eScience/OU=CLRC/L=RAL/CN=apel.site-a.example.org"] == ["SITE-A"]
    assert site_map["any_site"] == []


def test_full_query_url_of_the_existing_auth_cfg(gocdb, tmp_path):
    config = tmp_path / "auth.cfg"
    (tmp_path / "extra").write_text("# regional server\nCN=regional.example.org, O=Example, C=DE\n")
    (tmp_path / "banned").write_text("/C=IT/O=INFN/OU=Host/L=Bologna/CN=apel.site-d.example.org\n")
    config.write_text(f"""[auth]
gocdb_url = {gocdb.endpoint_url('gLite-APEL')}
extra-dns = {tmp_path}/extra
banned-dns = {tmp_path}/banned
dn-file = {tmp_path}/dns
interval = 120
[logging]
""")
    result = auth("--config", str(config), "--production-only")
    assert result.exit_code == 0, result.output
    # Comma form converted; banned DN gone; apel-old (IN_PRODUCTION=N) left out.
    assert dns_in(tmp_path / "dns") == [
        "/C=DE/O=Example/CN=regional.example.org",
        "/C=FR/O=CNRS/OU=R&D/CN=apel.site-c.example.org",
        "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=apel.site-a.example.org",
        "/DC=org/DC=example/OU=Hosts/CN=apel.site-b.example.org",
    ]
    assert json.loads((tmp_path / "dns.sites.json").read_text())["any_site"] == [
        "/C=DE/O=Example/CN=regional.example.org"]


@pytest.mark.parametrize("text, expected", [
    ("/C=UK/O=eScience/CN=host.example.org", "/C=UK/O=eScience/CN=host.example.org"),
    ("CN=host.example.org,O=eScience,C=UK", "/C=UK/O=eScience/CN=host.example.org"),
    ("C=UK, O=eScience, CN=host.example.org", "/C=UK/O=eScience/CN=host.example.org"),
    ("CN=host\\, with comma,O=X,C=UK", "/C=UK/O=X/CN=host, with comma"),
    ("/dc=org/cn=ftp/host.example.org", "/DC=org/CN=ftp/host.example.org"),
])
def test_dn_forms(text, expected):
    assert normalise_dn(text) == expected


@pytest.mark.parametrize("text", ["", "host.example.org", "/C=UK/O=eScience", "/=x/CN=a", "CN=a", "/C=UK/CN="])
def test_invalid_dns_are_refused(text):
    with pytest.raises(ValueError):
        normalise_dn(text)


def test_invalid_extra_dn_is_skipped_with_a_warning(gocdb, tmp_path):
    (tmp_path / "extra").write_text("not a dn\n/C=DE/CN=good.example.org\n")
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns"), "--extra-dns", str(tmp_path / "extra"))
    assert result.exit_code == 0
    assert "line 1 skipped" in result.output
    assert "/C=DE/CN=good.example.org" in dns_in(tmp_path / "dns")


@pytest.mark.parametrize("mode", ["error", "http500"])
def test_gocdb_error_keeps_the_old_list(gocdb, tmp_path, mode):
    dns = tmp_path / "dns"
    assert auth("--gocdb-url", gocdb.url, "--dn-file", str(dns)).exit_code == 0
    before = dns_in(dns)
    gocdb.mode = mode
    (tmp_path / "banned").write_text(GOCDB_DNS[0] + "\n")
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(dns), "--banned-dns", str(tmp_path / "banned"), "-v")
    assert result.exit_code == 0, result.output  # within --max-age: quiet, exit 0
    assert ("GOCDB error: Unsupported API method" if mode == "error" else "HTTP 500") in result.output
    # GOCDB's DNs kept from the last answer; the banned file applies at once.
    assert dns_in(dns) == before[1:]


def test_error_body_without_an_earlier_answer_changes_nothing(gocdb, tmp_path):
    gocdb.mode = "error"
    (tmp_path / "dns").write_text("/C=UK/CN=hand-written.example.org\n")
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns"))
    assert result.exit_code == 1
    assert "GOCDB error: Unsupported API method: get_nonexistent" in result.output
    assert "left as it is" in result.output
    assert dns_in(tmp_path / "dns") == ["/C=UK/CN=hand-written.example.org"]


def test_hanging_server_times_out_and_the_old_list_stays(gocdb, tmp_path):
    dns = tmp_path / "dns"
    assert auth("--gocdb-url", gocdb.url, "--dn-file", str(dns), "--now", "2026-11-21T00:00:00Z").exit_code == 0
    gocdb.mode, gocdb.hang_seconds = "hang", 30
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(dns), "--timeout", "1", "-v",
                  "--now", "2026-11-21T05:00:00Z")
    assert result.exit_code == 0, result.output
    assert "no complete answer within 1 s" in result.output and "5.0 hours old" in result.output
    assert dns_in(dns) == GOCDB_DNS
    # Past --max-age, every run fails loudly, still keeping the list.
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(dns), "--timeout", "1", "--max-age", "24",
                  "--now", "2026-11-22T01:00:00Z")
    assert result.exit_code == 1
    assert result.output.startswith("Error: GOCDB has not answered for 25.0 hours (more than --max-age 24)")
    assert dns_in(dns) == GOCDB_DNS


def test_timeout_bounds_the_whole_request_not_each_read(gocdb, tmp_path):
    """A GOCDB that sends a byte a second answers every read in time; --timeout still ends the request."""
    dns = tmp_path / "dns"
    assert auth("--gocdb-url", gocdb.url, "--dn-file", str(dns)).exit_code == 0
    gocdb.mode = "trickle"
    started = time.monotonic()
    done = subprocess.run(["apel-auth", "--gocdb-url", gocdb.url, "--dn-file", str(dns), "--timeout", "3", "-v"],
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr  # within --max-age: the list is kept
    assert "no complete answer within 3 s" in done.stderr
    assert 3 <= elapsed < 3 + 5, done.stderr
    assert dns_in(dns) == GOCDB_DNS


def test_timeout_bounds_a_request_over_https_too(tmp_path):
    ca = testpki.make_ca("/C=XX/O=apeltools/CN=GOCDB test CA")
    cert, key = testpki.make_host(ca, "localhost").write(tmp_path, "gocdb")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    with GocdbServer(DEFAULT_FIXTURES, mode="trickle") as server:
        server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
        url = f"https://localhost:{server.port}/gocdbpi/public/"
        started = time.monotonic()
        done = subprocess.run(["apel-auth", "--gocdb-url", url, "--dn-file", str(tmp_path / "dns"), "--timeout", "2"],
                              env={**os.environ, "SSL_CERT_FILE": str(tmp_path / "ca.pem")},
                              capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert "no complete answer within 2 s" in done.stderr, done.stderr
    assert 2 <= elapsed < 2 + 5


@pytest.mark.parametrize("mode", ["error", "bare-error", "text-error"])
def test_gocdb_s_own_error_text_is_in_the_message(gocdb, tmp_path, mode):
    """GOCDB answers an error inside <results>, as a document of its own, or as plain text."""
    gocdb.mode = mode
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns"))
    assert result.exit_code == 1
    assert "GOCDB error: Unsupported API method: get_nonexistent" in result.output, result.output


def test_secondary_url_is_used_when_the_primary_fails(gocdb, tmp_path):
    with GocdbServer(DEFAULT_FIXTURES, mode="http500") as broken:
        result = auth("--gocdb-url", broken.url, "--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns"))
        assert result.exit_code == 0, result.output
        assert broken.requests and dns_in(tmp_path / "dns") == GOCDB_DNS
    assert "from GOCDB " + gocdb.url in auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "d2"),
                                             "-v").output


def test_a_list_shrunk_by_90_percent_needs_force(gocdb, tmp_path):
    dns = tmp_path / "dns"
    installed = [f"/C=UK/O=Test/CN=host{n}.example.org" for n in range(45)] + GOCDB_DNS
    dns.write_text("".join(dn + "\n" for dn in installed))
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(dns))
    assert result.exit_code == 1
    assert "drops 45 of 50 DNs (90%, more than the allowed 30%)" in result.output
    assert "--force" in result.output
    assert dns_in(dns) == installed  # untouched
    assert not (tmp_path / "dns.sites.json").exists()
    result = auth("--gocdb-url", gocdb.url, "--dn-file", str(dns), "--force")
    assert result.exit_code == 0 and "installed because of --force" in result.output
    assert dns_in(dns) == GOCDB_DNS


def test_an_empty_list_is_never_installed(tmp_path):
    fixtures = tmp_path / "gocdb"
    fixtures.mkdir()
    with GocdbServer(fixtures) as empty:  # no fixture: GOCDB's empty <results/>
        (tmp_path / "dns").write_text("/C=UK/CN=kept.example.org\n")
        result = auth("--gocdb-url", empty.url, "--dn-file", str(tmp_path / "dns"), "--force")
    assert result.exit_code == 1 and "empty" in result.output
    assert dns_in(tmp_path / "dns") == ["/C=UK/CN=kept.example.org"]


def test_paging_that_never_ends_is_an_error(tmp_path):
    fixtures = tmp_path / "gocdb"
    fixtures.mkdir()
    page = (DEFAULT_FIXTURES / "gLite-APEL.xml").read_text()
    (fixtures / "gLite-APEL.xml").write_text(page)
    (fixtures / "gLite-APEL.page2.xml").write_text(page.replace("page=2", "page=1"))
    with GocdbServer(fixtures) as looping:
        result = auth("--gocdb-url", looping.url, "--dn-file", str(tmp_path / "dns"))
    assert result.exit_code == 1 and "paging does not end" in result.output


def test_entities_in_gocdb_answers_are_refused(tmp_path):
    fixtures = tmp_path / "gocdb"
    fixtures.mkdir()
    (fixtures / "gLite-APEL.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<results><SERVICE_ENDPOINT><HOSTDN>/C=UK/CN=&b;</HOSTDN></SERVICE_ENDPOINT></results>")
    with GocdbServer(fixtures) as hostile:
        result = auth("--gocdb-url", hostile.url, "--dn-file", str(tmp_path / "dns"))
    assert result.exit_code == 1 and "not usable XML" in result.output


def test_readers_never_see_a_partial_list(gocdb, tmp_path):
    """A reader looping over the file while apel-auth rewrites it sees a whole list every time."""
    dns = tmp_path / "dns"
    (tmp_path / "extra").write_text("".join(f"/C=UK/O=Bulk/CN=host{n}.example.org\n" for n in range(3000)))
    args = ["--gocdb-url", gocdb.url, "--dn-file", str(dns), "--extra-dns", str(tmp_path / "extra")]
    assert auth(*args).exit_code == 0
    whole = len(dns_in(dns))
    stop, seen, bad = threading.Event(), [], []

    def reader():
        while not stop.is_set():
            lines = dns.read_text().splitlines()
            found = [line for line in lines if line and not line.startswith("#")]
            seen.append(len(found))
            if len(found) != whole or not lines[-1].startswith("/") or len(lines) != whole + 2:
                bad.append(len(found))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(15):
            assert auth(*args).exit_code == 0
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 15 and not bad
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary files left


# -- apel-load --check-site ------------------------------------------------------------------

SITE_A_DN = "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=apel.site-a.example.org"
SYNC_MESSAGE = """APEL-sync-message: v0.1
Site: SITE-A
SubmitHost: ce.site-a.example.org
NumberOfJobs: 10
Month: 10
Year: 2026
%%
Site: SITE-B
SubmitHost: ce.site-b.example.org
NumberOfJobs: 20
Month: 10
Year: 2026
%%
"""


@pytest.mark.parametrize("mode, loaded, refused", [("off", 2, 0), ("warn", 2, 0), ("enforce", 1, 1)])
def test_load_check_site(gocdb, tmp_path, db_url, db, mode, loaded, refused):
    assert auth("--gocdb-url", gocdb.url, "--dn-file", str(tmp_path / "dns")).exit_code == 0
    incoming = queues.incoming_queue(tmp_path / "incoming")
    incoming.add({"body": SYNC_MESSAGE, "signer": SITE_A_DN, "empaid": "m1"})
    result = CliRunner().invoke(load_main, [
        "--db", db_url, "--queue", str(tmp_path / "incoming"), "--reject", str(tmp_path / "reject"),
        "--check-site", mode, "--site-map", str(tmp_path / "dns.sites.json")])
    assert result.exit_code == 0, result.output
    assert db.query("SELECT COUNT(*) FROM SyncRecords")[0][0] == loaded
    rejects = queue_elements(queues.reject_queue(tmp_path / "reject"))
    assert len(rejects) == refused
    if refused:
        assert "Site: SITE-B" in rejects[0]["body"] and "Site: SITE-A" not in rejects[0]["body"]
        assert f"signer {SITE_A_DN} may not publish for site SITE-B (GOCDB lists it for SITE-A)" in rejects[0]["error"]
    if mode == "warn":
        assert "for sites it does not belong to: SITE-B" in result.output


def test_check_site_without_a_map_is_an_error(tmp_path):
    result = CliRunner().invoke(load_main, ["--db", f"sqlite:///{tmp_path}/a.db", "--queue", str(tmp_path / "q"),
                                            "--check-site", "enforce", "--site-map", str(tmp_path / "none.json")])
    assert result.exit_code != 0 and "site map" in result.output


# -- end to end: GOCDB fixture → apel-auth → apel-receive ------------------------------------

def test_gocdb_to_apel_auth_to_apel_receive(gocdb, tmp_path, pki):
    listed = testpki.make_host(pki.ca, "apel.site-a.example.org", dn=SITE_A_DN)
    unlisted = testpki.make_host(pki.ca, "apel.unknown.example.org",
                                 dn="/C=UK/O=eScience/OU=CLRC/L=RAL/CN=apel.unknown.example.org")
    dn_file = tmp_path / "dns"
    assert auth("--gocdb-url", gocdb.url, "--dn-file", str(dn_file)).exit_code == 0
    server_cert, server_key = pki.files(pki.site)
    config = tmp_path / "receiver.cfg"
    config.write_text(f"""[certificates]
certificate: {server_cert}
key: {server_key}
capath: {pki.capath}
[messaging]
transport: local
incoming_path: {tmp_path}/incoming
reject_path: {tmp_path}/reject
wire_path: {tmp_path}/wire
dn_file: {dn_file}
""")
    wire = wire_queue(tmp_path / "wire")
    body = SYNC_MESSAGE.encode()
    wire.add({"message": crypto.sign(body, listed.cert_pem, listed.key_pem), "empaid": "listed"})
    wire.add({"message": crypto.sign(body, unlisted.cert_pem, unlisted.key_pem), "empaid": "unlisted"})
    result = CliRunner().invoke(receive_main, ["--config", str(config), "--once", "-v"])
    assert result.exit_code == 0, result.output
    accepted = queue_elements(queues.incoming_queue(tmp_path / "incoming"))
    rejected = queue_elements(queues.reject_queue(tmp_path / "reject"))
    assert [(e["empaid"], e["signer"]) for e in accepted] == [("listed", SITE_A_DN)]
    assert [e["empaid"] for e in rejected] == ["unlisted"]
    assert "apel.unknown.example.org" in rejected[0]["error"]


def test_help_has_examples():
    result = CliRunner().invoke(auth_main, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output


def test_sample_files_exist():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert "gocdb_url" in (root / "etc" / "auth.cfg").read_text()
    assert "apel-auth --config" in (root / "etc" / "cron.d" / "apel-auth").read_text()
    assert shutil.which("apel-auth")
