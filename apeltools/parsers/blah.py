"""The CE's blah accounting log: one grid job per line, as ``"key=value"`` tokens in double quotes.

``"timestamp=2024-04-15 10:20:30" "userDN=/C=UK/CN=Alice" "userFQAN=/atlas/Role=production"
"userFQAN=/atlas" "ceID=ce01.example.org:8443/cream-pbs-long" "jobID=CREAM0123"
"lrmsID=1234.torque.example.org" "localUser=atlas001" "clientID=cream_0123"``;
the timestamp is UTC, the first ``userFQAN`` is the primary one, ``lrmsID`` is
the batch system's job id (the join key) and ``ceID`` becomes the SubmitHost.
"""

import re

from apeltools.parsers.base import ParseError, Parser, utc_epoch
from apeltools.records.site import BlahRecord

TOKEN = re.compile(r'"([A-Za-z]+)=([^"]*)"')


class BlahParser(Parser):
    name = "blah"

    def parse(self, line):
        # [text before the first token, key, value, text after it, key, value, ...]: one pass reads
        # the tokens and what is around them, which must be blank (or nothing).
        parts = TOKEN.split(line)
        around = "".join(parts[0::3])
        if around and not around.isspace():
            raise ParseError('text outside "key=value" tokens')
        if len(parts) == 1:
            return None  # a blank line
        values = {}
        fqan = None
        for key, value in zip(parts[1::3], parts[2::3]):
            value = value.strip()
            if key == "userFQAN":
                if fqan is None and value:
                    fqan = value
            else:
                values[key] = value
        get = values.get
        for key in ("timestamp", "ceID", "lrmsID"):
            if not get(key):
                raise ParseError(f"no {key}")
        try:
            stamp = utc_epoch(values["timestamp"])
        except ValueError:
            raise ParseError("timestamp is not YYYY-MM-DD HH:MM:SS") from None
        # BlahRecord's fields in order (positional: cheaper than naming each)
        return BlahRecord(stamp, get("userDN") or None, fqan, values["ceID"], get("jobID") or None,
                          values["lrmsID"], get("localUser") or None)
