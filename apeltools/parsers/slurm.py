"""SLURM: ``sacct -P -n --format=JobID,JobName,User,Group,Start,End,Elapsed,CPUTimeRAW,Partition,
NCPUS,NNodes,NodeList,MaxRSS,MaxVMSize,State`` (or ``TotalCPU`` in place of ``CPUTimeRAW``), the
format of the existing site client, or that format extended with ``,Submit,Eligible,ExitCode`` for
the job's lifecycle (when it was queued and eligible, and its exit code ``code:signal``).

Only jobs in a final state count. Job steps (``123.batch``, ``123.extern``,
``123.0``) follow their job in sacct's output; they are folded into it (their
memory maxima become the job's) instead of being jobs of their own. Start and
End are local wall-clock times, converted to UTC.
"""

from apeltools import lifecycle
from apeltools.parsers.base import (
    FOLDED, ParseError, Parser, check_order, duration, local_epoch, memory_kb,
)
from apeltools.records.site import BatchRecord

FIELDS = 15
EXTENDED_FIELDS = FIELDS + 3  # + Submit, Eligible, ExitCode
FINAL_STATES = frozenset({
    "CANCELLED", "COMPLETED", "FAILED", "NODE_FAIL", "PREEMPTED", "TIMEOUT", "OUT_OF_MEMORY",
})
NOT_STARTED = frozenset({"", "Unknown", "None"})
# sacct's state words, normalised (BOOT_FAIL and DEADLINE jobs rarely start, so rarely count).
NORMALISED = {
    "COMPLETED": lifecycle.COMPLETED, "FAILED": lifecycle.FAILED, "CANCELLED": lifecycle.CANCELLED,
    "TIMEOUT": lifecycle.TIMEOUT, "NODE_FAIL": lifecycle.NODE_FAIL, "PREEMPTED": lifecycle.PREEMPTED,
    "OUT_OF_MEMORY": lifecycle.OUT_OF_MEMORY, "BOOT_FAIL": lifecycle.BOOT_FAIL, "DEADLINE": lifecycle.DEADLINE,
}


class SlurmParser(Parser):
    name = "slurm"
    batch_system = "SLURM"

    holds = True

    def __init__(self, timezone=None):
        super().__init__(timezone)
        self._held = None  # the last job read; its steps may follow
        self.ready = []

    def parse(self, line):
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        cells = line.split("|")
        if len(cells) in (FIELDS + 1, EXTENDED_FIELDS + 1) and not cells[-1]:
            cells.pop()  # "sacct -p" ends each line with a separator
        if len(cells) not in (FIELDS, EXTENDED_FIELDS):
            raise ParseError(f"expected {FIELDS} or {EXTENDED_FIELDS} '|'-separated fields, found {len(cells)}")
        job_id, step = cells[0].partition(".")[::2]
        if not job_id:
            raise ParseError("empty JobID")
        if step:
            return self._fold(job_id, cells)
        record = self._job(job_id, cells)
        # A new job line means the held job has no more steps to come.
        if self._held is not None:
            self.ready.append(self._held)
        self._held = record
        return None if record is None else FOLDED

    def finish(self):
        held, self._held = self._held, None
        return (held,) if held else ()

    def _job(self, job_id, cells):
        (_, _, user, group, start, end, elapsed, cpu, partition, ncpus, nnodes, nodes, max_rss,
         max_vm, state) = cells[:FIELDS]
        submit, eligible, exit_code = cells[FIELDS:] or ("", "", "")
        word = state.split(" ", 1)[0]
        if word not in FINAL_STATES or start in NOT_STARTED:
            return None
        try:
            start_time = local_epoch(start, self.timezone)
            end_time = local_epoch(end, self.timezone)
        except ValueError:
            raise ParseError("Start or End is not YYYY-MM-DDTHH:MM:SS") from None
        check_order(start_time, end_time)
        try:
            wall = duration(elapsed)
        except ValueError:
            raise ParseError("Elapsed is not a duration") from None
        try:
            cpu_seconds = int(cpu) if cpu.isdigit() else duration(cpu)
        except ValueError:
            raise ParseError("CPUTimeRAW/TotalCPU is not seconds or a duration") from None
        try:
            processors = int(ncpus) if ncpus else None
            node_count = int(nnodes) if nnodes else None
        except ValueError:
            raise ParseError("NCPUS or NNodes is not a number") from None
        return BatchRecord(
            BatchSystem=self.batch_system,
            LocalJobId=job_id,
            LrmsId=job_id,
            LocalUserId=user or None,
            LocalGroup=group or None,
            Queue=partition or None,
            MachineName=None,
            WallDuration=wall,
            CpuDuration=cpu_seconds,
            Processors=processors,
            NodeCount=node_count,
            StartTime=start_time,
            EndTime=end_time,
            MemoryReal=_memory(max_rss, "MaxRSS"),
            MemoryVirtual=_memory(max_vm, "MaxVMSize"),
            SubmitTime=self._moment(submit, "Submit"),
            EligibleTime=self._moment(eligible, "Eligible"),
            State=state,
            FinalState=NORMALISED[word],
            ExitCode=_exit_code(exit_code),
        )

    def _moment(self, text, field):
        if text in NOT_STARTED:
            return None
        try:
            return local_epoch(text, self.timezone)
        except ValueError:
            raise ParseError(f"{field} is not YYYY-MM-DDTHH:MM:SS") from None

    def _fold(self, job_id, cells):
        held = self._held
        if held is None or held.LocalJobId != job_id:
            return None  # a step of a job that is not finished, or not in this file
        real, virtual = _memory(cells[12], "MaxRSS"), _memory(cells[13], "MaxVMSize")
        if real is not None and (held.MemoryReal is None or real > held.MemoryReal):
            held.MemoryReal = real
        if virtual is not None and (held.MemoryVirtual is None or virtual > held.MemoryVirtual):
            held.MemoryVirtual = virtual
        return FOLDED


def _memory(text, field):
    try:
        return memory_kb(text)
    except ValueError:
        raise ParseError(f"{field} is not a memory size") from None


def _exit_code(text):
    """The exit code of sacct's ``code:signal`` (128 + signal for a job killed by one); blank is unknown."""
    if not text:
        return None
    code, _, signal = text.partition(":")
    try:
        code, signal = int(code), int(signal or 0)
    except ValueError:
        raise ParseError("ExitCode is not code:signal") from None
    return lifecycle.signalled(signal) if signal else code
