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

The lifecycle comes from five more attributes after those (and after the
scaling factor): ``QDate`` (when the job was submitted), ``JobStatus`` (3
removed, 4 completed), ``ExitCode``, ``ExitBySignal`` and ``ExitSignal``,
written so that an undefined one is a word, not nothing::

    -format "%d|" QDate -format "%d|" JobStatus -format "%s|" 'ExitCode ?: "undefined"' \
    -format "%s|" 'ExitBySignal ?: "undefined"' -format "%s|" 'ExitSignal ?: "undefined"'
"""

import re

from apeltools import lifecycle
from apeltools.parsers.base import ParseError, Parser, check_order
from apeltools.records.site import BatchRecord

UNDEFINED = frozenset({"", "undefined", "UNDEFINED"})
PLAIN_ID = re.compile(r"[0-9]+(\.[0-9]+)?")  # cluster or cluster.proc, without schedd and time
BASE = (10, 11)  # the deployed attribute list, without or with the CE's scaling factor
LIFECYCLE = 5  # QDate, JobStatus, ExitCode, ExitBySignal, ExitSignal
LENGTHS = BASE + tuple(n + LIFECYCLE for n in BASE)
REMOVED, COMPLETED = 3, 4


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
        if len(cells) - 1 in LENGTHS and cells[-1] == "":
            cells.pop()
        if len(cells) not in LENGTHS:
            raise ParseError(f"expected {', '.join(map(str, LENGTHS))} '|'-separated fields, found {len(cells)}")
        life = {}
        if len(cells) > BASE[-1]:
            life = _lifecycle(cells[-LIFECYCLE:])
            cells = cells[:-LIFECYCLE]
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
            **life,
        )


def _integer(text, name):
    return None if text in UNDEFINED else int(_number(text, name))


def _lifecycle(cells):
    """SubmitTime, State, FinalState and ExitCode from QDate, JobStatus, ExitCode, ExitBySignal, ExitSignal."""
    qdate, status_text, code_text, by_signal_text, signal_text = cells
    status = _integer(status_text, "JobStatus")
    by_signal = by_signal_text.lower() == "true"
    if by_signal_text.lower() not in ("true", "false") and by_signal_text not in UNDEFINED:
        raise ParseError("ExitBySignal is not true or false")
    if by_signal:
        signal = _integer(signal_text, "ExitSignal")
        code = None if signal is None else lifecycle.signalled(signal)
        state = f"JobStatus={status} ExitBySignal=true ExitSignal={signal_text}"
    else:
        code = _integer(code_text, "ExitCode")
        state = f"JobStatus={status} ExitCode={code_text}"
    if status == REMOVED:
        final = lifecycle.CANCELLED
    elif status == COMPLETED:
        final = lifecycle.FAILED if by_signal else lifecycle.by_exit_code(code)
    else:
        final = None
    return {"SubmitTime": _integer(qdate, "QDate") or None, "State": state, "FinalState": final,
            "ExitCode": code}
