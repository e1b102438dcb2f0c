"""HTCondor: ``condor_history`` output with a ``-format`` list, pipe-separated:
``GlobalJobId|Owner|RemoteWallClockTime|RemoteUserCpu|RemoteSysCpu|JobStartDate|
EnteredCurrentStatus|ResidentSetSize_RAW|ImageSize_RAW|RequestCpus`` and, from an
HTCondor-CE, an 11th field: the node's scaling factor, which multiplies wall and
CPU time. A trailing empty field is allowed.

The global job id is ``schedd#cluster.proc#submit time``; ``cluster.proc`` is
the id the CE's blah log knows the job by. Some sites' histories give the id
alone (``1234.0``, or ``1234``): it is then both ids, and the schedd (else the
MachineName) is unknown. Memory values are KB. Scaled durations are truncated
to whole seconds, as the deployed parser stores them. The history does not say
on how many nodes a job ran (a parallel-universe job may span several):
NodeCount is unknown (None), which the summaries count as 0, like the deployed
parser's 0, so a site that switches keeps its summary groups.
"""

import re

from apeltools.parsers.base import ParseError, Parser, check_order
from apeltools.records.site import BatchRecord

UNDEFINED = frozenset({"", "undefined", "UNDEFINED"})
PLAIN_ID = re.compile(r"[0-9]+(\.[0-9]+)?")  # cluster or cluster.proc, without schedd and time


def _number(text, name):
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"{name} is not a number") from None
    if value < 0:
        raise ParseError(f"{name} is negative")
    return value


class HTCondorParser(Parser):
    name = "htcondor"
    batch_system = "HTCONDOR"

    def parse(self, line):
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        cells = line.split("|")
        if len(cells) in (11, 12) and cells[-1] == "":
            cells.pop()
        if len(cells) not in (10, 11):
            raise ParseError(f"expected 10 or 11 '|'-separated fields, found {len(cells)}")
        global_id, owner = cells[0], cells[1]
        if PLAIN_ID.fullmatch(global_id):
            schedd, lrms_id = None, global_id  # the deployed parser takes these too
        else:
            schedd, _, rest = global_id.partition("#")
            lrms_id = rest.partition("#")[0]
            if not schedd or not lrms_id:
                raise ParseError("GlobalJobId is not schedd#cluster.proc#time or cluster.proc")
        if cells[5] in UNDEFINED or cells[5] == "0":
            return None  # never started
        scale = 1.0
        if len(cells) == 11 and cells[10] not in UNDEFINED:
            scale = _number(cells[10], "scaling factor")
        wall = _number(cells[2], "RemoteWallClockTime") * scale
        cpu = (_number(cells[3], "RemoteUserCpu") + _number(cells[4], "RemoteSysCpu")) * scale
        start = int(_number(cells[5], "JobStartDate"))
        end = int(_number(cells[6], "EnteredCurrentStatus"))
        check_order(start, end)
        real = None if cells[7] in UNDEFINED else int(_number(cells[7], "ResidentSetSize_RAW"))
        virtual = None if cells[8] in UNDEFINED else int(_number(cells[8], "ImageSize_RAW"))
        cpus = None if cells[9] in UNDEFINED else int(_number(cells[9], "RequestCpus"))
        return BatchRecord(
            BatchSystem=self.batch_system,
            LocalJobId=global_id,
            LrmsId=lrms_id,
            LocalUserId=owner or None,
            LocalGroup=None,
            Queue=None,
            MachineName=schedd,
            WallDuration=int(wall),
            CpuDuration=int(cpu),
            Processors=cpus,
            NodeCount=None,
            StartTime=start,
            EndTime=end,
            MemoryReal=real,
            MemoryVirtual=virtual,
        )
