"""SGE / OGE / Univa Grid Engine: the ``accounting`` file, colon-separated, one job per line.

Fields (0-based): 0 queue, 1 host, 2 group, 3 owner, 5 job number, 9 start
and 10 end time (epoch seconds, or milliseconds on Univa 8.2 and later),
13 ru_wallclock, 16 ru_maxrss (KB), 34 slots, 36 cpu (s), 42 maxvmem
(bytes). Field 37 (``mem``) is an integral in GB-seconds, not a size, so it is
not used as memory (the deployed parser stores it times 1024², and maxvmem in
bytes, as KB). The file does not say on how many nodes a job ran: NodeCount is
unknown (None; the deployed parser's 0, and summarised as 0 like it). ``#``
lines are comments; a start time of 0 is a job that never ran.

The lifecycle: 8 submission_time (0 for the slave tasks of a parallel job:
unknown), 11 failed (0, or the code of what went wrong around the job, e.g.
100 "assumedly after job" for a job killed by a limit or qdel) and 12
exit_status (the script's; 128 + signal for a job killed by a signal).
"""

from apeltools import lifecycle
from apeltools.parsers.base import ParseError, Parser, check_order
from apeltools.records.site import BatchRecord

MIN_FIELDS = 43
MILLISECONDS = 10 ** 11  # an epoch this large is in milliseconds (seconds would be after year 5000)


def _time(text):
    if len(text) <= 10 and text.isdecimal():  # whole seconds below MILLISECONDS, the common case
        return int(text)
    value = float(text)
    if value < 0:
        raise ValueError(text)
    # Rounded, as the deployed parser does: EndTime is part of a job's natural key.
    return int(round(value / 1000 if value >= MILLISECONDS else value))


def _number(text):
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


class SGEParser(Parser):
    name = "sge"
    batch_system = "SGE"
    honours_parallel = True

    def parse(self, line):
        if not line or line.isspace() or line.startswith("#"):
            return None
        cells = line.rstrip("\r\n").split(":")
        if len(cells) < MIN_FIELDS:
            raise ParseError(f"expected at least {MIN_FIELDS} ':'-separated fields, found {len(cells)}")
        try:
            start, end = _time(cells[9]), _time(cells[10])
        except (ValueError, OverflowError):
            raise ParseError("start or end time is not a number") from None
        if start == 0:
            return None
        check_order(start, end)
        job_id = cells[5]
        if not job_id.isdigit():
            raise ParseError("job number is not a number")
        try:
            wall = int(round(_number(cells[13])))
            cpu = int(round(_number(cells[36])))
            slots = int(cells[34])
            max_rss = int(round(_number(cells[16])))
            max_vmem = int(round(_number(cells[42]) / 1024))
            submitted = _time(cells[8])
            failed, exit_status = int(cells[11]), int(cells[12])
        except (ValueError, OverflowError):
            raise ParseError("submission_time, failed, exit_status, ru_wallclock, slots, cpu, ru_maxrss or "
                             "maxvmem is not a number") from None
        # BatchRecord's fields in order (positional: a third of the cost of naming each)
        return BatchRecord(
            self.batch_system, job_id, job_id, cells[3] or None, cells[2] or None, cells[0] or None,
            cells[1] or None, wall, cpu, slots, None, start, end, max_rss or None,
            max_vmem or None, submitted or None, None,
            f"failed={failed} exit_status={exit_status}",
            lifecycle.FAILED if failed else lifecycle.by_exit_code(exit_status), exit_status,
        )
