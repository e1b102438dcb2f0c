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
# A whole line of tokens, blanks around and between them allowed, nothing else.
TOKENS = re.compile(r'\s*(?:"[A-Za-z]+=[^"]*"\s*)*')


class BlahParser(Parser):
    name = "blah"

    def parse(self, line):
        if not line.strip():
            return None
        if TOKENS.fullmatch(line) is None:
            raise ParseError('text outside "key=value" tokens')
        values = {}
        fqan = None
        for key, value in TOKEN.findall(line):
            value = value.strip()
            if key == "userFQAN":
                if fqan is None and value:
                    fqan = value
            else:
                values[key] = value
        for key in ("timestamp", "ceID", "lrmsID"):
            if not values.get(key):
                raise ParseError(f"no {key}")
        try:
            stamp = utc_epoch(values["timestamp"])
        except ValueError:
            raise ParseError("timestamp is not YYYY-MM-DD HH:MM:SS") from None
        return BlahRecord(
            Timestamp=stamp,
            GlobalUserName=values.get("userDN") or None,
            FQAN=fqan,
            CeId=values["ceID"],
            GridJobId=values.get("jobID") or None,
            LrmsId=values["lrmsID"],
            LocalUserId=values.get("localUser") or None,
        )
