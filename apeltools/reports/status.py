"""Per-site status pages: ``<SITE>_Pub.html``, ``<SITE>_Sync.html`` and ``<SITE>.json``.

The pages carry the words the monitoring infrastructure's generic
HTTP-parsing probe searches for (``OK``, ``WARN``, ``ERROR``) with the same
semantics as check_apel_pub and check_apel_sync; the JSON is what those
probes read with ``--url``. Every file is replaced atomically.
"""

from __future__ import annotations

import json
import logging
import os

import jinja2
import nagiosplugin

from apeltools.files import atomic_write
from apeltools.db import monitoring
from apeltools.probes.publishing import GAP_TEXT, PUB_CRITICAL, PUB_WARNING, SYNC_CRITICAL, months_back
from apeltools.probes.sources import DatabaseSource, status_document

log = logging.getLogger(__name__)

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("apeltools.reports", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def _count(value):
    return "not reported" if value is None else str(value)


def site_document(source, site, now, months=6, pub_warning=PUB_WARNING, pub_critical=PUB_CRITICAL,
                  sync_critical=SYNC_CRITICAL) -> dict:
    """The status JSON of one site (see :func:`apeltools.probes.sources.status_document`)."""
    pub = source.pub(site, now)
    pub_state = pub.state(nagiosplugin.Range(pub_warning), nagiosplugin.Range(pub_critical))
    since = months_back(now, months)[0]
    sync = source.sync(site, since)
    states = [month.state(nagiosplugin.Range(sync_critical)) for month in sync]
    document = status_document(pub, pub_state, sync, states, now)
    document["sync"]["since"] = f"{since[0]:04d}-{since[1]:02d}"
    return document


def render_pages(document: dict) -> dict[str, str]:
    """{file name: text} of a site's pages and JSON."""
    site = document["site"]
    common = {"site": site, "generated": document["generated"], "count": _count, "gap_text": GAP_TEXT}
    return {
        f"{site}_Pub.html": _environment.get_template("pub.html").render(pub=document["pub"], **common),
        f"{site}_Sync.html": _environment.get_template("sync.html").render(
            months=document["sync"]["months"], since=document["sync"]["since"], **common),
        f"{site}.json": json.dumps(document, indent=1) + "\n",
    }


def safe_name(site: str) -> bool:
    return bool(site) and "/" not in site and site not in (".", "..") and "\0" not in site


def write_status(db, directory: str, sites: list[str] | None, now, months: int = 6) -> list[str]:
    """Write the pages of ``sites`` (default: every site in the database); returns the files written."""
    os.makedirs(directory, exist_ok=True)
    source = DatabaseSource(db)
    written = []
    for site in sites or monitoring.sites(db):
        if not safe_name(site):
            log.warning("site name %r cannot be a file name: no page written", site)
            continue
        for name, text in render_pages(site_document(source, site, now, months)).items():
            path = os.path.join(directory, name)
            atomic_write(path, text)
            written.append(path)
    return written
