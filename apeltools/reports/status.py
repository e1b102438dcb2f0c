"""Status pages: ``index.html`` and per site ``<SITE>_Pub.html``, ``<SITE>_Sync.html`` and ``<SITE>.json``.

The pages carry the words the monitoring infrastructure's generic
HTTP-parsing probe searches for (``OK``, ``WARN``, ``ERROR``) with the same
semantics as check_apel_pub and check_apel_sync; the JSON is what those
probes read with ``--url``. Every file is replaced atomically.
"""

from __future__ import annotations

import json
import logging
import os

import nagiosplugin

from apeltools.clock import iso
from apeltools.db import monitoring
from apeltools.files import atomic_write
from apeltools.probes.publishing import (GAP_TEXT, PAGE_WORDS, PUB_CRITICAL, PUB_WARNING, SYNC_CRITICAL,
                                         months_back)
from apeltools.probes.runtime import WARNING
from apeltools.probes.sources import DatabaseSource, status_document
from apeltools.quoting import quote
from apeltools.reports import charts, environment

log = logging.getLogger(__name__)

STATES = {word: state for state, word in PAGE_WORDS.items()}


def _count(value):
    return "not reported" if value is None else str(value)


def sync_state(document: dict) -> int:
    """A site's Sync state over the months of its page: the worst month's (each decided by
    SyncMonth.state), WARNING with no counts on either side, as check_apel_sync aggregates them."""
    months = document["sync"]["months"]
    return max((STATES[m["status"]] for m in months), default=WARNING)


def gap_command(month: dict) -> str:
    """What the site runs to send a differing month again (apel-publish's gap interval)."""
    label = f"{month['year']:04d}-{month['month']:02d}"
    return f"apel-publish --interval gap --from {label} --to {label}"


def _sync_chart(document: dict) -> str:
    points = [(f"{m['year']:04d}-{m['month']:02d}", m["difference"]) for m in document["sync"]["months"]]
    return charts.columns(f"Sync difference per month, {document['site']}", points, "difference (%)", "month",
                          limit=1.0)


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
        f"{site}_Pub.html": environment.get_template("pub.html").render(pub=document["pub"], **common),
        f"{site}_Sync.html": environment.get_template("sync.html").render(
            months=document["sync"]["months"], since=document["sync"]["since"],
            state=PAGE_WORDS[sync_state(document)], chart=_sync_chart(document), command=gap_command, **common),
        f"{site}.json": json.dumps(document, indent=1) + "\n",
    }


def render_index(documents: list[dict], generated: str) -> str:
    """The page listing every site with its Pub and Sync state, worst first."""
    rows = []
    for document in documents:
        pub, sync = STATES[document["pub"]["status"]], sync_state(document)
        differing = sum(m["status"] != "OK" for m in document["sync"]["months"])
        rows.append({"site": document["site"], "pub": PAGE_WORDS[pub], "sync": PAGE_WORDS[sync],
                     "worst": max(pub, sync), "latest": (document["pub"]["latest_end_time"] or "")[:10],
                     "differing": differing, "months": len(document["sync"]["months"])})
    rows.sort(key=lambda row: (-row["worst"], row["site"]))
    counts = {word: sum(row["worst"] == state for row in rows) for state, word in PAGE_WORDS.items()}
    return environment.get_template("index.html").render(rows=rows, counts=counts, generated=generated)


def safe_name(site: str) -> bool:
    return bool(site) and "/" not in site and site not in (".", "..") and "\0" not in site


def write_status(db, directory: str, sites: list[str] | None, now, months: int = 6) -> list[str]:
    """Write the pages of ``sites`` (default: every site in the database); returns the files written."""
    os.makedirs(directory, exist_ok=True)
    source = DatabaseSource(db)
    written, documents = [], []
    for site in sites or monitoring.sites(db):
        if not safe_name(site):
            log.warning("site name %s cannot be a file name: no page written", quote(site))
            continue
        document = site_document(source, site, now, months)
        documents.append(document)
        for name, text in render_pages(document).items():
            path = os.path.join(directory, name)
            atomic_write(path, text)
            written.append(path)
    path = os.path.join(directory, "index.html")
    generated = documents[0]["generated"] if documents else iso(now)
    atomic_write(path, render_index(documents, generated))
    written.append(path)
    return written
