"""Quoting input in messages: at most a short, escaped prefix of it, however long it is.

Every message that shows text from input (stderr, logs, reject reasons, exceptions, probe
output) quotes it with :func:`quote`, so a 50 MB one-line file costs one line of stderr, not
50 MB of it, and control characters cannot reach a terminal raw.
"""

from __future__ import annotations

LIMIT = 80


def quote(text: object, limit: int = LIMIT, bare: bool = False) -> str:
    """``text`` as a Python literal (``repr``), cut to its first ``limit`` characters.

    A cut text ends in an ellipsis inside the quotes and is followed by its full length.
    ``bare`` leaves out the quotes (and the escaping), for messages whose wording the deployed
    tools fixed, such as ``Message type … not recognised.``:

    >>> quote("abc")
    "'abc'"
    >>> quote("x" * 1000, limit=5)
    "'xxxxx…' (1,000 characters)"
    >>> quote("x" * 1000, limit=5, bare=True)
    'xxxxx… (1,000 characters)'
    """
    if not isinstance(text, (str, bytes)):
        text = str(text)
    if len(text) <= limit:
        return str(text) if bare else repr(text)
    unit = "bytes" if isinstance(text, bytes) else "characters"
    if bare:
        return f"{text[:limit]!s}… ({len(text):,} {unit})"
    cut = repr(text[:limit])
    return f"{cut[:-1]}…{cut[-1]} ({len(text):,} {unit})"
