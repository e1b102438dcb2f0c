"""Benchmarks (ServiceLevel) of each CE over time: from configuration or the site BDII, with history.

Configuration lists ``manual_spec1 = <CE id>,<type>,<value>[,<since YYYY-MM-DD>]``
(``manual_spec2``, ... likewise) in ``[spec_updater]``, as the existing
client.cfg does. A BDII publishes GLUE 1.3 ``GlueCECapability:
CPUScalingReferenceSI00=<v>`` on the CE (or ``GlueHostBenchmarkSI00`` on its
subclusters), both si2k, and GLUE 2 ``GLUE2Benchmark`` entries
(``GLUE2BenchmarkType``/``GLUE2BenchmarkValue``, e.g. ``hep-spec06``) below
the CE's computing service.

The history keeps one period per benchmark: a change closes the current
period and opens a new one. A CE's first benchmark applies back to the
beginning (jobs that ended before it was first recorded still need one),
unless its configuration entry names a ``since`` date. A CE is named by its
full CE id (GLUE 1, configuration) or by its host name (GLUE 2); a job's CE id
is looked up as it is first, then by its host; a host name finds a CE id on it.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from apeltools import bdii
from apeltools.bdii import GLUE1_BASE, GLUE2_BASE, GLUE2_SUFFIX
from apeltools.db import site
from apeltools.errors import ApelError, ConfigError
from apeltools.quoting import quote
from apeltools.records.benchmark import BENCHMARK_TYPES, canonical_type

log = logging.getLogger(__name__)

MANUAL_SPEC = re.compile(r"^manual_spec\d*$")
# GLUE 2 benchmark type names → our benchmark types.
GLUE2_TYPES = {"hep-spec06": "HEPSPEC", "hepspec06": "HEPSPEC", "hepspec": "HEPSPEC",
               "hepscore23": "HEPscore23", "hep-score23": "HEPscore23",
               "specint2000": "si2k", "si2k": "si2k", "si00": "si2k"}
CAPABILITY = "CPUScalingReferenceSI00="


class SpecError(ApelError):
    """Benchmarks could not be read from the configuration or the BDII."""


@dataclass(frozen=True)
class Benchmark:
    """The benchmark of one CE: type (HEPscore23, HEPSPEC, si2k) and value; ``since`` (epoch) or None."""

    ce: str
    type: str
    value: float
    since: int | None = None


def ce_host(ce_id):
    """The host part of a CE id (``ce01.example.org:8443/cream-pbs-long`` → ``ce01.example.org``)."""
    return ce_id.split("/", 1)[0].split(":", 1)[0]


def make_benchmark(ce, type_name, value_text, since=None):
    """A checked ``Benchmark`` from configuration text; ConfigError names what is wrong."""
    try:
        kind = canonical_type(type_name)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    try:
        value = float(value_text)
    except ValueError:
        raise ConfigError(f"benchmark value {quote(value_text)} of {ce} is not a number") from None
    if value <= 0:
        raise ConfigError(f"benchmark value of {ce} must be positive, not {value_text}")
    return Benchmark(ce, kind, value, since)


def from_config(config):
    """Benchmarks named in ``[spec_updater] manual_spec*`` entries."""
    parser = config.parser
    if not parser.has_section("spec_updater"):
        return []
    found = []
    for key in sorted(parser.options("spec_updater")):
        if not MANUAL_SPEC.match(key):
            continue
        text = config.get("spec_updater", key)
        items = [item.strip() for item in text.split(",")]
        if len(items) not in (3, 4) or not items[0]:
            raise ConfigError(f"[spec_updater] {key} must be '<CE id>,<type>,<value>[,<YYYY-MM-DD>]', not {quote(text)}")
        since = None
        if len(items) == 4:
            try:
                since = calendar.timegm(time.strptime(items[3], "%Y-%m-%d"))
            except ValueError:
                raise ConfigError(f"[spec_updater] {key}: {quote(items[3])} is not a YYYY-MM-DD date") from None
        found.append(make_benchmark(items[0], items[1], items[2], since))
    return found


# -- BDII ----------------------------------------------------------------


def _glue1(connection, base):
    found = []
    for _, attrs in bdii.search(connection, base, "(objectClass=GlueCE)",
                                ["GlueCEUniqueID", "GlueCECapability", "GlueForeignKey"], SpecError):
        ce = next((str(v) for v in bdii.values(attrs, "GlueCEUniqueID")), None)
        if not ce:
            continue
        value = None
        for capability in bdii.values(attrs, "GlueCECapability"):
            if str(capability).startswith(CAPABILITY):
                value = str(capability)[len(CAPABILITY):]
        if value is None:
            value = _subcluster_si00(connection, base, attrs)
        if value is None:
            log.warning("BDII: CE %s publishes no CPUScalingReferenceSI00 nor GlueHostBenchmarkSI00", ce)
            continue
        try:
            found.append(make_benchmark(ce, "si2k", value))
        except ConfigError as error:
            log.warning("BDII: CE %s: %s", ce, error)
    return found


def _subcluster_si00(connection, base, ce_attrs):
    """The mean GlueHostBenchmarkSI00 of the subclusters of the CE's cluster, as text, or None."""
    values = []
    for key in bdii.values(ce_attrs, "GlueForeignKey"):
        if not str(key).startswith("GlueClusterUniqueID="):
            continue
        query = f"(&(objectClass=GlueSubCluster)(GlueChunkKey={_escape(str(key))}))"
        for _, attrs in bdii.search(connection, base, query, ["GlueHostBenchmarkSI00"], SpecError):
            for value in bdii.values(attrs, "GlueHostBenchmarkSI00"):
                try:
                    if float(value) > 0:
                        values.append(float(value))
                except ValueError:
                    continue
    return str(sum(values) / len(values)) if values else None


def _escape(text):
    from ldap3.utils.conv import escape_filter_chars

    return escape_filter_chars(text)


def _glue2(connection, base):
    """Benchmarks of GLUE 2 computing services, by CE host: the manager's own benchmark,
    else the mean over its execution environments; the preferred type when there are several."""
    by_host = {}  # host -> {type: (manager values, environment values)}
    query = "(objectClass=GLUE2Benchmark)"
    attributes = ["GLUE2BenchmarkType", "GLUE2BenchmarkValue", "GLUE2BenchmarkExecutionEnvironmentForeignKey"]
    hosts_of = {}
    for dn, attrs in bdii.search(connection, base, query, attributes, SpecError):
        kind = GLUE2_TYPES.get(str(next(iter(bdii.values(attrs, "GLUE2BenchmarkType")), "")).lower())
        if kind is None:
            continue
        try:
            value = float(next(iter(bdii.values(attrs, "GLUE2BenchmarkValue"))))
        except (StopIteration, ValueError):
            continue
        service_dn = _service_dn(dn)
        if service_dn is None:
            continue
        if service_dn not in hosts_of:
            hosts_of[service_dn] = _service_hosts(connection, service_dn)
        level = 1 if bdii.values(attrs, "GLUE2BenchmarkExecutionEnvironmentForeignKey") else 0
        for host in hosts_of[service_dn]:
            by_host.setdefault(host, {}).setdefault(kind, ([], []))[level].append(value)
    found = []
    for host, kinds in sorted(by_host.items()):
        for kind in BENCHMARK_TYPES:
            if kind in kinds:
                manager, environments = kinds[kind]
                values = manager or environments
                found.append(Benchmark(host, kind, sum(values) / len(values)))
                break
    return found


def _service_dn(dn):
    parts = dn.split(",")
    for index, part in enumerate(parts):
        if part.lower().startswith("glue2serviceid="):
            return ",".join(parts[index:])
    return None


def _service_hosts(connection, service_dn):
    """Hosts of a computing service: its endpoints' URL hosts, else the service id's host part."""
    hosts = set()
    for _, attrs in bdii.search(connection, service_dn, "(objectClass=GLUE2Endpoint)", ["GLUE2EndpointURL"],
                                SpecError):
        for url in bdii.values(attrs, "GLUE2EndpointURL"):
            host = urlsplit(str(url)).hostname
            if host:
                hosts.add(host)
    if not hosts:
        service_id = service_dn.split(",", 1)[0].split("=", 1)[1]
        hosts.add(service_id.split("_", 1)[0])
    return sorted(hosts)


def search_bases(site_name: str | None) -> tuple[list[str], list[str]]:
    """The GLUE 1.3 and GLUE 2 search bases of a site in a BDII, in either layout.

    A top-level BDII holds a site under ``Mds-Vo-name=<site>,Mds-Vo-name=local,o=grid``
    and ``GLUE2DomainID=<site>,GLUE2GroupID=grid,o=glue``; a site BDII holds it
    right under the suffixes, ``Mds-Vo-name=<site>,o=grid`` and
    ``GLUE2DomainID=<site>,o=glue``. A base that is absent yields nothing, so
    both are searched. Without a site, everything under the suffixes.
    """
    if not site_name:
        return [GLUE1_BASE], [GLUE2_SUFFIX]
    from ldap3.utils.dn import escape_rdn

    site_rdn = escape_rdn(site_name)
    return ([f"Mds-Vo-name={site_rdn},Mds-Vo-name=local,{GLUE1_BASE}", f"Mds-Vo-name={site_rdn},{GLUE1_BASE}"],
            [f"GLUE2DomainID={site_rdn},{GLUE2_BASE}", f"GLUE2DomainID={site_rdn},{GLUE2_SUFFIX}"])


def discover(bdii_url: str, site_name: str | None = None) -> list[Benchmark]:
    """Benchmarks published in a top-level or a site BDII (GLUE 2 and GLUE 1.3), optionally of one site.

    Logs a warning when the BDII publishes no benchmark of a CE at all: the
    jobs of CEs without a configured benchmark then stay unjoined.
    """
    glue1_bases, glue2_bases = search_bases(site_name)
    connection = bdii.connect(bdii_url, SpecError)
    try:
        found = [benchmark for base in glue2_bases for benchmark in _glue2(connection, base)]
        found += [benchmark for base in glue1_bases for benchmark in _glue1(connection, base)]
    finally:
        connection.unbind()
    found = list(dict.fromkeys(found))
    if not found:
        log.warning("BDII %s publishes no CE benchmark%s (searched %s): jobs of CEs without a "
                    "[spec_updater] manual_spec benchmark stay unjoined", bdii_url,
                    f" of site {site_name}" if site_name else "", ", ".join(glue2_bases + glue1_bases))
    else:
        log.info("BDII %s: benchmarks of %d CEs", bdii_url, len(found))
    return found


# -- history ---------------------------------------------------------------


def update(db, benchmarks, source, now=None):
    """Record benchmarks in the history; returns those that changed it."""
    now = int(time.time()) if now is None else now
    known = {ce for ce, *_ in site.spec_history(db)}
    changed = []
    for benchmark in benchmarks:
        at = benchmark.since if benchmark.since is not None else (now if benchmark.ce in known else 0)
        if site.set_spec(db, benchmark.ce, benchmark.type, benchmark.value, at, source):
            log.info("benchmark of %s is now %s %s (%s)", benchmark.ce, benchmark.type, benchmark.value, source)
            changed.append(benchmark)
        known.add(benchmark.ce)
    return changed


class History:
    """The benchmark history, to find the benchmark of a CE at a moment."""

    def __init__(self, periods):
        self._periods = {}
        for ce, kind, value, start, stop, _ in periods:
            self._periods.setdefault(ce, []).append((int(start), None if stop is None else int(stop),
                                                     kind, float(value)))
        # A host name also finds the periods of a CE id on that host (the first, when several).
        for ce in sorted(self._periods):
            self._periods.setdefault(ce_host(ce), self._periods[ce])

    @classmethod
    def load(cls, db):
        return cls(site.spec_history(db))

    def at(self, ce_id, moment):
        """(type, value) of the CE's benchmark at ``moment`` (epoch), or None."""
        periods = self._periods.get(ce_id)
        if periods is None:
            periods = self._periods.get(ce_host(ce_id))
            if periods is None:
                return None
        for start, stop, kind, value in periods:
            if start <= moment and (stop is None or moment < stop):
                return kind, value
        return None
