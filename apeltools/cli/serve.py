"""``apel-report serve``: a read-only web view of jobs and summaries, behind a web server that checks
client certificates.

A Flask application served by gunicorn. The front web server (Apache, nginx)
verifies the client certificate and passes its subject DN in a request
header ([serve] dn_header, default X-SSL-Client-S-DN; it must overwrite any
such header a client sends). A user sees their own jobs and summaries (the
DN as GlobalUserName); the DNs of [serve] admin_dn_file see everything.
Pages take apel-query's filters as query parameters (site, ce, vo, dn, fqan,
infrastructure, from, to), ``sort`` and ``desc``, ``page`` and
``per_page``, and ``format=csv`` or ``json`` for the same rows as data.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from urllib.parse import quote

from cryptography import x509
from flask import Flask, Response, abort, render_template_string, request
from gunicorn.app.base import BaseApplication

from apeltools import db as databases
from apeltools import query
from apeltools.cli.selection import filters_from
from apeltools.errors import ApelError
from apeltools.messaging.crypto.names import slash_dn

DN_HEADER = "X-SSL-Client-S-DN"
PER_PAGE, MAX_PER_PAGE = 100, 1000
# Columns a page may be sorted by; the view's own order breaks ties.
SORTABLE = {
    "jobs": ("Site", "SubmitHost", "LocalJobId", "GlobalUserName", "VO", "StartTime", "EndTime", "WallDuration",
             "CpuDuration"),
    "summaries": ("Site", "Year", "Month", "VO", "GlobalUserName", "SubmitHost", "NumberOfJobs", "WallDuration",
                  "CpuDuration"),
}
LISTS = ("site", "ce", "vo", "dn", "fqan")

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>APEL {{ what }}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
th,td{border:1px solid #999;padding:.2em .4em;white-space:nowrap}.scroll{overflow-x:auto}</style></head>
<body><nav><a href="jobs">Jobs</a> <a href="summaries">Summaries</a></nav>
<h1>{{ what|capitalize }}{% if not admin %} of {{ dn }}{% endif %}</h1>
<p>Page {{ page }}{% if rows %}: rows {{ first }} to {{ first + rows|length - 1 }}{% endif %}.
<a href="?{{ link(format='csv') }}">CSV</a> <a href="?{{ link(format='json') }}">JSON</a></p>
<div class="scroll"><table><tr>{% for column in columns %}<th>{% if column in sortable %}<a href="?{{ link(sort=column,
desc='' if sort == column and desc else '1', page=1) }}">{{ column }}</a>{% else %}{{ column }}{% endif %}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for value in row %}<td>{{ '' if value is none else value }}</td>{% endfor %}</tr>
{% endfor %}</table></div>
<p>{% if page > 1 %}<a href="?{{ link(page=page - 1) }}">Previous</a>{% endif %}
{% if more %}<a href="?{{ link(page=page + 1) }}">Next</a>{% endif %}</p>
</body></html>
"""


@dataclass
class Settings:
    db_url: str
    password: str | None = None
    admin_dns: frozenset = frozenset()
    dn_header: str = DN_HEADER


def read_admin_dns(path: str | None) -> frozenset:
    if not path:
        return frozenset()
    with open(path, encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip() and not line.startswith("#"))


def client_dn(value: str) -> str:
    """The DN in the slash form of the accounting records: front servers pass RFC 4514 (CN=...,O=...)."""
    value = value.strip()
    if value.startswith("/"):
        return value
    try:
        return slash_dn(x509.Name.from_rfc4514_string(value))
    except ValueError:
        abort(400, "the client certificate DN passed by the web server cannot be read")


def _filters(args, dn: str | None) -> query.Filters:
    values = {name: args.getlist(name) for name in LISTS}
    try:
        filters = filters_from(site=values["site"], submit_hosts=values["ce"], vo=values["vo"],
                               dns=[dn] if dn else values["dn"], fqans=values["fqan"],
                               infrastructure=args.get("infrastructure") or None, start=args.get("from") or None,
                               end=args.get("to") or None)
    except (ValueError, ApelError) as error:
        abort(400, str(error))
    return filters


def _number(args, name: str, default: int, largest: int) -> int:
    try:
        value = int(args.get(name, default))
    except ValueError:
        abort(400, f"{name} must be a whole number")
    if not 1 <= value <= largest:
        abort(400, f"{name} must be from 1 to {largest}")
    return value


def create_app(settings: Settings) -> Flask:
    app = Flask("apeltools.serve")

    @app.route("/")
    def index():
        return Response(status=302, headers={"Location": "jobs"})

    @app.route("/<source>")
    def rows(source):
        if source not in SORTABLE:
            abort(404)
        header = request.headers.get(settings.dn_header)
        if not header:
            abort(403, "no client certificate DN: reach this view through the web server that checks them")
        dn = client_dn(header)
        admin = dn in settings.admin_dns
        args = request.args
        filters = _filters(args, None if admin else dn)
        page = _number(args, "page", 1, 10 ** 9)
        per_page = _number(args, "per_page", PER_PAGE, MAX_PER_PAGE)
        sort, desc = args.get("sort") or "", bool(args.get("desc"))
        if sort and sort not in SORTABLE[source]:
            abort(400, f"sort must be one of {', '.join(SORTABLE[source])}")
        with databases.connect(settings.db_url, settings.password, read_only=True) as db:
            # One row more than the page shows tells whether there is a next page, without counting them all.
            answer = query.ask(db, source, filters, limit=per_page + 1, offset=(page - 1) * per_page,
                               order=(sort, desc) if sort else None)
        more = len(answer.rows) > per_page
        shown = answer.rows[:per_page]
        kind = args.get("format") or "html"
        if kind == "json":
            body = json.dumps({"columns": answer.columns, "rows": shown, "page": page, "more": more}, default=str)
            return Response(body, mimetype="application/json")
        if kind == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(answer.columns)
            writer.writerows(shown)
            return Response(out.getvalue(), mimetype="text/csv")

        def link(**changes):
            merged = {key: args.getlist(key) for key in args}
            merged.update({key: [str(value)] if value != "" else [] for key, value in changes.items()})
            return "&".join(f"{key}={quote(value, safe='')}" for key, values in merged.items() for value in values)

        return render_template_string(PAGE, what=source, dn=dn, admin=admin, columns=answer.columns, rows=shown,
                                      page=page, first=(page - 1) * per_page + 1, more=more, sort=sort, desc=desc,
                                      sortable=SORTABLE[source], link=link)

    return app


class _Server(BaseApplication):
    """gunicorn with our application object and options instead of its command line."""

    def __init__(self, app: Flask, options: dict):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def run(app: Flask, bind: str, workers: int) -> None:
    """Serve ``app`` with gunicorn (pre-forked sync workers) until SIGTERM or Ctrl-C."""
    # No control socket: nothing here would use it, and the service's home may not be writable.
    # graceful_timeout: on SIGTERM a worker gets 10 s to finish its request (pages take well under
    # a second) instead of gunicorn's 30, so that a stop (systemd, a test's teardown) is prompt.
    _Server(app, {"bind": bind, "workers": workers, "accesslog": "-", "timeout": 60, "graceful_timeout": 10,
                  "control_socket_disable": True}).run()
