"""A tiny stand-in for the GOCDB programmatic interface, for tests.

GOCDB cannot be installed, so tests talk to this local HTTP server instead. It
serves recorded XML fixtures from a directory:

    GET /gocdbpi/public/?method=get_service_endpoint&service_type=X[&page=N]
        -> <dir>/X.xml            (no page, or page=1)
        -> <dir>/X.pageN.xml      (page N >= 2)
        -> an empty ``<results/>`` when there is no such fixture (as GOCDB
           answers for an unknown service type)
    any other method -> <dir>/error.xml (``<results><error>...</error></results>``)
    any other path   -> HTTP 404

The text ``@BASE_URL@`` in a fixture is replaced by the server's own base URL
(``http://127.0.0.1:PORT``), so paging links (``<link rel="next" href=...>``)
point back at this server whatever port it got.

Fault modes (``server.mode = ...`` or ``--mode``):
    "normal"   serve fixtures (default)
    "http500"  answer every request with HTTP 500
    "error"    answer every request with error.xml (HTTP 200, as GOCDB does)
    "bare-error"  answer ``<error>...</error>`` as the whole document (HTTP 200)
    "text-error"  answer the error text alone, not XML (HTTP 200): GOCDB's PI
               prints an exception's message as it is, under an XML content type
    "hang"     accept the request and never answer (sleeps until stop() or
               ``hang_seconds``), for client timeout tests
    "trickle"  send the normal answer's headers at once, then its body one byte
               every ``trickle_seconds``: each read gets data in time, the whole
               answer takes minutes

Use as a module::

    from tests.services.gocdb import GocdbServer
    with GocdbServer("tests/services/gocdb") as srv:
        url = srv.url          # http://127.0.0.1:PORT/gocdbpi/public/
        srv.mode = "http500"
        srv.requests           # list of request paths received

or as a script::

    python tests/services/gocdb.py --dir tests/services/gocdb --port 18080
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DEFAULT_FIXTURES = Path(__file__).resolve().parent / "gocdb"
PI_PATH = "/gocdbpi/public/"
MODES = ("normal", "http500", "error", "bare-error", "text-error", "hang", "trickle")
ERROR_TEXT = "Unsupported API method: get_nonexistent"
EMPTY_RESULTS = b'<?xml version="1.0" encoding="UTF-8"?>\n<results/>\n'
FALLBACK_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<results><error>Unsupported API method</error></results>\n"
)


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str = "text/xml; charset=utf-8", byte_every=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if byte_every is None:
            self.wfile.write(body)
            return
        self.wfile.flush()
        stopping = self.server.owner._stopping
        for index in range(len(body)):
            if stopping.wait(byte_every):
                self.close_connection = True
                return
            try:
                self.wfile.write(body[index:index + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                self.close_connection = True
                return

    def do_GET(self):  # noqa: N802 - stdlib name
        owner = self.server.owner
        with owner._lock:
            owner.requests.append(self.path)
        mode = owner.mode
        if mode == "hang":
            owner._stopping.wait(owner.hang_seconds)
            self.close_connection = True
            return
        if mode == "http500":
            self._send(500, b"Internal Server Error\n", "text/plain")
            return
        if mode == "error":
            self._send(200, owner.fixture("error.xml", FALLBACK_ERROR))
            return
        if mode == "bare-error":
            self._send(200, f'<?xml version="1.0" encoding="UTF-8"?>\n<error>{ERROR_TEXT}</error>\n'.encode())
            return
        if mode == "text-error":
            self._send(200, ERROR_TEXT.encode(), "application/xml")
            return
        self._send(*self._answer(), byte_every=owner.trickle_seconds if mode == "trickle" else None)

    def _answer(self) -> tuple[int, bytes, str]:
        """(status, body, content type) of the normal answer to this request."""
        owner = self.server.owner
        xml = "text/xml; charset=utf-8"
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") != PI_PATH.rstrip("/"):
            return 404, b"Not Found\n", "text/plain"
        query = parse_qs(parts.query)
        method = query.get("method", [""])[0]
        if method != "get_service_endpoint":
            return 200, owner.fixture("error.xml", FALLBACK_ERROR), xml
        service_type = query.get("service_type", [""])[0]
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            page = 1
        if not service_type or "/" in service_type or service_type.startswith("."):
            return 200, EMPTY_RESULTS, xml
        name = f"{service_type}.xml" if page <= 1 else f"{service_type}.page{page}.xml"
        return 200, owner.fixture(name, EMPTY_RESULTS), xml


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "GocdbServer"


class GocdbServer:
    """Threaded HTTP server serving GOCDB fixtures on 127.0.0.1.

    ``port=0`` (default) picks a free port. ``url`` is the PI endpoint,
    ``base_url`` the scheme://host:port part.
    """

    def __init__(self, fixtures=DEFAULT_FIXTURES, port: int = 0, host: str = "127.0.0.1",
                 mode: str = "normal", hang_seconds: float = 60.0, trickle_seconds: float = 1.0,
                 verbose: bool = False):
        self.fixtures = Path(fixtures)
        self.host = host
        self.port = port
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.trickle_seconds = trickle_seconds
        self.verbose = verbose
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------
    def start(self) -> "GocdbServer":
        if self._httpd is not None:
            return self
        if not self.fixtures.is_dir():
            raise FileNotFoundError(f"GOCDB fixture directory not found: {self.fixtures}")
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"gocdb-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # release hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "GocdbServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + PI_PATH

    def endpoint_url(self, service_type: str, page: int | None = None) -> str:
        url = f"{self.url}?method=get_service_endpoint&service_type={service_type}"
        return url if page is None else f"{url}&page={page}"

    def reset(self) -> None:
        """Back to normal mode with an empty request log; releases hanging requests."""
        self.mode = "normal"
        with self._lock:
            self.requests.clear()
        if self._httpd is not None:
            hanging, self._stopping = self._stopping, threading.Event()
            hanging.set()

    def fixture(self, name: str, default: bytes) -> bytes:
        path = self.fixtures / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return default
        return data.replace(b"@BASE_URL@", self.base_url.encode())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=str(DEFAULT_FIXTURES), help="fixture directory")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("APELTOOLS_GOCDB_PORT", "0")),
                        help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server = GocdbServer(args.dir, port=args.port, mode=args.mode, verbose=not args.quiet)
    server.start()
    print(f"gocdb ready: {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
