"""Lifecycle fields from every parser: queued and eligible times, final state, exit code.

Lines are written from each system's documented accounting format: sacct(1)
(State, Submit, Eligible, ExitCode as ``code:signal``), Torque's accounting
records (qtime queued, etime eligible, Exit_status; D for a deleted job),
SGE accounting(5) (submission_time, failed, exit_status = 128 + signal),
LSF lsb.acct(5) (submitTime, jStatus 32 EXIT / 64 DONE, exitStatus a wait(2)
status) and HTCondor's job ClassAd (QDate, JobStatus 3 removed / 4 completed,
ExitCode, ExitBySignal, ExitSignal); odd states and missing values included.
"""

from zoneinfo import ZoneInfo

import pytest

from apeltools import lifecycle
from apeltools.parsers.base import FOLDED, ParseError
from apeltools.parsers.htcondor import HTCondorParser
from apeltools.parsers.lsf import LSFParser
from apeltools.parsers.pbs import PBSParser
from apeltools.parsers.sge import SGEParser
from apeltools.parsers.slurm import SlurmParser
from tests.test_parsers import CONDOR, PBS_CLASSIC, SLURM_JOB, lsf_line, parse_all, sge_line


def life(record):
    return (record.SubmitTime, record.EligibleTime, record.State, record.FinalState, record.ExitCode)


# -- SLURM ---------------------------------------------------------------

def slurm(state="COMPLETED", extension="|2024-07-01T09:00:00|2024-07-01T09:30:00|0:0"):
    return SLURM_JOB.replace("|COMPLETED", "|" + state) + extension


@pytest.mark.parametrize("state, exit_code, final, code", [
    ("COMPLETED", "0:0", "completed", 0),
    ("FAILED", "2:0", "failed", 2),
    ("CANCELLED by 1234", "0:15", "cancelled", 143),
    ("TIMEOUT", "0:0", "timeout", 0),
    ("NODE_FAIL", "1:0", "node_fail", 1),
    ("PREEMPTED", "0:9", "preempted", 137),
    ("OUT_OF_MEMORY", "0:125", "out_of_memory", 253),
])
def test_slurm_extended_format_gives_submit_eligible_state_and_exit_code(state, exit_code, final, code):
    line = slurm(state, f"|2024-07-01T09:00:00|2024-07-01T09:30:00|{exit_code}")
    records, _ = parse_all(SlurmParser(ZoneInfo("UTC")), [line])
    assert life(records[0]) == (1719824400, 1719826200, state, final, code)


def test_slurm_existing_format_still_works_and_gives_the_state_without_times():
    records, _ = parse_all(SlurmParser(ZoneInfo("UTC")), [slurm("CANCELLED by 0", "")])
    assert life(records[0]) == (None, None, "CANCELLED by 0", "cancelled", None)
    assert (records[0].StartTime, records[0].WallDuration) == (1719828000, 3600)


def test_slurm_extended_format_with_unknown_times_trailing_separator_and_steps():
    lines = [slurm("COMPLETED", "|Unknown|Unknown||"),
             "4242.batch|batch|||2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|14400||4|1|wn001|"
             "1536000K|2.5G|COMPLETED|2024-07-01T09:00:00|2024-07-01T09:30:00|0:0|"]
    records, outcomes = parse_all(SlurmParser(ZoneInfo("UTC")), lines)
    assert life(records[0]) == (None, None, "COMPLETED", "completed", None)
    assert records[0].MemoryReal == 1536000 and outcomes == [FOLDED, FOLDED]


def test_slurm_submit_is_local_time_like_start():
    records, _ = parse_all(SlurmParser(ZoneInfo("Europe/London")), [slurm()])
    assert records[0].StartTime - records[0].SubmitTime == 3600


@pytest.mark.parametrize("extension, reason", [
    ("|yesterday|2024-07-01T09:30:00|0:0", "Submit is not"),
    ("|2024-07-01T09:00:00|2024-07-01T09:30:00|x:y", "ExitCode is not code:signal"),
    ("|2024-07-01T09:00:00|0:0", "expected 15 or 18"),
])
def test_bad_slurm_lifecycle_fields(extension, reason):
    with pytest.raises(ParseError, match=reason):
        SlurmParser(ZoneInfo("UTC")).parse(slurm("COMPLETED", extension))


# -- PBS / Torque --------------------------------------------------------

def test_pbs_qtime_is_queued_and_etime_eligible():
    line = PBS_CLASSIC.replace("qtime=1713170000 etime=1713170000", "qtime=1713170000 etime=1713170100")
    assert life(PBSParser().parse(line)) == (1713170000, 1713170100, "Exit_status=0", "completed", 0)


@pytest.mark.parametrize("status, final, code", [
    ("1", "failed", 1),
    ("271", "failed", 143),  # 256 + SIGTERM: killed by a signal
    ("-11", "failed", None),  # a JOB_EXEC code: the server could not run the job
])
def test_pbs_exit_status(status, final, code):
    record = PBSParser().parse(PBS_CLASSIC.replace("Exit_status=0", f"Exit_status={status}"))
    assert (record.State, record.FinalState, record.ExitCode) == (f"Exit_status={status}", final, code)


def test_pbs_a_job_deleted_earlier_in_the_file_is_cancelled():
    parser = PBSParser()
    deleted = "04/15/2024 11:16:30;D;4242.torque.example.org;requestor=atlas001@ce01.example.org"
    assert parser.parse(deleted) is None
    record = parser.parse(PBS_CLASSIC.replace("Exit_status=0", "Exit_status=271"))
    assert (record.State, record.FinalState, record.ExitCode) == ("Exit_status=271 deleted", "cancelled", 143)
    again = parser.parse(PBS_CLASSIC)  # the D record counts once
    assert again.FinalState == "completed"


def test_pbs_without_times_or_exit_status():
    line = (PBS_CLASSIC.replace("ctime=1713170000 qtime=1713170000 etime=1713170000 ", "")
            .replace(" Exit_status=0", ""))
    assert life(PBSParser().parse(line)) == (None, None, None, None, None)


def test_bad_pbs_exit_status():
    with pytest.raises(ParseError, match="Exit_status is not a number"):
        PBSParser().parse(PBS_CLASSIC.replace("Exit_status=0", "Exit_status=oops"))


# -- SGE -----------------------------------------------------------------

def sge(submission="1713170000", failed="0", exit_status="0"):
    cells = sge_line().split(":")
    cells[8], cells[11], cells[12] = submission, failed, exit_status
    return ":".join(cells)


@pytest.mark.parametrize("failed, exit_status, final", [
    ("0", "0", "completed"),
    ("0", "3", "failed"),
    ("100", "137", "failed"),  # killed (h_rt or qdel): 128 + SIGKILL
    ("37", "0", "failed"),  # qmaster enforced h_rt limit
])
def test_sge_failed_and_exit_status(failed, exit_status, final):
    assert life(SGEParser().parse(sge(failed=failed, exit_status=exit_status))) == (
        1713170000, None, f"failed={failed} exit_status={exit_status}", final, int(exit_status))


def test_sge_slave_task_without_submission_time():
    assert SGEParser().parse(sge(submission="0")).SubmitTime is None


def test_bad_sge_failed_field():
    with pytest.raises(ParseError, match="failed, exit_status"):
        SGEParser().parse(sge(failed="x"))


# -- LSF -----------------------------------------------------------------

def lsf(status="64", wait_status="0", submitted="1713170000"):
    line = lsf_line("10.1", ["hostA"], ["hostA", "hostB"])
    # submitTime (item 7), jStatus (24 + hosts), exitStatus (49 + hosts), found by their neighbours
    for before, after in ((" 4 1713170000 0 0 ", f" 4 {submitted} 0 0 "), (" 64 60.00 ", f" {status} 60.00 "),
                          ('"default" 0 4', f'"default" {wait_status} 4')):
        assert line.count(before) == 1
        line = line.replace(before, after)
    return line


@pytest.mark.parametrize("status, wait_status, final, code", [
    ("64", "0", "completed", 0),
    ("192", "0", "completed", 0),  # DONE with PDONE (post-processing done) set
    ("32", "256", "failed", 1),  # exit code 1 in the second byte
    ("32", "9", "failed", 137),  # killed by SIGKILL
    ("32", "-1", "failed", None),
    ("4", "0", None, 0),  # a state that is no end
])
def test_lsf_jstatus_and_exit_status(status, wait_status, final, code):
    record = LSFParser().parse(lsf(status, wait_status))
    assert life(record) == (1713170000, None, f"jStatus={status} exitStatus={wait_status}", final, code)


def test_lsf_unknown_submit_time():
    assert LSFParser().parse(lsf(submitted="0")).SubmitTime is None


# -- HTCondor ------------------------------------------------------------

LIFE = "|1713170000|4|0|false|undefined"


@pytest.mark.parametrize("tail, state, final, code", [
    ("|1713170000|4|0|false|undefined", "JobStatus=4 ExitCode=0", "completed", 0),
    ("|1713170000|4|1|false|undefined", "JobStatus=4 ExitCode=1", "failed", 1),
    ("|1713170000|4|undefined|true|9", "JobStatus=4 ExitBySignal=true ExitSignal=9", "failed", 137),
    ("|1713170000|3|undefined|undefined|undefined", "JobStatus=3 ExitCode=undefined", "cancelled", None),
    ("|1713170000|5|undefined|false|undefined", "JobStatus=5 ExitCode=undefined", None, None),
])
def test_htcondor_extended_attributes(tail, state, final, code):
    assert life(HTCondorParser().parse(CONDOR + tail + "|")) == (1713170000, None, state, final, code)


def test_htcondor_extended_attributes_after_the_ce_scaling_factor():
    record = HTCondorParser().parse(CONDOR + "|1.25" + LIFE)
    assert (record.WallDuration, record.SubmitTime, record.FinalState) == (4500, 1713170000, "completed")


def test_htcondor_deployed_attribute_list_has_no_lifecycle():
    assert life(HTCondorParser().parse(CONDOR + "|")) == (None, None, None, None, None)


@pytest.mark.parametrize("tail, reason", [
    ("|1713170000|4|0|maybe|undefined", "ExitBySignal is not true or false"),
    ("|yesterday|4|0|false|undefined", "QDate is not a number"),
    ("|1713170000|4|0|false", "expected 10, 11, 15, 16"),
])
def test_bad_htcondor_lifecycle(tail, reason):
    with pytest.raises(ParseError, match=reason):
        HTCondorParser().parse(CONDOR + tail)


def test_failures_are_decided_in_one_place():
    assert [s for s in lifecycle.FINAL_STATES if lifecycle.is_failure(s)] == [
        "failed", "timeout", "node_fail", "out_of_memory", "boot_fail", "deadline"]
    assert not lifecycle.is_failure(None) and not lifecycle.is_failure("cancelled")
