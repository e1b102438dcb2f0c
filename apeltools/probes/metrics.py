"""metricOutput messages (passive check results) and the Nagios external commands made from them.

A message is ``key: value`` lines ended by a line ``EOT`` (formats.md §6),
with ``serviceURI, hostName, serviceFlavour, siteName, metricStatus,
metricName, summaryData, gatheredAt, timestamp`` and optionally
``detailsData``, ``role``, ``voName``. A multi-line value (``detailsData``)
has its line breaks written as ``\\n``, so that every field stays on one line.
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass

from apeltools.clock import iso
from apeltools.errors import ApelError
from apeltools.quoting import quote

REQUIRED = ("serviceURI", "hostName", "serviceFlavour", "siteName", "metricStatus", "metricName",
            "summaryData", "gatheredAt", "timestamp")
OPTIONAL = ("detailsData", "role", "voName")
STATUS_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
SERVICE_FLAVOUR = "APEL"


class MetricError(ApelError):
    """A metric message that cannot be read."""


@dataclass
class MetricResult:
    host: str
    site: str
    metric: str
    status: str
    summary: str
    timestamp: dt.datetime
    details: str = ""
    flavour: str = SERVICE_FLAVOUR
    gathered_at: str | None = None


def _one_line(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


def render(result: MetricResult) -> str:
    """The text of one metricOutput message."""
    fields = {
        "serviceURI": result.host,
        "hostName": result.host,
        "serviceFlavour": result.flavour,
        "siteName": result.site,
        "metricStatus": result.status,
        "metricName": result.metric,
        "summaryData": result.summary,
        "gatheredAt": result.gathered_at or socket.getfqdn(),
        "timestamp": iso(result.timestamp),
    }
    if result.details:
        fields["detailsData"] = result.details
    return "".join(f"{key}: {_one_line(value)}\n" for key, value in fields.items()) + "EOT\n"


def _unescape(value: str) -> str:
    out, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)


def parse(text: str) -> list[dict]:
    """Every message of a body (one or more, each ended by ``EOT``) as a dict; MetricError if bad."""
    messages, current = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.strip() == "EOT":
            messages.append(_checked(current))
            current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise MetricError(f"line {number} is not 'key: value': {quote(line)}")
        current[key.strip()] = _unescape(value.strip())
    if current:
        raise MetricError("message does not end with a line EOT")
    if not messages:
        raise MetricError("no metric message in the body")
    return messages


def _checked(fields: dict) -> dict:
    missing = [key for key in REQUIRED if not fields.get(key)]
    if missing:
        raise MetricError(f"metric message lacks {', '.join(missing)}")
    if fields["metricStatus"].upper() not in STATUS_CODES:
        raise MetricError(f"unknown metricStatus {quote(fields['metricStatus'])}")
    try:
        dt.datetime.strptime(fields["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise MetricError(f"timestamp {quote(fields['timestamp'])} is not YYYY-MM-DDThh:mm:ssZ") from None
    return fields


def nagios_commands(text: str) -> list[str]:
    """The Nagios external command of every message of a body; MetricError if any message is bad."""
    return [nagios_command(fields) for fields in parse(text)]


def nagios_command(fields: dict) -> str:
    """``[<epoch>] PROCESS_SERVICE_CHECK_RESULT;<host>;<service>;<code>;<output>`` for one message.

    The output is the summary, then the details as long output (Nagios reads
    a literal ``\\n`` in an external command as a line break); ``;`` cannot
    appear in the host or service name.
    """
    moment = dt.datetime.strptime(fields["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    output = fields["summaryData"]
    if fields.get("detailsData"):
        output += "\n" + fields["detailsData"]
    output = output.replace("\r", "").replace("\n", "\\n")
    host, service = fields["hostName"], fields["metricName"]
    if ";" in host or ";" in service:
        raise MetricError(f"';' in host {quote(host)} or service {quote(service)}")
    code = STATUS_CODES[fields["metricStatus"].upper()]
    return f"[{int(moment.timestamp())}] PROCESS_SERVICE_CHECK_RESULT;{host};{service};{code};{output}"
