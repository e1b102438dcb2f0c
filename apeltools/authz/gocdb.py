"""Reading the GOCDB programmatic interface: service endpoints with their host DNs and sites.

``get_service_endpoint`` answers ``<results>`` holding ``SERVICE_ENDPOINT``
elements, paged through ``<meta><link rel="next" href=.../></meta>``. GOCDB
reports some errors as HTTP 200 with an ``<error>`` body, so a body is only
good when it is a ``<results>`` document without ``<error>``. XML is parsed
with defusedxml (no entity expansion, no external entities). Every request has
a deadline over its connection and its whole answer; a list of URLs is tried
in order (primary, then secondaries), and all pages of one answer come from
the same URL, never a mix of mirrors.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
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


class _Deadline:
    """Ends one request when its time is up: shuts its socket, however slowly the server trickles.

    A socket timeout bounds each read, not the request: a server that sends a
    byte every second would hold a 3 s timeout for as long as its answer lasts.
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets = []  # a connection (its socket while it connects) or a connected socket
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, connection_or_socket) -> None:
        with self._lock:
            self._sockets.append(connection_or_socket)
            if self.expired:
                _shut(connection_or_socket)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for watched in self._sockets:
                _shut(watched)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _shut(watched) -> None:
    sock = getattr(watched, "sock", watched)
    if sock is not None:
        try:
            # The plain socket's shutdown, also under TLS: the reading thread still holds the TLS object.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # closed already


def _watched(connection_class, deadline: _Deadline):
    """``connection_class`` whose every instance ``deadline`` can end, while and after it connects."""

    class Watched(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            deadline.watch(self)

        def connect(self):
            super().connect()
            # urllib drops the connection's reference once the headers are read; the answer reads on.
            deadline.watch(self.sock)

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self._context)


def _opener(proxy: str | None, deadline: _Deadline):
    handlers = [_HTTPHandler(deadline), _HTTPSHandler(deadline)]
    if proxy:
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    return urllib.request.build_opener(*handlers)


def fetch(url: str, timeout: float, proxy: str | None = None) -> bytes:
    """The body of one GET within ``timeout`` seconds in all (connection and whole answer), or GocdbError."""
    request = urllib.request.Request(url, headers={"Accept": "application/xml", "User-Agent": "apeltools"})
    late = f"{url}: no complete answer within {timeout:g} s"
    try:
        with _Deadline(timeout) as deadline:
            try:
                with _opener(proxy, deadline).open(request, timeout=timeout) as answer:
                    body = answer.read(MAX_BODY + 1)
            finally:
                expired = deadline.expired
    except urllib.error.HTTPError as error:
        raise GocdbError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if expired or isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise GocdbError(late) from None
        raise GocdbError(f"{url}: {reason}") from None
    except (OSError, http.client.HTTPException) as error:
        if expired or isinstance(error, TimeoutError):
            raise GocdbError(late) from None
        raise GocdbError(f"{url}: {error}") from None
    if expired:  # the end of the answer may be missing
        raise GocdbError(late)
    if len(body) > MAX_BODY:
        raise GocdbError(f"{url}: answer larger than {MAX_BODY} bytes")
    return body


def parse_page(body: bytes, url: str) -> tuple[list[Endpoint], str | None]:
    """(endpoints, next page URL) of one answer; GocdbError for an error answer or bad XML.

    GOCDB's own error text is kept in the message, from ``<results><error>``,
    an ``<error>`` document, or a body of plain text (its PI prints an
    exception's message as it is).
    """
    if not body.lstrip().startswith(b"<"):
        text = " ".join(body.decode("utf-8", "replace").split())
        raise GocdbError(f"{url}: GOCDB error: {_shorten(text) or 'empty answer'}")
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise GocdbError(f"{url}: answer is not usable XML: {error}") from None
    error = root if root.tag == "error" else root.find("error")
    if error is not None:
        text = " ".join("".join(error.itertext()).split())
        raise GocdbError(f"{url}: GOCDB error: {_shorten(text) or 'no reason given'}")
    if root.tag != "results":
        raise GocdbError(f"{url}: answer is <{root.tag}>, not <results>")
    endpoints = [_endpoint(element) for element in root.iter("SERVICE_ENDPOINT")]
    following = None
    for link in root.findall("meta/link"):
        if link.get("rel") == "next" and link.get("href"):
            following = link.get("href")
    return endpoints, following


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


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
