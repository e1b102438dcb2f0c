"""What apel-publish remembers per source and destination (migration 006): watermarks and the groups sent.

A ``latest`` publish keeps, per record source and destination, the time up to
which it sent (its watermark), and, for summary sources, the groups (natural
keys) it sent per site-month, so that a group that disappeared can be sent
zeroed. Destinations and groups are stored by their SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from apeltools.db.base import Database
from apeltools.records.fields import epoch_of_sql_time

LEGACY_MARK_LENGTH = 50  # LastUpdated names of before migration 006 were cut to this
_GROUP_COLUMNS = ("DestinationHash", "Source", "GroupHash", "Site", "Year", "Month", "GroupKey")
_GROUP_CHUNK = 500


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def get_watermark(db: Database, source: str, destination: str) -> int | None:
    """Epoch seconds of the last ``latest`` publish of ``source`` to ``destination``, or None.

    A watermark kept before migration 006 (a LastUpdated row named
    ``publish <source> <destination>``) is adopted here at its first use when
    its name was not cut to 50 characters; a cut name may have been moved by
    another source's publish, so it is ignored and this source publishes
    everything once more (receivers replace by natural key).
    """
    rows = db.query("SELECT UpdateTime FROM PublishWatermarks WHERE Source = ? AND DestinationHash = ?",
                    (source, _digest(destination)))
    if rows:
        return epoch_of_sql_time(rows[0][0])
    legacy = f"publish {source} {destination}"
    epoch = db.get_mark(legacy) if len(legacy) <= LEGACY_MARK_LENGTH else None
    if epoch is not None:
        with db.transaction():
            set_watermark(db, source, destination, epoch)
            db.execute("DELETE FROM LastUpdated WHERE Type = ?", (legacy,))
    return epoch


def set_watermark(db: Database, source: str, destination: str, epoch: int) -> None:
    """Keep epoch seconds as the ``latest`` watermark of ``source`` to ``destination``."""
    digest = _digest(destination)
    with db.transaction():
        db.execute("DELETE FROM PublishWatermarks WHERE Source = ? AND DestinationHash = ?", (source, digest))
        db.execute("INSERT INTO PublishWatermarks (Source, DestinationHash, Destination, UpdateTime) "
                   f"VALUES (?, ?, ?, {db.TIME_MARK})", (source, digest, destination, epoch))


def _group_text(key: Iterable[Any]) -> str:
    return json.dumps(list(key), separators=(",", ":"))


def remember_groups(db: Database, source: str, destination: str,
                    groups: Iterable[tuple[Any, int, int, Iterable[Any]]]) -> None:
    """Note that groups ``[(site, year, month, key)]`` of ``source`` went to ``destination``
    (``key``: the values of the record type's natural key)."""
    digest = _digest(destination)
    rows: dict[str, tuple[Any, ...]] = {}
    for site, year, month, key in groups:
        text = _group_text(key)
        rows[_digest(text)] = (digest, source, _digest(text), site, year, month, text)
    with db.transaction():
        _delete_groups(db, digest, source, list(rows))
        db.insert_rows("PublishedGroups", _GROUP_COLUMNS, list(rows.values()))


def forget_groups(db: Database, source: str, destination: str, keys: Iterable[Iterable[Any]]) -> None:
    """Forget groups (natural key values) of ``source`` at ``destination``."""
    with db.transaction():
        _delete_groups(db, _digest(destination), source, [_digest(_group_text(key)) for key in keys])


def _delete_groups(db: Database, digest: str, source: str, hashes: list[str]) -> None:
    for start in range(0, len(hashes), _GROUP_CHUNK):
        chunk = hashes[start:start + _GROUP_CHUNK]
        db.execute("DELETE FROM PublishedGroups WHERE DestinationHash = ? AND Source = ? AND GroupHash IN "
                   f"({', '.join('?' * len(chunk))})", [digest, source, *chunk])


def published_months(db: Database, source: str, destination: str) -> set:
    """{(site, year, month)} of the groups of ``source`` remembered for ``destination``."""
    return {tuple(row) for row in db.query(
        "SELECT DISTINCT Site, Year, Month FROM PublishedGroups WHERE DestinationHash = ? AND Source = ?",
        (_digest(destination), source))}


def published_groups(db: Database, source: str, destination: str, site: str, year: int, month: int) -> set:
    """{key} of the groups of one site-month of ``source`` remembered for ``destination``."""
    return {tuple(json.loads(row[0])) for row in db.query(
        "SELECT GroupKey FROM PublishedGroups WHERE DestinationHash = ? AND Source = ? AND Site = ? "
        "AND Year = ? AND Month = ?", (_digest(destination), source, site, year, month))}
