"""The current time in UTC, which tests and dry runs may fix with a hidden ``--now`` option."""

import datetime as dt

from apeltools.errors import ConfigError
from apeltools.quoting import quote

UTC = dt.timezone.utc


def parse_now(text=None):
    """``text`` (epoch seconds or ISO 8601, UTC unless it says otherwise) as a UTC datetime; now when None."""
    if not text:
        return dt.datetime.now(UTC)
    try:
        return dt.datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now must be epoch seconds or an ISO 8601 time, not {quote(text)}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(moment):
    """``YYYY-MM-DDThh:mm:ssZ``, the form of metric messages and status JSON."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
