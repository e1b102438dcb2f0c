"""CE benchmarks: configuration entries, discovery in a real slapd (GLUE 1.3 and GLUE 2), history."""

import uuid

import pytest

from apeltools.ce_benchmarks import Benchmark, History, SpecError, ce_host, discover, from_config, update
from apeltools.config import Config
from apeltools.db import site
from apeltools.errors import ConfigError


def config_from(text, tmp_path):
    path = tmp_path / "client.cfg"
    path.write_text(text)
    return Config.load(str(path), environ={})


def test_manual_spec_entries(tmp_path):
    config = config_from(
        "[spec_updater]\nsite_name = TEST\n"
        "manual_spec1 = ce01.example.org:8443/cream-pbs-long,HEPSPEC,10.5\n"
        "manual_spec2 = ce02.example.org:9619/ce02.example.org-condor, hepscore23 , 15\n"
        "manual_spec3 = ce03.example.org,si2k,2500,2024-03-01\n", tmp_path)
    assert from_config(config) == [
        Benchmark("ce01.example.org:8443/cream-pbs-long", "HEPSPEC", 10.5),
        Benchmark("ce02.example.org:9619/ce02.example.org-condor", "HEPscore23", 15.0),
        Benchmark("ce03.example.org", "si2k", 2500.0, since=1709251200),
    ]


@pytest.mark.parametrize("entry, message", [
    ("ce01,HEPSPEC", "must be '<CE id>,<type>,<value>"),
    ("ce01,specfp,10", "unknown benchmark type 'specfp'"),
    ("ce01,HEPSPEC,ten", "is not a number"),
    ("ce01,HEPSPEC,0", "must be positive"),
    ("ce01,HEPSPEC,10,March", "is not a YYYY-MM-DD date"),
])
def test_bad_manual_spec_entries(tmp_path, entry, message):
    config = config_from(f"[spec_updater]\nmanual_spec1 = {entry}\n", tmp_path)
    with pytest.raises(ConfigError, match=message):
        from_config(config)


def test_history_keeps_periods_and_finds_the_benchmark_at_a_moment(db):
    ce = "ce01.example.org:8443/cream-pbs-long"
    assert update(db, [Benchmark(ce, "HEPSPEC", 10.0)], "config", now=1000) == [Benchmark(ce, "HEPSPEC", 10.0)]
    assert update(db, [Benchmark(ce, "HEPSPEC", 10.0)], "config", now=2000) == []  # unchanged
    update(db, [Benchmark(ce, "HEPSPEC", 12.0)], "bdii", now=3000)
    update(db, [Benchmark(ce, "HEPscore23", 14.0)], "bdii", now=4000)
    assert site.spec_history(db) == [
        (ce, "HEPSPEC", 10.0, 0, 3000, "config"),  # the first benchmark applies back to the beginning
        (ce, "HEPSPEC", 12.0, 3000, 4000, "bdii"),
        (ce, "HEPscore23", 14.0, 4000, None, "bdii"),
    ]
    history = History.load(db)
    assert history.at(ce, 500) == ("HEPSPEC", 10.0)
    assert history.at(ce, 2999) == ("HEPSPEC", 10.0)
    assert history.at(ce, 3000) == ("HEPSPEC", 12.0)
    assert history.at(ce, 10 ** 9) == ("HEPscore23", 14.0)
    assert history.at("ce01.example.org", 3500) == ("HEPSPEC", 12.0)  # by host
    assert history.at("ce09.example.org:8443/cream-pbs-long", 3500) is None


def test_a_configured_since_date_starts_the_first_period(db):
    update(db, [Benchmark("ce03.example.org", "si2k", 2500.0, since=1709251200)], "config", now=1800000000)
    history = History.load(db)
    assert history.at("ce03.example.org:8443/cream-sge-long", 1709251199) is None
    assert history.at("ce03.example.org:8443/cream-sge-long", 1709251200) == ("si2k", 2500.0)


def test_ce_host():
    assert ce_host("ce01.example.org:8443/cream-pbs-long") == "ce01.example.org"
    assert ce_host("ce01.example.org") == "ce01.example.org"


# -- BDII (real slapd) -----------------------------------------------------

LAYOUTS = {
    # A top-level BDII holds every site below Mds-Vo-name=local and GLUE2GroupID=grid.
    "top-level": ("Mds-Vo-name={},Mds-Vo-name=local,o=grid", "GLUE2DomainID={},GLUE2GroupID=grid,o=glue", """\
dn: Mds-Vo-name=local,o=grid
objectClass: MDS
Mds-Vo-name: local

dn: GLUE2GroupID=grid,o=glue
objectClass: GLUE2Group
GLUE2GroupID: grid

"""),
    # A site BDII holds its site right below the suffixes.
    "site": ("Mds-Vo-name={},o=grid", "GLUE2DomainID={},o=glue", ""),
}


def site_ldif(name, layout="top-level"):
    """A site's benchmark entries: GLUE 1.3 CEs (capability, subcluster) and a GLUE 2 CE."""
    glue1_base, glue2_base, parents = LAYOUTS[layout]
    glue1, glue2 = glue1_base.format(name), glue2_base.format(name)
    domain = f"{name.lower()}.example.org"
    ce_a, ce_b = f"cea.{domain}", f"ceb.{domain}"
    service = f"GLUE2ServiceID={name}_ce,{glue2}"
    manager = f"GLUE2ManagerID={name}_ce_manager,{service}"
    return parents + f"""\
dn: {glue1}
objectClass: MDS
Mds-Vo-name: {name}

dn: GlueCEUniqueID={ce_a}:8443/cream-pbs-long,{glue1}
objectClass: GlueTop
objectClass: GlueCE
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueCEUniqueID: {ce_a}:8443/cream-pbs-long
GlueCECapability: glexec
GlueCECapability: CPUScalingReferenceSI00=2750
GlueForeignKey: GlueClusterUniqueID={ce_a}
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: GlueCEUniqueID={ce_b}:8443/cream-slurm-grid,{glue1}
objectClass: GlueTop
objectClass: GlueCE
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueCEUniqueID: {ce_b}:8443/cream-slurm-grid
GlueForeignKey: GlueClusterUniqueID={ce_b}
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: GlueClusterUniqueID={ce_b},{glue1}
objectClass: GlueTop
objectClass: GlueCluster
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueClusterUniqueID: {ce_b}
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: GlueSubClusterUniqueID={ce_b}-old,GlueClusterUniqueID={ce_b},{glue1}
objectClass: GlueTop
objectClass: GlueSubCluster
objectClass: GlueHostBenchmark
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueSubClusterUniqueID: {ce_b}-old
GlueHostBenchmarkSI00: 2000
GlueChunkKey: GlueClusterUniqueID={ce_b}
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: GlueSubClusterUniqueID={ce_b}-new,GlueClusterUniqueID={ce_b},{glue1}
objectClass: GlueTop
objectClass: GlueSubCluster
objectClass: GlueHostBenchmark
objectClass: GlueKey
objectClass: GlueSchemaVersion
GlueSubClusterUniqueID: {ce_b}-new
GlueHostBenchmarkSI00: 3000
GlueChunkKey: GlueClusterUniqueID={ce_b}
GlueSchemaVersionMajor: 1
GlueSchemaVersionMinor: 3

dn: {glue2}
objectClass: GLUE2Domain
objectClass: GLUE2AdminDomain
GLUE2DomainID: {name}
GLUE2AdminDomainDistributed: FALSE

dn: {service}
objectClass: GLUE2Service
objectClass: GLUE2ComputingService
GLUE2ServiceID: {name}_ce
GLUE2ServiceType: org.opensciencegrid.htcondorce
GLUE2ServiceCapability: executionmanagement.jobexecution
GLUE2ServiceAdminDomainForeignKey: {name}

dn: GLUE2EndpointID={name}_ce_endpoint,{service}
objectClass: GLUE2Endpoint
GLUE2EndpointID: {name}_ce_endpoint
GLUE2EndpointURL: condor://cec.{domain}:9619
GLUE2EndpointInterfaceName: org.opensciencegrid.htcondorce
GLUE2EndpointQualityLevel: production
GLUE2EndpointHealthState: ok
GLUE2EndpointServingState: production
GLUE2EndpointServiceForeignKey: {name}_ce

dn: {manager}
objectClass: GLUE2Manager
objectClass: GLUE2ComputingManager
GLUE2ManagerID: {name}_ce_manager
GLUE2ManagerProductName: HTCondor
GLUE2ManagerServiceForeignKey: {name}_ce

dn: GLUE2BenchmarkID={name}_hs06,{manager}
objectClass: GLUE2Benchmark
GLUE2BenchmarkID: {name}_hs06
GLUE2BenchmarkType: hep-spec06
GLUE2BenchmarkValue: 11.5
GLUE2BenchmarkComputingManagerForeignKey: {name}_ce_manager

dn: GLUE2BenchmarkID={name}_hepscore23,{manager}
objectClass: GLUE2Benchmark
GLUE2BenchmarkID: {name}_hepscore23
GLUE2BenchmarkType: HEPscore23
GLUE2BenchmarkValue: 16.25
GLUE2BenchmarkComputingManagerForeignKey: {name}_ce_manager

dn: GLUE2BenchmarkID={name}_specfp,{manager}
objectClass: GLUE2Benchmark
GLUE2BenchmarkID: {name}_specfp
GLUE2BenchmarkType: specfp2000
GLUE2BenchmarkValue: 3000
GLUE2BenchmarkComputingManagerForeignKey: {name}_ce_manager
"""


def load_site(slapd_service, tmp_path, layout="top-level"):
    """A site of our own in the shared slapd (other tests load other sites); its name."""
    name = "SPEC-" + uuid.uuid4().hex[:8].upper()
    ldif = tmp_path / "site.ldif"
    ldif.write_text(site_ldif(name, layout))
    slapd_service.load(ldif)
    return name


@pytest.fixture
def bdii(slapd_service, tmp_path):
    return slapd_service, load_site(slapd_service, tmp_path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_discovery_of_glue1_and_glue2_benchmarks_in_a_top_level_or_a_site_bdii(slapd_service, tmp_path, layout):
    name = load_site(slapd_service, tmp_path, layout)
    host = f"{name.lower()}.example.org"
    assert sorted(discover(slapd_service.url, name), key=lambda b: b.ce) == [
        Benchmark(f"cea.{host}:8443/cream-pbs-long", "si2k", 2750.0),  # CPUScalingReferenceSI00
        Benchmark(f"ceb.{host}:8443/cream-slurm-grid", "si2k", 2500.0),  # mean GlueHostBenchmarkSI00
        Benchmark(f"cec.{host}", "HEPscore23", 16.25),  # GLUE 2: preferred type, by endpoint host
    ]


@pytest.mark.parametrize("site_name, expected", [
    ("TEST-SITE", {("ce01.example.org:8443/cream-pbs-long", "si2k", 2500.0),  # top-level layout
                   ("ce01.example.org", "HEPSPEC", 10.0)}),
    ("OTHER-SITE", {("ce02.example.org:8443/cream-slurm-grid", "si2k", 3000.0),  # site BDII layout
                    ("ce02.example.org", "HEPSPEC", 12.0)}),
])
def test_the_sample_bdii_ces(slapd_service, site_name, expected):
    slapd_service.load_sample()
    assert {(b.ce, b.type, b.value) for b in discover(slapd_service.url, site_name)} == expected


def test_a_bdii_without_a_ce_of_the_site_is_a_warning(slapd_service, caplog):
    slapd_service.load_sample()
    assert discover(slapd_service.url, "NO-SUCH-SITE") == []
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "publishes no CE benchmark of site NO-SUCH-SITE" in warning.getMessage()
    assert "Mds-Vo-name=NO-SUCH-SITE,o=grid" in warning.getMessage()


def test_a_changed_bdii_value_closes_the_period_and_opens_a_new_one(bdii, db):
    import ldap3

    service, name = bdii
    ce = f"cea.{name.lower()}.example.org:8443/cream-pbs-long"
    update(db, discover(service.url, name), "bdii", now=1000)
    connection = ldap3.Connection(ldap3.Server(service.url), service.rootdn, service.rootpw, auto_bind=True)
    try:
        connection.modify(f"GlueCEUniqueID={ce},Mds-Vo-name={name},Mds-Vo-name=local,o=grid",
                          {"GlueCECapability": [(ldap3.MODIFY_REPLACE,
                                                 ["glexec", "CPUScalingReferenceSI00=3100"])]})
        assert connection.result["result"] == 0, connection.result
    finally:
        connection.unbind()
    changed = update(db, discover(service.url, name), "bdii", now=2000)
    assert changed == [Benchmark(ce, "si2k", 3100.0)]
    periods = [p for p in site.spec_history(db) if p[0] == ce]
    assert periods == [(ce, "si2k", 2750.0, 0, 2000, "bdii"), (ce, "si2k", 3100.0, 2000, None, "bdii")]


def test_an_unreachable_bdii_is_a_spec_error():
    with pytest.raises(SpecError, match="cannot query BDII"):
        discover("ldap://127.0.0.1:1", "X")


# -- apel-join with a BDII ----------------------------------------------------

def add_grid_job(db_url, ce):
    """A batch record and its blah record on ``ce``, ended 2024-06-02."""
    from apeltools import db as databases
    from apeltools.records.site import BatchRecord, BlahRecord

    end = 1717286400
    with databases.connect(db_url) as db, db.transaction():
        site.store_site_records(db, [
            BatchRecord("SLURM", "42", "42", "atlas001", "atlas", "grid", "slurm.example.org", 3600, 7200, 2, 1,
                        end - 3600, end, 1024, 2048),
            BlahRecord(end - 3700, "/C=UK/O=eScience/CN=Alice", "/atlas/Role=production/Capability=NULL", ce,
                       "CREAM42", "42", "atlas001"),
        ])


def apel_join(db_url, tmp_path, bdii_url, site_name):
    from click.testing import CliRunner

    from apeltools.cli.join import main

    config = tmp_path / "client.cfg"
    config.write_text(f"[site_info]\nsite_name = {site_name}\n")
    return CliRunner().invoke(main, ["--config", str(config), "--db", db_url, "--bdii", bdii_url, "--unjoined"])


def job_benchmarks(db_url):
    from apeltools import db as databases

    with databases.connect(db_url) as db:
        return db.query("SELECT LocalJobId, ServiceLevelType, ServiceLevel FROM VJobRecords")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_apel_join_takes_benchmarks_from_a_top_level_or_a_site_bdii(slapd_service, db_url, tmp_path, layout):
    name = load_site(slapd_service, tmp_path, layout)
    add_grid_job(db_url, f"cea.{name.lower()}.example.org:8443/cream-pbs-long")
    result = apel_join(db_url, tmp_path, slapd_service.url, name)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""  # joined, nothing to warn about
    assert [tuple(row) for row in job_benchmarks(db_url)] == [("42", "si2k", 2750.0)]


def test_apel_join_warns_when_the_bdii_publishes_no_ce_of_the_site(slapd_service, db_url, tmp_path):
    slapd_service.load_sample()
    add_grid_job(db_url, "ce09.example.org:8443/cream-slurm-grid")
    result = apel_join(db_url, tmp_path, slapd_service.url, "NO-SUCH-SITE")
    assert result.exit_code == 0, result.output
    assert f"BDII {slapd_service.url} publishes no CE benchmark of site NO-SUCH-SITE" in result.stderr
    assert result.stdout.startswith("SLURM\t42\t42\t")  # unjoined, and said so
    assert job_benchmarks(db_url) == []
