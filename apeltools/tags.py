"""User tags on jobs: ``key=value`` labels that people attach to their jobs (the provenance seed).

A job has at most one value per key; tagging a key again replaces its value.
Tags are stored on batch records (a job run twice under one id has two, both
tagged), chosen by batch job id or by a ``JobSelection``. Every change is
all or nothing: bad input is refused before anything is written, and the
writes run in one transaction.
"""

import re
from dataclasses import dataclass

from apeltools.db import lifecycle as sql
from apeltools.errors import ApelError
from apeltools.lifecycle import JobSelection, read_jobs
from apeltools.query import Answer
from apeltools.quoting import quote

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
MAX_VALUE = 255


class TagError(ApelError):
    """A malformed tag, or a job that is not there."""


def parse_tag(text: str) -> tuple[str, str]:
    """(key, value) of ``key=value``; the key a letter or _ then letters, digits, ``_.:-`` (64 at most),
    the value any non-empty printable text of up to 255 characters."""
    key, sep, value = text.partition("=")
    if not sep:
        raise TagError(f"malformed tag {quote(text)}: expected key=value")
    _check_key(key, text)
    if not value or len(value) > MAX_VALUE or not value.isprintable():
        raise TagError(f"malformed tag {quote(text)}: the value must be 1 to {MAX_VALUE} printable characters")
    return key, value


def parse_removal(text: str) -> tuple[str, str | None]:
    """(key, value) of ``key=value`` (remove that value), or (key, None) of ``key`` (remove the key)."""
    if "=" in text:
        return parse_tag(text)
    _check_key(text, text)
    return text, None


def _check_key(key, text):
    if not KEY.fullmatch(key):
        raise TagError(f"malformed tag {quote(text)}: a key is a letter or _ then up to 63 letters, digits or _.:-")


@dataclass
class TagChange:
    jobs: int  # batch records chosen
    changed: int  # tags written or removed


def chosen_ids(db, job_ids=(), selection: JobSelection | None = None) -> list[int]:
    """Batch record ids of the given batch job ids (every one must exist) or of a selection."""
    if job_ids:
        found = sql.ids_of_jobs(db, job_ids)
        missing = [job_id for job_id in job_ids if job_id not in found]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise TagError(f"unknown job {quote(missing[0])}{more}: nothing was tagged")
        return sorted({record_id for ids in found.values() for record_id in ids})
    if selection is None:
        raise TagError("choose jobs by id or by filters")
    return [job.id for job in read_jobs(db, selection)]


def change_tags(db, add=(), remove=(), job_ids=(), selection: JobSelection | None = None) -> TagChange:
    """Add ``add`` and remove ``remove`` (parsed pairs) on the chosen jobs, in one transaction."""
    if not add and not remove:
        raise TagError("nothing to do: give tags to add or remove")
    ids = chosen_ids(db, job_ids, selection)
    add = list(dict(add).items())  # one value per key: the last given
    changed = 0
    with db.transaction():
        changed += sql.remove_tags(db, ids, remove)
        changed += sql.set_tags(db, ids, add)
    return TagChange(len(ids), changed)


def list_tags(db, job_ids=(), selection: JobSelection | None = None) -> Answer:
    """One row per tag of the chosen jobs: job id, batch system, end time, key, value."""
    rows = []
    if job_ids:
        wanted = JobSelection(job_ids=tuple(job_ids), site=selection.site if selection else None)
        chosen_ids(db, job_ids)  # unknown ids are an error here too
        selection = wanted
    for job in read_jobs(db, selection or JobSelection()):
        rows += [[job.job_id, job.batch_system, job.end, key, value] for key, value in sorted(job.tags.items())]
    return Answer(["JobId", "BatchSystem", "EndTime", "Key", "Value"], rows)
