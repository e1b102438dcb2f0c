"""Site-side records: a finished batch job and a blah (CE) record, as the parsers produce them.

They live in the site database until ``apel-join`` combines them into job
records (``types.JOB``). Times are epoch seconds (UTC); memory is in KB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class BatchRecord:
    """One finished job of a batch system.

    ``LrmsId`` is the id the CE's blah log uses for the job (the join key);
    it equals ``LocalJobId`` except where a batch system has two spellings
    (HTCondor's global job id against ``cluster.proc``).
    """

    BatchSystem: str
    LocalJobId: str
    LrmsId: str
    LocalUserId: str | None
    LocalGroup: str | None
    Queue: str | None
    MachineName: str | None
    WallDuration: int
    CpuDuration: int
    Processors: int | None
    NodeCount: int | None
    StartTime: int
    EndTime: int
    MemoryReal: int | None = None
    MemoryVirtual: int | None = None
    # The job's lifecycle (apeltools.lifecycle), where the log says it.
    SubmitTime: int | None = None
    EligibleTime: int | None = None
    State: str | None = None  # as the batch system reports it
    FinalState: str | None = None  # normalised: one of apeltools.lifecycle.FINAL_STATES
    ExitCode: int | None = None  # 128 + signal for a job killed by a signal

    kind = "batch"


@dataclass(slots=True)
class BlahRecord:
    """One grid job handed by a CE to the batch system (a line of the blah accounting log)."""

    Timestamp: int
    GlobalUserName: str | None
    FQAN: str | None
    CeId: str
    GridJobId: str | None
    LrmsId: str
    LocalUserId: str | None

    kind = "blah"


BATCH_FIELDS = tuple(f.name for f in fields(BatchRecord))
BLAH_FIELDS = tuple(f.name for f in fields(BlahRecord))


def as_dict(record: BatchRecord | BlahRecord) -> dict[str, Any]:
    """A record as a JSON-ready dict, with its kind ("batch" or "blah") first."""
    return {"kind": record.kind, **asdict(record)}
