"""Reading the GOCDB programmatic interface: service endpoints with their host DNs and sites.

``get_service_endpoint`` answers ``<results>`` holding ``SERVICE_ENDPOINT``
elements, paged through ``<meta><link rel="next" href=.../></meta>``. GOCDB
reports some errors as HTTP 200 with an ``<error>`` body, so a body is only
good when it is a ``<results>`` document without ``<error>``. XML is parsed
with defusedxml (no entity expansion, no external entities). Every request has
a timeout; a list of URLs is tried in order (primary, then secondaries), and
all pages of one answer come from the same URL, never a mix of mirrors.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from apeltools.errors import ApelError

log = logging.getLogger(__name__)

DEFAULT_URL = "https://goc.egi.eu/gocdbpi/public/"
DEFAULT_SERVICE_TYPE = "gLite-APEL"
DEFAULT_TIMEOUT = 30.0
MAX_PAGES = 1000
MAX_BODY = 64 * 1024 * 1024


class GocdbError(ApelError):
    """GOCDB could not be read, or answered with an error."""


@dataclass(frozen=True)
class Endpoint:
    """One SERVICE_ENDPOINT of a GOCDB answer."""

    hostname: str
    dn: str | None
    site: str
    service_type: str
    in_production: bool
    monitored: bool


def endpoint_url(base: str, service_type: str) -> str:
    """The ``get_service_endpoint`` URL for a service type.

    ``base`` is the PI address (``https://goc.egi.eu/gocdbpi/public/``) or, as
    in the existing ``auth.cfg``, a full query URL, whose service type is then
    replaced by ``service_type``.
    """
    parts = urlsplit(base)
    query = parse_qs(parts.query, keep_blank_values=True)
    query["method"] = ["get_service_endpoint"]
    query["service_type"] = [service_type]
    query.pop("page", None)
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def service_type_of(url: str) -> str | None:
    """The service type named in a full query URL, if any."""
    values = parse_qs(urlsplit(url).query).get("service_type")
    return values[0] if values else None


def _opener(proxy: str | None):
    handlers = []
    if proxy:
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    return urllib.request.build_opener(*handlers)


def fetch(url: str, timeout: float, proxy: str | None = None) -> bytes:
    """The body of one GET, or GocdbError (HTTP error, timeout, refused connection)."""
    request = urllib.request.Request(url, headers={"Accept": "application/xml", "User-Agent": "apeltools"})
    try:
        with _opener(proxy).open(request, timeout=timeout) as answer:
            body = answer.read(MAX_BODY + 1)
    except urllib.error.HTTPError as error:
        raise GocdbError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise GocdbError(f"{url}: no answer within {timeout:g} s") from None
        raise GocdbError(f"{url}: {reason}") from None
    except TimeoutError:
        raise GocdbError(f"{url}: no answer within {timeout:g} s") from None
    except OSError as error:
        raise GocdbError(f"{url}: {error}") from None
    if len(body) > MAX_BODY:
        raise GocdbError(f"{url}: answer larger than {MAX_BODY} bytes")
    return body


def parse_page(body: bytes, url: str) -> tuple[list[Endpoint], str | None]:
    """(endpoints, next page URL) of one answer; GocdbError for an error body or bad XML."""
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise GocdbError(f"{url}: answer is not usable XML: {error}") from None
    if root.tag != "results":
        raise GocdbError(f"{url}: answer is <{root.tag}>, not <results>")
    error = root.find("error")
    if error is not None:
        raise GocdbError(f"{url}: GOCDB error: {(error.text or '').strip() or 'no reason given'}")
    endpoints = [_endpoint(element) for element in root.iter("SERVICE_ENDPOINT")]
    following = None
    for link in root.findall("meta/link"):
        if link.get("rel") == "next" and link.get("href"):
            following = link.get("href")
    return endpoints, following


def _text(element, name: str) -> str:
    child = element.find(name)
    return (child.text or "").strip() if child is not None else ""


def _endpoint(element) -> Endpoint:
    return Endpoint(
        hostname=_text(element, "HOSTNAME"),
        dn=_text(element, "HOSTDN") or None,
        site=_text(element, "SITENAME"),
        service_type=_text(element, "SERVICE_TYPE"),
        in_production=_text(element, "IN_PRODUCTION").upper() == "Y",
        monitored=_text(element, "NODE_MONITORED").upper() == "Y",
    )


def service_endpoints(base: str, service_type: str, timeout: float = DEFAULT_TIMEOUT,
                      proxy: str | None = None) -> list[Endpoint]:
    """Every endpoint of one service type from one GOCDB URL, following the pages."""
    url, seen, found = endpoint_url(base, service_type), set(), []
    while url:
        if url in seen or len(seen) >= MAX_PAGES:
            raise GocdbError(f"{url}: paging does not end (page seen before or more than {MAX_PAGES} pages)")
        seen.add(url)
        endpoints, url = parse_page(fetch(url, timeout, proxy), url)
        found.extend(endpoints)
    log.debug("%s: %d endpoints of type %s in %d pages", base, len(found), service_type, len(seen))
    return found


def endpoints_from_any(urls: list[str], service_types: list[str], timeout: float = DEFAULT_TIMEOUT,
                       proxy: str | None = None) -> tuple[str, list[Endpoint]]:
    """(URL used, endpoints of every service type) from the first URL that answers completely.

    A URL answers completely when every page of every service type reads
    without error; otherwise the next URL is tried. GocdbError names every
    failure when none does.
    """
    failures = []
    for base in urls:
        try:
            found = []
            for service_type in service_types:
                found.extend(service_endpoints(base, service_type, timeout, proxy))
            return base, found
        except GocdbError as error:
            log.info("GOCDB %s failed: %s", base, error)
            failures.append(str(error))
    raise GocdbError("GOCDB unavailable: " + "; ".join(failures))


def monitored_sites(endpoints: list[Endpoint]) -> dict[str, str]:
    """{site: a host name} of the endpoints in production and monitored, for central checks."""
    sites = {}
    for endpoint in sorted(endpoints, key=lambda e: (e.site, e.hostname)):
        if endpoint.site and endpoint.in_production and endpoint.monitored:
            sites.setdefault(endpoint.site, endpoint.hostname)
    return sites
