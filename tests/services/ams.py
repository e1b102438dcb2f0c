"""A stand-in for the ARGO Messaging Service (AMS), for tests: its HTTP API on loopback, in a process of its own.

AMS cannot be installed here (it needs Kafka, ZooKeeper and MongoDB), so the
tests talk to this server instead. It keeps to the documented API
(``formats.md`` §10 and the AMS documentation) as far as apeltools and
``argo-ams-library`` use it:

    GET    /v1/projects/{p}/topics                         {"topics": [{"name"}]}
    PUT    /v1/projects/{p}/topics/{t}                     {"name": "/projects/p/topics/t"}; 409 if it exists
    GET    /v1/projects/{p}/topics/{t}                     404 if missing
    DELETE /v1/projects/{p}/topics/{t}
    POST   /v1/projects/{p}/topics/{t}:publish             {"messages": [{"attributes", "data"}]} → {"messageIds"}
    GET    /v1/projects/{p}/subscriptions                  {"subscriptions": [...]}
    PUT    /v1/projects/{p}/subscriptions/{s}              {"topic": "projects/p/topics/t", "ackDeadlineSeconds": n}
    GET    /v1/projects/{p}/subscriptions/{s}
    GET    /v1/projects/{p}/subscriptions/{s}:offsets      {"max", "min", "current"}
    DELETE /v1/projects/{p}/subscriptions/{s}
    POST   /v1/projects/{p}/subscriptions/{s}:pull         {"maxMessages": "N", "returnImmediately": "true"}
    POST   /v1/projects/{p}/subscriptions/{s}:acknowledge  {"ackIds": ["projects/p/subscriptions/s:OFFSET"]}
    GET    /v1/service-types/ams/hosts/{host}:authx509     client certificate → {"token": ...}

Semantics kept: a subscription sees the messages published after it was
created; a pull delivers from where the previous pull stopped while its
messages await acknowledgement, and starts again from the first unacknowledged
message once the ack deadline (counted from the last pull) has passed, so that
unacknowledged messages come again; acknowledgement goes by offset (acking one
acknowledges the earlier ones); an ack after the deadline is refused with 408.
Errors are ``{"error": {"code", "message", "status"}}``. A token goes as
``?key=TOKEN`` or in the ``x-api-key`` header; a missing or unknown one is 401,
a token of another project 403.

Test control (no token; loopback only), under ``/admin``:

    POST /admin/reset    {"projects": [...], "tokens": {TOKEN: [project, ...]}, "x509": {DN: TOKEN}}
                         forget every topic, subscription and message; set projects and tokens
    POST /admin/tokens   the same "tokens" and "x509" maps, keeping the data (e.g. to expire a token)
    POST /admin/faults   a list of faults, each {"kind", "routes", "count", "seconds", ...}:
                           kind "status": answer "code" (e.g. 503, 429 with "retry_after") instead
                           kind "slow":   wait "delay" seconds, then answer normally
                           kind "hang":   wait "delay" seconds, then close without serving the request
                           kind "drop":   close the connection without an answer, the request unserved
                           kind "drop-after": serve the request, then close without an answer
                         "routes" (default all) names the routes hit: publish, pull, acknowledge,
                         topics, subscriptions, authx509; "count" requests (default unlimited)
                         and/or for "seconds" from now; an empty list ends every fault
    GET  /admin/state    topics with their message counts, subscriptions with their offsets,
                         requests per route, faults served

Run it as ``python -m tests.services.ams --port 0 --cert C --key K --capath D
--ready-file F``: it writes its port to F when it listens. With ``--cert`` it
speaks HTTPS (client certificates optional, verified against ``--capath``);
without, plain HTTP. :class:`AmsServer` starts and drives it from a test.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROUTES = ("publish", "pull", "acknowledge", "topics", "subscriptions", "authx509")
DEFAULT_ACK_DEADLINE = 10
LONG_POLL = 5.0  # seconds a pull without returnImmediately waits for a first message
MAX_REQUEST = 20 << 20  # bytes: a larger publish is 413, as AMS refuses too large messages

PATH = re.compile(r"^/v1/projects/(?P<project>[^/:]+)/(?P<kind>topics|subscriptions)"
                  r"(?:/(?P<name>[^/:]+)(?::(?P<verb>[A-Za-z]+))?)?$")
AUTHX509 = re.compile(r"^/v1/service-types/ams/hosts/[^/:]+:authx509$")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
          405: "METHOD_NOT_ALLOWED", 408: "TIMEOUT", 409: "ALREADY_EXISTS", 413: "INVALID_ARGUMENT",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL_SERVER_ERROR", 502: "BAD_GATEWAY",
          503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _now_zulu() -> str:
    now = time.time_ns()
    stamp = dt.datetime.fromtimestamp(now // 1_000_000_000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{now % 1_000_000_000:09d}Z"


class Subscription:
    def __init__(self, project: str, name: str, topic: str, start: int, deadline: int):
        self.project, self.name, self.topic = project, name, topic
        self.ack_deadline = deadline
        self.start = start  # the first message it sees
        self.offset = start  # the first message not acknowledged
        self.next_offset = start  # the next message a pull delivers
        self.pulled_at: float | None = None  # last pull that left messages awaiting acknowledgement

    def describe(self) -> dict:
        return {"name": f"/projects/{self.project}/subscriptions/{self.name}",
                "topic": f"/projects/{self.project}/topics/{self.topic}",
                "pushConfig": {"pushEndpoint": "", "retryPolicy": {}},
                "ackDeadlineSeconds": self.ack_deadline}

    def expired(self, now: float) -> bool:
        return self.pulled_at is not None and now > self.pulled_at + self.ack_deadline


class Fault:
    def __init__(self, spec: dict):
        self.kind = spec.get("kind", "status")
        if self.kind not in ("status", "slow", "hang", "drop", "drop-after"):
            raise ApiError(400, f"unknown fault kind {self.kind!r}")
        self.routes = set(spec.get("routes") or ROUTES)
        self.count = spec.get("count")
        self.until = time.monotonic() + spec["seconds"] if spec.get("seconds") else None
        self.code = int(spec.get("code", 503))
        self.retry_after = spec.get("retry_after")
        self.delay = float(spec.get("delay", 1.0))

    def takes(self, route: str, now: float) -> bool:
        """Whether this fault hits a request of ``route`` now (and counts it)."""
        if route not in self.routes or (self.until is not None and now > self.until):
            return False
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
        return True


class State:
    """Every project's topics, messages and subscriptions, tokens and faults; one lock for all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.published = threading.Condition(self.lock)
        self.reset({"projects": ["accounting"], "tokens": {}})

    def reset(self, spec: dict) -> None:
        self.projects = {name: {"topics": {}, "subscriptions": {}} for name in spec.get("projects", [])}
        self.requests: dict[str, int] = {}
        self.faults: list[Fault] = []
        self.faults_served = 0
        self.set_tokens(spec)

    def set_tokens(self, spec: dict) -> None:
        self.tokens = {token: set(projects) for token, projects in spec.get("tokens", {}).items()}
        self.x509 = dict(spec.get("x509", {}))

    def snapshot(self) -> dict:
        return {
            "projects": {
                name: {"topics": {t: len(messages) for t, messages in project["topics"].items()},
                       "subscriptions": {s: {"topic": sub.topic, "offset": sub.offset,
                                             "next_offset": sub.next_offset,
                                             "ackDeadlineSeconds": sub.ack_deadline}
                                         for s, sub in project["subscriptions"].items()}}
                for name, project in self.projects.items()},
            "requests": dict(self.requests),
            "faults_served": self.faults_served,
        }

    # -- the API, called with the lock held ---------------------------------------------

    def project(self, name: str) -> dict:
        if name not in self.projects:
            raise ApiError(404, "project doesn't exist")
        return self.projects[name]

    def topic(self, project: str, name: str) -> list:
        topics = self.project(project)["topics"]
        if name not in topics:
            raise ApiError(404, "Topic doesn't exist")
        return topics[name]

    def subscription(self, project: str, name: str) -> Subscription:
        subs = self.project(project)["subscriptions"]
        if name not in subs:
            raise ApiError(404, "Subscription doesn't exist")
        return subs[name]

    def publish(self, project: str, topic: str, body: dict) -> dict:
        messages = self.topic(project, topic)
        incoming = body.get("messages")
        if not isinstance(incoming, list) or not incoming:
            raise ApiError(400, "Invalid Message Arguments")
        for message in incoming:
            if not isinstance(message, dict) or not (message.get("data") or message.get("attributes")):
                raise ApiError(400, "Message must have data or attributes")
            try:
                base64.b64decode(message.get("data") or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise ApiError(400, "Message data must be base64") from None
            if not isinstance(message.get("attributes", {}), dict):
                raise ApiError(400, "Message attributes must be a map")
        ids = []
        for message in incoming:
            offset = len(messages)
            stored = {"messageId": str(offset), "data": message.get("data") or "", "publishTime": _now_zulu()}
            if message.get("attributes"):
                # Real AMS leaves an empty attribute map out of what it delivers (omitempty).
                stored["attributes"] = message["attributes"]
            messages.append(stored)
            ids.append(str(offset))
        self.published.notify_all()
        return {"messageIds": ids}

    def pull(self, project: str, name: str, body: dict) -> dict:
        sub = self.subscription(project, name)
        try:
            wanted = int(body.get("maxMessages", 1))
        except (TypeError, ValueError):
            raise ApiError(400, "maxMessages must be a number") from None
        if wanted < 1:
            raise ApiError(400, "maxMessages must be positive")
        immediately = str(body.get("returnImmediately", "false")).lower() == "true"
        waited_until = time.monotonic() + LONG_POLL
        while True:
            now = time.monotonic()
            if sub.expired(now):  # nothing was acknowledged in time: deliver it all again
                sub.next_offset, sub.pulled_at = sub.offset, None
            messages = self.topic(project, sub.topic)
            batch = messages[sub.next_offset:sub.next_offset + wanted]
            if batch or immediately or now >= waited_until:
                break
            self.published.wait(waited_until - now)
            sub = self.subscription(project, name)  # it may have been deleted meanwhile
        received = [{"ackId": f"projects/{project}/subscriptions/{name}:{sub.next_offset + n}",
                     "message": message} for n, message in enumerate(batch)]
        if batch:
            sub.next_offset += len(batch)
            sub.pulled_at = time.monotonic()
        return {"receivedMessages": received}

    def acknowledge(self, project: str, name: str, body: dict) -> dict:
        sub = self.subscription(project, name)
        ids = body.get("ackIds")
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "Invalid ack parameter")
        prefix = f"projects/{project}/subscriptions/{name}:"
        offsets = []
        for ack_id in ids:
            if not isinstance(ack_id, str) or not ack_id.startswith(prefix) or not ack_id[len(prefix):].isdigit():
                raise ApiError(400, "Invalid ack id")
            offsets.append(int(ack_id[len(prefix):]))
        last = max(offsets)
        if last >= sub.next_offset:
            raise ApiError(400, "Invalid ack id")  # never delivered
        if last < sub.offset:
            return {}  # acknowledged already
        if sub.expired(time.monotonic()):
            raise ApiError(408, "ack timeout")
        sub.offset = last + 1
        if sub.offset >= sub.next_offset:
            sub.pulled_at = None
        return {}

    def offsets(self, project: str, name: str) -> dict:
        sub = self.subscription(project, name)
        return {"max": len(self.topic(project, sub.topic)) - 1, "min": sub.start, "current": sub.offset}

    def create_subscription(self, project: str, name: str, body: dict) -> dict:
        subs = self.project(project)["subscriptions"]
        topic_path = str(body.get("topic", "")).strip("/")
        prefix = f"projects/{project}/topics/"
        if not topic_path.startswith(prefix):
            raise ApiError(400, "Invalid topic name")
        topic = topic_path[len(prefix):]
        messages = self.topic(project, topic)
        if name in subs:
            raise ApiError(409, "Subscription already exists")
        deadline = body.get("ackDeadlineSeconds", DEFAULT_ACK_DEADLINE)
        if not isinstance(deadline, int) or not 0 <= deadline <= 600:
            raise ApiError(400, "Invalid ackDeadlineSeconds (0-600)")
        subs[name] = Subscription(project, name, topic, len(messages), deadline)
        return subs[name].describe()


def _dn(peercert: dict) -> str:
    names = {"countryName": "C", "organizationName": "O", "organizationalUnitName": "OU",
             "commonName": "CN", "localityName": "L", "domainComponent": "DC", "stateOrProvinceName": "ST"}
    return "".join(f"/{names.get(key, key)}={value}" for rdn in peercert.get("subject", ()) for key, value in rdn)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AMS behind its balancer
    server_version = "apeltools-test-ams/1"
    state: State  # set on the class by serve()

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read the state instead
        pass

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/admin/"):
            self._admin(method, url.path, raw)
            return
        route = self._route(url.path)
        fault = self._fault(route)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        elif fault is not None and fault.kind in ("drop", "hang"):
            if fault.kind == "hang":
                time.sleep(fault.delay)
            self._drop()
            return
        elif fault is not None and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._error(fault.code, "injected fault", headers)
            return
        try:
            if len(raw) > MAX_REQUEST:
                raise ApiError(413, "Message size too large")
            answer = self._api(method, url, raw)
        except ApiError as error:
            self._error(error.code, error.message)
            return
        if fault is not None and fault.kind == "drop-after":
            self._drop()
            return
        self._send(200, answer)

    def _route(self, path: str) -> str:
        if AUTHX509.match(path):
            return "authx509"
        match = PATH.match(path)
        if match and match["verb"] in ("publish", "pull", "acknowledge"):
            return match["verb"]
        return match["kind"] if match else "other"

    def _fault(self, route: str) -> Fault | None:
        state = self.state
        with state.lock:
            state.requests[route] = state.requests.get(route, 0) + 1
            now = time.monotonic()
            for fault in state.faults:
                if fault.takes(route, now):
                    state.faults_served += 1
                    return fault
        return None

    def _api(self, method: str, url, raw: bytes) -> dict:
        state = self.state
        if AUTHX509.match(url.path):
            return self._authx509()
        match = PATH.match(url.path)
        if not match:
            raise ApiError(404, "Not found")
        project, kind, name, verb = match["project"], match["kind"], match["name"], match["verb"]
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ApiError(400, "Poorly formatted JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Poorly formatted JSON")
        token = self.headers.get("x-api-key") or (parse_qs(url.query).get("key") or [None])[0]
        with state.lock:
            if not token or token not in state.tokens:
                raise ApiError(401, "Unauthorized")
            state.project(project)
            if project not in state.tokens[token] and "*" not in state.tokens[token]:
                raise ApiError(403, "Access to this resource is forbidden")
            return self._call(state, method, project, kind, name, verb, body)

    @staticmethod
    def _call(state: State, method, project, kind, name, verb, body) -> dict:
        items = state.project(project)[kind]
        if name is None:
            if method != "GET":
                raise ApiError(405, "Method not allowed")
            if kind == "topics":
                return {"topics": [{"name": f"/projects/{project}/topics/{t}"} for t in items]}
            return {"subscriptions": [sub.describe() for sub in items.values()]}
        if verb is not None:
            if (kind, verb, method) == ("subscriptions", "offsets", "GET"):
                return state.offsets(project, name)
            calls = {("topics", "publish"): state.publish, ("subscriptions", "pull"): state.pull,
                     ("subscriptions", "acknowledge"): state.acknowledge}
            if method != "POST" or (kind, verb) not in calls:
                raise ApiError(404 if (kind, verb) not in calls else 405, "Not found")
            return calls[kind, verb](project, name, body)
        if kind == "topics":
            if method == "PUT":
                if name in items:
                    raise ApiError(409, "Topic already exists")
                items[name] = []
                return {"name": f"/projects/{project}/topics/{name}"}
            state.topic(project, name)
            if method == "DELETE":
                del items[name]
                for sub_name in [s for s, sub in state.project(project)["subscriptions"].items() if sub.topic == name]:
                    del state.project(project)["subscriptions"][sub_name]
                return {}
            return {"name": f"/projects/{project}/topics/{name}"}
        if method == "PUT":
            return state.create_subscription(project, name, body)
        sub = state.subscription(project, name)
        if method == "DELETE":
            del items[name]
            return {}
        return sub.describe()

    def _authx509(self) -> dict:
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if not peer:
            raise ApiError(401, "No certificate provided")
        dn = _dn(peer)
        with self.state.lock:
            token = self.state.x509.get(dn)
        if token is None:
            raise ApiError(401, f"no AMS user for {dn}")
        return {"token": token}

    def _admin(self, method: str, path: str, raw: bytes) -> None:
        state = self.state
        try:
            spec = json.loads(raw) if raw.strip() else {}
            with state.lock:
                if method == "GET" and path == "/admin/state":
                    answer = state.snapshot()
                elif method == "POST" and path == "/admin/reset":
                    state.reset(spec)
                    answer = {}
                elif method == "POST" and path == "/admin/tokens":
                    state.set_tokens(spec)
                    answer = {}
                elif method == "POST" and path == "/admin/faults":
                    state.faults = [Fault(fault) for fault in spec.get("faults", [])]
                    answer = {}
                else:
                    raise ApiError(404, "Not found")
        except ValueError:
            self._error(400, "Poorly formatted JSON")
            return
        except ApiError as error:
            self._error(error.code, error.message)
            return
        self._send(200, answer)

    def _error(self, code: int, message: str, headers: dict | None = None) -> None:
        self._send(code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "ERROR")}},
                   headers)

    def _send(self, code: int, answer: dict, headers: dict | None = None) -> None:
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, context: ssl.SSLContext | None):
        super().__init__(address, Handler)
        self.context = context

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, on the request's own thread, not in the accept loop.
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def serve(host: str, port: int, cert: str | None, key: str | None, capath: str | None,
          ready_file: str | None) -> None:
    context = None
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if capath:
            context.load_verify_locations(capath=capath)
            context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate only for :authx509
    Handler.state = State()
    server = Server((host, port), context)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if ready_file:
        tmp = f"{ready_file}.tmp"
        Path(tmp).write_text(str(server.server_address[1]))
        os.replace(tmp, ready_file)
    server.serve_forever(poll_interval=0.2)


class AmsServer:
    """The AMS stand-in as a child process, and the admin calls a test makes to it.

    ``tls`` is a ``(cert, key, capath)`` triple for HTTPS; the host name in the
    certificate must be ``host`` (``localhost`` by default).
    """

    def __init__(self, state_dir, tls: tuple[str, str, str] | None = None, host: str = "localhost"):
        self.state_dir = Path(state_dir)
        self.tls = tls
        self.host = host
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.ca = None  # the CA of its certificate, when made by with_test_pki (it issues client certificates)

    @classmethod
    def with_test_pki(cls, state_dir) -> AmsServer:
        """A server speaking HTTPS with a certificate for ``localhost`` from a CA of its own.

        ``server.ca`` issues client certificates (for :authx509) and
        ``server.tls[2]`` is a hashed directory trusting it.
        """
        from apeltools.demo.pki import make_ca, make_host, write_ca_dir

        state_dir = Path(state_dir)
        ca = make_ca("/C=XX/O=apeltools/CN=AMS Test CA")
        cert, key = make_host(ca, "localhost").write(state_dir / "tls", "localhost")
        capath = write_ca_dir(state_dir / "tls" / "capath", [ca])
        server = cls(state_dir, (str(cert), str(key), str(capath)))
        server.ca = ca
        return server

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        """``host:port``, as AMS clients take it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.endpoint}"

    def start(self, timeout: float = 30.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / "port"
        ready.unlink(missing_ok=True)
        command = [sys.executable, "-m", "tests.services.ams", "--host", "127.0.0.1", "--port", "0",
                   "--ready-file", str(ready)]
        if self.tls:
            cert, key, capath = self.tls
            command += ["--cert", cert, "--key", key, "--capath", capath]
        root = Path(__file__).resolve().parents[2]
        log = open(self.state_dir / "ams.log", "ab")
        self.process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"AMS stand-in did not start; see {self.state_dir / 'ams.log'}")
            time.sleep(0.05)
        self.port = int(ready.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def admin(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> dict:
        """Call a test-control endpoint (``/admin/...``), or with ``headers`` any other."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        context = None
        if self.tls:
            context = ssl.create_default_context(capath=self.tls[2])
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return json.loads(answer.read() or b"{}")

    def create(self, topic: str, subscription: str | None = None, ack_deadline: int = DEFAULT_ACK_DEADLINE,
               project: str = "accounting", token: str = "secret") -> None:
        """Create a topic and a subscription to it through the API."""
        base, key = f"/v1/projects/{project}", {"x-api-key": token}
        self.admin("PUT", f"{base}/topics/{topic}", headers=key)
        if subscription:
            self.admin("PUT", f"{base}/subscriptions/{subscription}",
                       {"topic": f"projects/{project}/topics/{topic}", "ackDeadlineSeconds": ack_deadline}, key)

    def reset(self, projects=("accounting",), tokens: dict | None = None, x509: dict | None = None) -> None:
        """Empty the server: ``projects``, ``tokens`` (token → projects) and ``x509`` (DN → token)."""
        self.admin("POST", "/admin/reset", {"projects": list(projects), "tokens": tokens or {},
                                            "x509": x509 or {}})

    def set_tokens(self, tokens: dict, x509: dict | None = None) -> None:
        self.admin("POST", "/admin/tokens", {"tokens": tokens, "x509": x509 or {}})

    def faults(self, *faults: dict) -> None:
        """Serve these faults from now on (none: end every fault)."""
        self.admin("POST", "/admin/faults", {"faults": list(faults)})

    def state(self) -> dict:
        return self.admin("GET", "/admin/state")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", help="server certificate (PEM): HTTPS")
    parser.add_argument("--key", help="its private key")
    parser.add_argument("--capath", help="hashed CA directory that verifies client certificates")
    parser.add_argument("--ready-file", help="write the port here once listening")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.cert, args.key, args.capath, args.ready_file)


if __name__ == "__main__":
    main()
