"""Log parsers: every batch system and format variant, bad lines, and reading files with apel-parse.

The sample lines are written from the documented formats (formats.md §9).
"""

import bz2
import calendar
import gzip
import json
from importlib.metadata import EntryPoint
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from apeltools import db as databases
from apeltools.cli.parse import main as apel_parse
from apeltools.parsers import registry
from apeltools.parsers.base import FOLDED, ParseError, Parser, duration, memory_kb, utc_epoch
from apeltools.parsers.blah import BlahParser
from apeltools.parsers.files import NDJSONOutput, parse_file
from apeltools.parsers.htcondor import HTCondorParser
from apeltools.parsers.lsf import LSFParser
from apeltools.parsers.pbs import PBSParser, exec_host_counts
from apeltools.parsers.sge import SGEParser
from apeltools.parsers.slurm import SlurmParser
from apeltools.records.site import BatchRecord, BlahRecord

# 2024-04-15 10:16:40 UTC and one hour later
START, END = 1713176200, 1713179800


def parse_all(parser, lines):
    """Records of lines fed to one parser, and what each line gave (record, None, FOLDED)."""
    records, outcomes = [], []
    for line in lines:
        result = parser.parse(line + "\n")
        outcomes.append(result)
        if result is not None and result is not FOLDED:
            records.append(result)
        if parser.holds:
            records.extend(parser.ready)
            parser.ready.clear()
    records.extend(parser.finish())
    return records, outcomes


# -- shared value formats ------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("00:00:00", 0), ("01:00:00", 3600), ("1-02:03:04", 93784), ("05:30.500", 330),
    ("59:59", 3599), ("3600", 3600), ("2:01:00:00", 176400), ("100:00:00", 360000),
    # HH:MM:SS by the short path, and what looks like it but is left to the general rules
    ("99:99:99", 362439), ("\u0660\u0661:40:00", 6000), ("+1:40:00", 6000), (" 1:40:00", 6000),
])
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1h", "::", "1:2:3:4:5", "-5", "1::40:00", "-1:40:00", "01:40:0x"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        duration(text)


@pytest.mark.parametrize("text, kb", [
    ("1024K", 1024), ("2M", 2048), ("1.5G", 1572864), ("1T", 1024 ** 3), ("1P", 1024 ** 4),
    ("2048", 2), ("0", 0), ("", None), ("512kb", 512), ("3mb", 3072),
])
def test_memory_sizes(text, kb):
    assert memory_kb(text) == kb


@pytest.mark.parametrize("stamp", [
    "2024-04-15 10:10:00", "2024-04-15T23:59:59", "2024-02-30 25:61:61", "1970-01-01 00:00:00",
    "2024-04-15 10:10:00",  # again: the remembered midnight and minutes give the same
])
def test_utc_timestamps_are_what_timegm_gives(stamp):
    fields = (stamp[:4], stamp[5:7], stamp[8:10], stamp[11:13], stamp[14:16], stamp[17:])
    assert utc_epoch(stamp) == calendar.timegm(tuple(int(field) for field in fields))


@pytest.mark.parametrize("stamp", ["2024-13-15 10:10:00", "2024-04-15 10:10", "2024-04-15 1x:10:00",
                                   "0000-01-01 00:00:00"])
def test_bad_utc_timestamps(stamp):
    with pytest.raises(ValueError):
        utc_epoch(stamp)


def test_bad_memory_size():
    with pytest.raises(ValueError):
        memory_kb("12Q")


# -- blah ----------------------------------------------------------------

BLAH = ('"timestamp=2024-04-15 10:10:00" "userDN=/C=UK/O=eScience/OU=Test/CN=Alice Smith" '
        '"userFQAN=/atlas/Role=production/Capability=NULL" "userFQAN=/atlas/Role=NULL/Capability=NULL" '
        '"ceID=ce01.example.org:8443/cream-pbs-long" "jobID=CREAM012345678" '
        '"lrmsID=4242.torque.example.org" "localUser=atlas001" "clientID=cream_012345678"')


def test_blah_line():
    record = BlahParser().parse(BLAH)
    assert record == BlahRecord(
        Timestamp=1713175800, GlobalUserName="/C=UK/O=eScience/OU=Test/CN=Alice Smith",
        FQAN="/atlas/Role=production/Capability=NULL", CeId="ce01.example.org:8443/cream-pbs-long",
        GridJobId="CREAM012345678", LrmsId="4242.torque.example.org", LocalUserId="atlas001",
    )


def test_blah_without_fqan_or_dn():
    record = BlahParser().parse('"timestamp=2024-04-15 10:10:00" "ceID=ce01.example.org:8443/x" "lrmsID=7"')
    assert (record.GlobalUserName, record.FQAN, record.LrmsId) == (None, None, "7")


@pytest.mark.parametrize("line, reason", [
    ('"timestamp=2024-04-15 10:10:00" "ceID=ce01" "jobID=x"', "no lrmsID"),
    ('"userDN=/CN=x" "ceID=ce01" "lrmsID=1"', "no timestamp"),
    ('"timestamp=15/04/2024 10:10" "ceID=ce01" "lrmsID=1"', "timestamp is not YYYY-MM-DD HH:MM:SS"),
    ('"timestamp=2024-04-15 10:10:00" garbage "ceID=ce01" "lrmsID=1"', 'text outside "key=value" tokens'),
])
def test_bad_blah_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        BlahParser().parse(line)


# -- SLURM ---------------------------------------------------------------

SLURM_JOB = "4242|analysis|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|14400|grid|4|1|wn001|||COMPLETED"
SLURM_STEPS = [
    "4242.batch|batch|||2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|14400||4|1|wn001|1536000K|2.5G|COMPLETED",
    "4242.extern|extern|||2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|14400||4|1|wn001|1024K|0|COMPLETED",
    "4242.0|python|||2024-07-01T10:01:00|2024-07-01T10:59:00|00:58:00|13920||4|1|wn001|2000M||COMPLETED",
]


def test_slurm_job_with_steps_is_one_record_with_the_steps_memory_maxima():
    records, outcomes = parse_all(SlurmParser(ZoneInfo("UTC")), [SLURM_JOB] + SLURM_STEPS)
    assert records == [BatchRecord(
        BatchSystem="SLURM", LocalJobId="4242", LrmsId="4242", LocalUserId="alice", LocalGroup="atlas",
        Queue="grid", MachineName=None, WallDuration=3600, CpuDuration=14400, Processors=4, NodeCount=1,
        StartTime=1719828000, EndTime=1719831600, MemoryReal=2048000, MemoryVirtual=2621440,
        State="COMPLETED", FinalState="completed",
    )]
    assert outcomes == [FOLDED] * 4


def test_slurm_local_times_become_utc():
    # 10:00 in London in July is 09:00 UTC (BST); in January it is 10:00 UTC.
    summer, _ = parse_all(SlurmParser(ZoneInfo("Europe/London")), [SLURM_JOB])
    assert (summer[0].StartTime, summer[0].EndTime) == (1719828000 - 3600, 1719831600 - 3600)
    winter_line = SLURM_JOB.replace("2024-07-01", "2024-01-15")
    winter, _ = parse_all(SlurmParser(ZoneInfo("Europe/London")), [winter_line])
    assert winter[0].StartTime == 1705312800


def test_slurm_total_cpu_variant_and_day_durations():
    lines = [
        "100|a|bob|cms|2024-07-01T00:00:00|2024-07-02T02:03:04|1-02:03:04|1-00:00:01|long|1|1|wn1|||TIMEOUT",
        "101|b|bob|cms|2024-07-01T00:00:00|2024-07-01T00:10:00|10:00|05:30.500|long|1|1|wn1|||FAILED",
    ]
    records, _ = parse_all(SlurmParser(ZoneInfo("UTC")), lines)
    assert [(r.LocalJobId, r.WallDuration, r.CpuDuration) for r in records] == [
        ("100", 93784, 86401), ("101", 600, 330)]


def test_slurm_states_and_steps_without_a_finished_job():
    lines = [
        "200|a|bob|cms|2024-07-01T00:00:00|Unknown|00:05:00|300|long|1|1|wn1|||RUNNING",
        "200.batch|batch|||2024-07-01T00:00:00|Unknown|00:05:00|300||1|1|wn1|10M|20M|RUNNING",
        "201|a|bob|cms|Unknown|2024-07-01T00:00:00|00:00:00|0|long|1|0|None assigned|||CANCELLED by 1000",
        "202|a|bob|cms|2024-07-01T00:00:00|2024-07-01T00:05:00|00:05:00|300|long|1|1|wn1|||CANCELLED by 1000",
        "203|a|bob|cms|2024-07-01T00:00:00|2024-07-01T00:05:00|00:05:00|300|long|2|1|wn1|||NODE_FAIL",
        "204|a|bob|cms|2024-07-01T00:00:00|2024-07-01T00:05:00|00:05:00|300|long|2|1|wn1|||PREEMPTED",
        "205_3|a|bob|cms|2024-07-01T00:00:00|2024-07-01T00:05:00|00:05:00|300|long|2|2|wn[1-2]|||OUT_OF_MEMORY|",
    ]
    records, outcomes = parse_all(SlurmParser(ZoneInfo("UTC")), lines)
    assert [r.LocalJobId for r in records] == ["202", "203", "204", "205_3"]
    assert outcomes[:3] == [None, None, None]  # running, its step, never started
    assert records[-1].NodeCount == 2
    assert all(r.MemoryReal is None and r.MemoryVirtual is None for r in records)  # blank: unknown


@pytest.mark.parametrize("line, reason", [
    ("4242|x|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|1|grid|4|1", "expected 15"),
    ("4242|x|alice|atlas|01/07/2024|2024-07-01T11:00:00|01:00:00|1|grid|4|1|wn|||COMPLETED", "Start or End"),
    ("4242|x|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|1h|1|grid|4|1|wn|||COMPLETED", "Elapsed"),
    ("4242|x|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|x|grid|4|1|wn|||COMPLETED", "CPUTimeRAW"),
    ("4242|x|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|1|grid|four|1|wn|||COMPLETED", "NCPUS"),
    ("4242|x|alice|atlas|2024-07-01T10:00:00|2024-07-01T11:00:00|01:00:00|1|grid|4|1|wn|12Q||COMPLETED", "MaxRSS"),
])
def test_bad_slurm_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        SlurmParser(ZoneInfo("UTC")).parse(line)


def test_a_bad_slurm_step_memory_fails_that_line_only():
    parser = SlurmParser(ZoneInfo("UTC"))
    bad_step = SLURM_STEPS[0].replace("1536000K", "lots")
    assert parser.parse(SLURM_JOB) is FOLDED
    with pytest.raises(ParseError, match="MaxRSS"):
        parser.parse(bad_step)
    assert parser.parse(SLURM_STEPS[1]) is FOLDED
    assert [r.MemoryReal for r in parser.finish()] == [1024]


# -- PBS / Torque --------------------------------------------------------

PBS_CLASSIC = (
    "04/15/2024 11:16:40;E;4242.torque.example.org;user=atlas001 group=atlas jobname=STDIN queue=long "
    "ctime=1713170000 qtime=1713170000 etime=1713170000 start=1713176200 owner=atlas001@ce01.example.org "
    "exec_host=wn01/0+wn01/1+wn02/0 Resource_List.neednodes=2 session=1234 end=1713179800 Exit_status=0 "
    "resources_used.cput=01:40:00 resources_used.mem=524288kb resources_used.vmem=1048576kb "
    "resources_used.walltime=01:00:00"
)
PBS_TORQUE_51 = (
    "04/15/2024 11:16:40;E;4243[7].torque.example.org;user=cms002 group=cms jobname=my job queue=short "
    "start=1713176200 exec_host=wn01/0-3,5+wn02/0 end=1713179800 Exit_status=0 "
    "resources_used.cput=6000 resources_used.mem=0kb resources_used.vmem=2gb resources_used.walltime=3600"
)


def test_pbs_end_record():
    assert PBSParser().parse(PBS_CLASSIC) == BatchRecord(
        BatchSystem="PBS", LocalJobId="4242.torque.example.org", LrmsId="4242.torque.example.org",
        LocalUserId="atlas001", LocalGroup="atlas", Queue="long", MachineName="torque.example.org",
        WallDuration=3600, CpuDuration=6000, Processors=3, NodeCount=2, StartTime=START, EndTime=END,
        MemoryReal=524288, MemoryVirtual=1048576, SubmitTime=1713170000, EligibleTime=1713170000,
        State="Exit_status=0", FinalState="completed", ExitCode=0,
    )


def test_torque_51_ranges_and_plain_seconds():
    record = PBSParser().parse(PBS_TORQUE_51)
    assert (record.LocalJobId, record.Processors, record.NodeCount) == ("4243[7].torque.example.org", 6, 2)
    assert (record.WallDuration, record.CpuDuration) == (3600, 6000)
    assert (record.MemoryReal, record.MemoryVirtual) == (0, 2097152)
    assert record.Queue == "short"  # "jobname=my job": a space inside a value


@pytest.mark.parametrize("text, slots, hosts", [
    ("wn01/0", 1, 1), ("wn01/0+wn01/1+wn02/0", 3, 2), ("wn01/0-3,5+wn02/0", 6, 2),
    ("wn01/0-7+wn02/0-7+wn03/0-7", 24, 3), ("wn01/0*8", 8, 1), ("wn01", 1, 1), ("wn01/\u0663", 1, 1),
    ("wn01/3-3+wn01/4", 2, 1),
])
def test_exec_host_counts(text, slots, hosts):
    assert exec_host_counts(text) == (slots, hosts)


@pytest.mark.parametrize("text", ["wn01/3-1", "wn01/-1", "/0", "wn01/0++wn02/0", "wn01/x", "wn01/", "wn01/0,"])
def test_bad_exec_hosts(text):
    with pytest.raises(ValueError):
        exec_host_counts(text)


def test_pbs_other_record_types_and_jobs_that_never_ran_are_ignored():
    parser = PBSParser()
    assert parser.parse("04/15/2024 10:00:00;Q;4242.torque.example.org;queue=long") is None
    assert parser.parse("04/15/2024 10:00:00;S;4242.torque.example.org;user=a start=1713176200") is None
    assert parser.parse("04/15/2024 10:00:00;E;4244.torque;user=a start=0 end=1713179800") is None


@pytest.mark.parametrize("line, reason", [
    ("04/15/2024 11:16:40;E;4242.torque", "expected 'date;type;job id;attributes'"),
    # A failed line for the deployed parser too (it was ignored, and so not counted).
    ("04/15/2024 10:00:00;E;4244.torque;user=a queue=long end=1713179800", "no start time"),
    ("04/15/2024 11:16:40;E;4242.t;start=1713176200 resources_used.cput=1", "no end time"),
    ("04/15/2024 11:16:40;E;4242.t;start=yesterday end=1713179800", "start or end"),
    ("04/15/2024 11:16:40;E;4242.t;start=1713176200 end=1713179800 resources_used.cput=1h", "cput"),
    ("04/15/2024 11:16:40;E;4242.t;start=1713176200 end=1713179800 resources_used.mem=1zb", "mem"),
    ("04/15/2024 11:16:40;E;4242.t;start=1713176200 end=1713179800 exec_host=wn01/3-1", "exec_host"),
])
def test_bad_pbs_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        PBSParser().parse(line)


# -- SGE / OGE / Univa ---------------------------------------------------

def sge_line(start="1713176200", end="1713179800", job="4242", wallclock="3600"):
    fields = ["grid.q", "wn01.example.org", "atlas", "atlas001", "STDIN", job, "sge", "0", "1713170000",
              start, end, "0", "0", wallclock, "3000.5", "100.5", "524288"] + ["0"] * 14
    fields += ["NONE", "sge", "NONE", "8", "0", "5999.6", "12.5", "0.1", "-l h_vmem=2G", "0.0", "NONE",
               "1073741824", "0", "0"]
    return ":".join(fields)


def test_sge_accounting_line():
    assert len(sge_line().split(":")) == 45
    assert SGEParser().parse(sge_line()) == BatchRecord(
        BatchSystem="SGE", LocalJobId="4242", LrmsId="4242", LocalUserId="atlas001", LocalGroup="atlas",
        Queue="grid.q", MachineName="wn01.example.org", WallDuration=3600, CpuDuration=6000,
        Processors=8, NodeCount=None, StartTime=START, EndTime=END, MemoryReal=524288,
        MemoryVirtual=1048576, SubmitTime=1713170000, State="failed=0 exit_status=0", FinalState="completed",
        ExitCode=0,
    )


def test_univa_millisecond_timestamps():
    record = SGEParser().parse(sge_line(start="1713176200123", end="1713179800999", wallclock="3600.876"))
    # Rounded like the deployed parser: EndTime is in a job's natural key, so a second off is a
    # second record of the same job in the repository when a site switches.
    assert (record.StartTime, record.EndTime, record.WallDuration) == (START, END + 1, 3601)


def test_sge_comments_and_jobs_that_never_ran_are_ignored():
    parser = SGEParser()
    assert parser.parse("# Version: 8.1.9") is None
    assert parser.parse(sge_line(start="0")) is None


@pytest.mark.parametrize("line, reason", [
    ("grid.q:wn01:atlas:atlas001:STDIN:4242", "expected at least 43"),
    (sge_line(start="soon"), "start or end"),
    (sge_line(job="x42"), "job number"),
    (sge_line(wallclock="-"), "ru_wallclock"),
    (sge_line(wallclock="inf"), "ru_wallclock"),
    (sge_line(wallclock="nan"), "ru_wallclock"),
    (sge_line().rsplit(":", 3)[0] + ":inf:0:0", "maxvmem"),  # was 'unexpected OverflowError'
    (sge_line().rsplit(":", 3)[0] + ":1e400:0:0", "maxvmem"),
])
def test_bad_sge_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        SGEParser().parse(line)


# -- LSF -----------------------------------------------------------------

def lsf_line(version, asked_hosts, exec_hosts, user_cpu="100.5", system_cpu="20.25", max_mem="2048000",
             start="1713176200", job_name='"say ""hi"""'):
    """A JOB_FINISH record laid out as lsb.acct(5) describes it."""
    items = ['"JOB_FINISH"', f'"{version}"', "1713179800", "4242", "1001", "33554434", "4",
             "1713170000", "0", "0", start, '"alice"', '"normal"', '""', '""', '""', '"lsfmaster"',
             '"/home/alice"', '""', '""', '""', '"1713170000.4242"']
    items += [str(len(asked_hosts))] + [f'"{h}"' for h in asked_hosts]
    items += [str(len(exec_hosts))] + [f'"{h}"' for h in exec_hosts]
    items += ["64", "60.00", job_name, '"echo ""hi"" > out"', user_cpu, system_cpu]
    items += ["0"] * 17  # the rest of the rusage
    items += ['""', '"default"', "0", "4", '""', '""', "0", max_mem, "4096000"]
    items += ['""', '""', "0", '""', "0", '""']  # later fields (versions differ here)
    return " ".join(items)


def test_lsf_10_job_finish():
    line = lsf_line("10.1", ["hostA"], ["hostA", "hostA", "hostB", "hostB"])
    assert LSFParser().parse(line) == BatchRecord(
        BatchSystem="LSF", LocalJobId="4242", LrmsId="4242", LocalUserId="alice", LocalGroup=None,
        Queue="normal", MachineName=None, WallDuration=3600, CpuDuration=121, Processors=4, NodeCount=2,
        StartTime=START, EndTime=END, MemoryReal=2048000, MemoryVirtual=4096000, SubmitTime=1713170000,
        State="jStatus=64 exitStatus=0", FinalState="completed", ExitCode=0,
    )


def test_lsf_9_without_asked_hosts_and_unknown_cpu_and_memory():
    line = lsf_line("9.1", [], ["hostC"], system_cpu="-1", max_mem="-1")
    record = LSFParser().parse(line)
    assert (record.Processors, record.NodeCount, record.CpuDuration, record.MemoryReal) == (1, 1, 100, None)


def test_lsf_9_and_10_items_glued_to_a_string():
    # LSF 9 and 10 write some items with no blank before or after a string: 60.00"job name" and
    # 0"" are two items each, as the deployed parser reads them, with the same values.
    line = lsf_line("9.1", [], ["hostC"])
    glued = line.replace(' 60.00 "say', ' 60.00"say').replace(' 0 "" 0 ""', ' 0"" 0""')
    assert glued.endswith('0"" 0""') and '60.00"say' in glued
    assert LSFParser().parse(glued) == LSFParser().parse(line) == BatchRecord(
        BatchSystem="LSF", LocalJobId="4242", LrmsId="4242", LocalUserId="alice", LocalGroup=None,
        Queue="normal", MachineName=None, WallDuration=3600, CpuDuration=121, Processors=1, NodeCount=1,
        StartTime=START, EndTime=END, MemoryReal=2048000, MemoryVirtual=4096000, SubmitTime=1713170000,
        State="jStatus=64 exitStatus=0", FinalState="completed", ExitCode=0,
    )


def test_lsf_quoted_strings_with_escaped_quotes():
    from apeltools.parsers.lsf import items

    assert items('"JOB_FINISH" "10.1" 5 "say ""hi"" now" "" 7') == ["JOB_FINISH", "10.1", "5", 'say "hi" now', "", "7"]
    assert items('1"a"-1""""2') == ["1", "a", "-1", '"', "2"]
    # several escaped quotes in a row and in two strings; an empty string is not an escape
    assert items('"a""""b" "" "c""" x\n') == ['a""b', "", 'c"', "x"]
    assert items('"""""" ""') == ['""', ""]
    with pytest.raises(ParseError, match="unbalanced"):
        items('"JOB_FINISH" 5 "never closed')


@pytest.mark.parametrize("overrides", [dict(user_cpu="inf"), dict(system_cpu="1e400"), dict(max_mem="inf"),
                                       dict(user_cpu="nan")])
def test_lsf_numbers_that_are_not_finite_are_named(overrides):
    # These were bad lines too, but reported as 'unexpected OverflowError/ValueError'.
    with pytest.raises(ParseError, match="a time, CPU or memory item is not a number"):
        LSFParser().parse(lsf_line("10.1", ["hostA"], ["hostA"], **overrides))


def test_lsf_other_events_and_unstarted_jobs_are_ignored():
    parser = LSFParser()
    assert parser.parse('"JOB_NEW" "10.1" 1713170000 4242 1001') is None
    assert parser.parse(lsf_line("10.1", [], ["hostA"], start="0")) is None


@pytest.mark.parametrize("line, reason", [
    ('"JOB_FINISH" "10.1" 1713179800 4242', "numAskedHosts"),
    (lsf_line("10.1", ["a", "b"], ["hostA"]).rsplit(" ", 40)[0], "expected at least"),
    (lsf_line("10.1", [], ["hostA"], user_cpu="fast"), "not a number"),
    (lsf_line("10.1", [], ["hostA"], job_name='"unbalanced'), "unbalanced double quote|not a number"),
])
def test_bad_lsf_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        LSFParser().parse(line)


# -- HTCondor ------------------------------------------------------------

CONDOR = "schedd.example.org#1234.0#1713170000|atlas001|3600|3000.5|100.5|1713176200|1713179800|524288|1048576|8"


def test_htcondor_history_line():
    assert HTCondorParser().parse(CONDOR) == BatchRecord(
        BatchSystem="HTCONDOR", LocalJobId="schedd.example.org#1234.0#1713170000", LrmsId="1234.0",
        LocalUserId="atlas001", LocalGroup=None, Queue=None, MachineName="schedd.example.org",
        WallDuration=3600, CpuDuration=3101, Processors=8, NodeCount=None, StartTime=START, EndTime=END,
        MemoryReal=524288, MemoryVirtual=1048576,
    )


@pytest.mark.parametrize("plain_id", ["1234.0", "1234"])
def test_htcondor_global_job_id_that_is_a_plain_number(plain_id):
    # The deployed parser takes it as the job's id (and its log's id for the join).
    record = HTCondorParser().parse(CONDOR.replace("schedd.example.org#1234.0#1713170000", plain_id))
    assert (record.LocalJobId, record.LrmsId, record.MachineName) == (plain_id, plain_id, None)
    assert (record.WallDuration, record.StartTime, record.EndTime) == (3600, START, END)


def test_htcondor_ce_scaling_factor_and_trailing_empty_field():
    scaled = HTCondorParser().parse(CONDOR + "|1.25|")
    assert (scaled.WallDuration, scaled.CpuDuration) == (4500, 3876)
    # Scaled seconds are truncated, as the deployed parser stores them (287 × 1.1 = 315.7).
    truncated = HTCondorParser().parse(CONDOR.replace("|3600|3000.5|100.5|", "|287|3000|100|") + "|1.1")
    assert (truncated.WallDuration, truncated.CpuDuration) == (315, 3410)
    plain = HTCondorParser().parse(CONDOR + "|")
    assert (plain.WallDuration, plain.CpuDuration) == (3600, 3101)
    undefined = HTCondorParser().parse(CONDOR.replace("|524288|", "|undefined|") + "|undefined")
    assert (undefined.MemoryReal, undefined.WallDuration) == (None, 3600)


def test_htcondor_job_that_never_started_is_ignored():
    assert HTCondorParser().parse(CONDOR.replace("|1713176200|", "|0|")) is None


@pytest.mark.parametrize("line, reason", [
    (CONDOR.rsplit("|", 1)[0], "expected 10, 11, 15, 16"),
    (CONDOR.replace("schedd.example.org#1234.0#1713170000", "schedd.example.org"), "GlobalJobId"),
    (CONDOR.replace("schedd.example.org#1234.0#1713170000", "1234.x"), "GlobalJobId"),
    (CONDOR.replace("|3600|", "|an hour|"), "RemoteWallClockTime is not a number"),
    (CONDOR + "|-2", "scaling factor is negative"),
])
def test_bad_htcondor_lines(line, reason):
    with pytest.raises(ParseError, match=reason):
        HTCondorParser().parse(line)


# -- every batch system --------------------------------------------------

ENDS_BEFORE_IT_STARTS = [  # each ends 100 s before it starts
    (SlurmParser, SLURM_JOB.replace("2024-07-01T11:00:00", "2024-07-01T09:58:20")),
    (PBSParser, PBS_CLASSIC.replace("end=1713179800", "end=1713176100")),
    (SGEParser, sge_line(end="1713176100")),
    (LSFParser, lsf_line("10.1", [], ["hostA"], start="1713179900")),
    (HTCondorParser, CONDOR.replace("|1713179800|", "|1713176100|")),
]


@pytest.mark.parametrize("parser_class, line", ENDS_BEFORE_IT_STARTS,
                         ids=[parser.name for parser, _ in ENDS_BEFORE_IT_STARTS])
def test_a_job_that_ends_before_it_starts_is_a_bad_line_with_its_number(tmp_path, parser_class, line):
    # No job record can be made of it: passed on, it would wait in apel-join for ever.
    path = tmp_path / "log"
    path.write_text("\n\n" + line + "\n")
    report = parse_file(str(path), parser_class(timezone=ZoneInfo("UTC")), Collect())
    assert (report.failed, report.records) == (1, 0)
    assert report.error_lines() == [f"{path}:3: the job ends before it starts (1 line)"]


# -- registry and plugins ------------------------------------------------

def test_registry_knows_every_batch_system_and_aliases():
    assert registry.get("slurm") is SlurmParser
    assert registry.get("Torque") is PBSParser
    assert registry.get("univa") is SGEParser
    assert registry.get("condor") is HTCondorParser


class MyBatchParser(Parser):
    name = "mybatch"
    batch_system = "MYBATCH"

    def parse(self, line):
        job, end = line.split()
        return BatchRecord("MYBATCH", job, job, None, None, None, None, 1, 1, 1, 1, int(end) - 1, int(end))


def test_a_site_adds_a_parser_by_entry_point(monkeypatch, tmp_path):
    plugin = EntryPoint("mybatch", f"{__name__}:MyBatchParser", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == registry.GROUP else [])
    assert registry.get("mybatch") is MyBatchParser
    log = tmp_path / "my.log"
    log.write_text("j1 1713179800\n")
    result = CliRunner().invoke(apel_parse, ["mybatch", "--stdout", str(log)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["LocalJobId"] == "j1"


def test_unknown_parser_is_an_error(tmp_path):
    result = CliRunner().invoke(apel_parse, ["nosuch", "--stdout", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "no parser 'nosuch'" in result.output


# -- files -----------------------------------------------------------------

class Collect:
    def __init__(self):
        self.records = []

    def write(self, records, then=None):
        self.records.extend(records)
        if then:
            then()


@pytest.mark.parametrize("opener", [open, gzip.open, bz2.open])
def test_plain_gzip_and_bzip2_files(tmp_path, opener):
    path = tmp_path / "accounting"
    with opener(path, "wt") as out:
        out.write(PBS_CLASSIC + "\n" + PBS_TORQUE_51 + "\n")
    output = Collect()
    report = parse_file(str(path), PBSParser(), output)
    assert [r.LocalJobId for r in output.records] == ["4242.torque.example.org", "4243[7].torque.example.org"]
    assert (report.parsed, report.failed, report.problem) == (2, 0, None)


def test_counts_and_each_distinct_error_with_count_and_first_line(tmp_path):
    path = tmp_path / "sacct.txt"
    lines = [SLURM_JOB, "garbage", SLURM_STEPS[0], "more garbage", SLURM_JOB.replace("4242", "4243").replace(
        "|14400|", "|lots|"), "300|a|bob|cms|2024-07-01T00:00:00|Unknown|00:05:00|300|long|1|1|wn1|||RUNNING"]
    path.write_text("\n".join(lines) + "\n")
    output = Collect()
    report = parse_file(str(path), SlurmParser(ZoneInfo("UTC")), output)
    assert (report.parsed, report.ignored, report.failed, report.records) == (2, 1, 3, 1)
    assert report.errors == {
        "expected 15 or 18 '|'-separated fields, found 1": [2, 2],
        "CPUTimeRAW/TotalCPU is not seconds or a duration": [1, 5],
    }
    assert report.error_lines()[0] == f"{path}:2: expected 15 or 18 '|'-separated fields, found 1 (2 lines)"
    assert [r.LocalJobId for r in output.records] == ["4242"]


def test_ndjson_output(tmp_path):
    path = tmp_path / "blahp.log"
    path.write_text(BLAH + "\n")
    result = CliRunner().invoke(apel_parse, ["blah", "--stdout", str(path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["kind"] == "blah" and record["LrmsId"] == "4242.torque.example.org"
    assert result.stderr == ""


def test_stdin(tmp_path):
    result = CliRunner().invoke(apel_parse, ["htcondor", "--stdout", "-"], input=CONDOR)  # no final newline
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["LrmsId"] == "1234.0"


def test_a_number_too_large_for_an_integer_is_a_bad_line(tmp_path):
    path = tmp_path / "history"
    path.write_text(CONDOR.replace("|1713176200|", "|1e400|") + "\n" + CONDOR + "\n")
    output = Collect()
    report = parse_file(str(path), HTCondorParser(), output)
    assert (report.failed, report.records) == (1, 1)
    assert report.error_lines() == [f"{path}:1: unexpected OverflowError (1 line)"]


@pytest.mark.parametrize("lrms_server, machine_names", [
    ("batch.example.org", ["batch.example.org", "batch.example.org"]),
    (None, ["torque.example.org", "torque.example.org"]),
])
def test_lrms_server_is_the_machine_name_of_every_batch_record(tmp_path, lrms_server, machine_names):
    # As the deployed parser has it: a site that switches keeps its MachineName values.
    config = tmp_path / "parser.cfg"
    config.write_text("[site_info]\nsite_name = TEST\n" + (f"lrms_server = {lrms_server}\n" if lrms_server else ""))
    log = tmp_path / "20240415"
    log.write_text(PBS_CLASSIC + "\n" + PBS_TORQUE_51 + "\n")
    blah_log = tmp_path / "blahp.log"
    blah_log.write_text(BLAH + "\n")
    result = CliRunner().invoke(apel_parse, ["--config", str(config), "pbs", "--stdout", str(log)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["MachineName"] for line in result.stdout.splitlines()] == machine_names
    result = CliRunner().invoke(apel_parse, ["--config", str(config), "blah", "--stdout", str(blah_log)])
    assert "MachineName" not in json.loads(result.stdout)


def test_unreadable_file_fails_the_run_after_the_others(tmp_path):
    good = tmp_path / "good"
    good.write_text(CONDOR + "\n")
    result = CliRunner().invoke(apel_parse, ["htcondor", "--stdout", str(tmp_path / "missing"), str(good)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["LrmsId"] == "1234.0"
    assert "1 of 2 files could not be read" in result.stderr


def test_a_file_of_nothing_but_errors_fails_the_run_after_the_others(tmp_path):
    """A PBS log parsed as SLURM: every line fails, so the run must not look like a success."""
    pbs, slurm = tmp_path / "20240415", tmp_path / "sacct.txt"
    pbs.write_text(PBS_CLASSIC + "\n" + PBS_TORQUE_51 + "\n")
    slurm.write_text("\n".join([SLURM_JOB] + SLURM_STEPS) + "\n")
    result = CliRunner().invoke(apel_parse, ["slurm", "--stdout", "--timezone", "UTC", str(pbs), str(slurm)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1  # the good file's record is written all the same
    assert f"apel-parse: {pbs}: all 2 lines failed (is it a log of this type?)" in result.stderr
    assert result.stderr.endswith("Error: 1 of 2 files had too many lines that could not be parsed (see above)\n")


@pytest.mark.parametrize("max_bad, code", [(None, 0), ("0.5", 0), ("0.4", 1)])
def test_max_bad_is_the_fraction_of_failed_lines_a_file_may_have(tmp_path, max_bad, code):
    log = tmp_path / "history"
    log.write_text(CONDOR.replace("|1713176200|", "|1e400|") + "\n" + CONDOR + "\n")
    result = CliRunner().invoke(apel_parse, ["htcondor", "--stdout", str(log)]
                                + (["--max-bad", max_bad] if max_bad else []))
    assert result.exit_code == code, result.output
    if code:
        assert f"{log}: 1 of 2 lines failed (50.0%, more than --max-bad 0.4)" in result.stderr


def db_rows(url, sql):
    with databases.connect(url) as db:
        return db.query(sql)


def parse_into(db_url, kind, *paths):
    result = CliRunner().invoke(apel_parse, [kind, "--db", db_url, "--timezone", "UTC", *map(str, paths)])
    assert result.exit_code == 0, result.output
    return result


def test_records_go_to_the_site_database(db_url, tmp_path):
    slurm, blah = tmp_path / "sacct.txt", tmp_path / "blahp.log"
    slurm.write_text("\n".join([SLURM_JOB] + SLURM_STEPS) + "\n")
    blah.write_text(BLAH + "\n")
    parse_into(db_url, "slurm", slurm)
    parse_into(db_url, "blah", blah)
    assert db_rows(db_url, "SELECT LocalJobId, WallDuration, MemoryReal, JoinStatus FROM BatchRecords") == [
        ("4242", 3600, 2048000, 0)]
    assert db_rows(db_url, "SELECT LrmsId, FQAN, `Timestamp` FROM BlahRecords") == [
        ("4242.torque.example.org", "/atlas/Role=production/Capability=NULL", 1713175800)]


def test_appended_log_is_read_from_where_it_stopped(db_url, tmp_path):
    path = tmp_path / "20240415"
    path.write_text(PBS_CLASSIC + "\n" + PBS_TORQUE_51[:40])  # the second line is still being written
    parse_into(db_url, "pbs", path)
    assert db_rows(db_url, "SELECT COUNT(*) FROM BatchRecords") == [(1,)]
    with open(path, "a") as out:
        out.write(PBS_TORQUE_51[40:] + "\n" + PBS_CLASSIC.replace("4242.", "4250.") + "\n")
    parse_into(db_url, "pbs", path)
    assert sorted(r[0] for r in db_rows(db_url, "SELECT LocalJobId FROM BatchRecords")) == [
        "4242.torque.example.org", "4243[7].torque.example.org", "4250.torque.example.org"]
    assert db_rows(db_url, "SELECT ReadLines FROM ParsedFiles") == [(3,)]


def test_rotated_and_compressed_copy_is_not_parsed_twice_but_its_new_tail_is(db_url, tmp_path):
    live = tmp_path / "blahp.log"
    first = BLAH + "\n"
    live.write_text(first)
    parse_into(db_url, "blah", live)
    # More was written, then logrotate compressed the file away and started a new one.
    tail = BLAH.replace("lrmsID=4242", "lrmsID=4243") + "\n"
    with gzip.open(tmp_path / "blahp.log-20240416.gz", "wt") as out:
        out.write(first + tail)
    live.write_text(BLAH.replace("lrmsID=4242", "lrmsID=5000").replace("10:10:00", "23:59:00") + "\n")
    result = CliRunner().invoke(apel_parse, ["blah", "--db", db_url, "-v", str(tmp_path / "blahp.log-20240416.gz"),
                                             str(live)])
    assert result.exit_code == 0, result.output
    assert "1 lines parsed" in result.stderr and "(1 lines read before)" in result.stderr
    assert sorted(r[0] for r in db_rows(db_url, "SELECT LrmsId FROM BlahRecords")) == [
        "4242.torque.example.org", "4243.torque.example.org", "5000.torque.example.org"]
    again = CliRunner().invoke(apel_parse, ["blah", "--db", db_url, "-v", str(tmp_path / "blahp.log-20240416.gz")])
    assert "0 lines parsed" in again.stderr


def test_a_long_file_that_grew_is_recognised_by_its_first_bytes(db_url, tmp_path):
    path = tmp_path / "sacct.txt"
    jobs = [SLURM_JOB.replace("4242", str(n)) for n in range(100, 200)]  # more than one head of bytes
    path.write_text("\n".join(jobs[:60]) + "\n")
    parse_into(db_url, "slurm", path)
    path.write_text("\n".join(jobs) + "\n")
    result = parse_into(db_url, "slurm", path)
    assert db_rows(db_url, "SELECT COUNT(*) FROM BatchRecords") == [(100,)]
    assert db_rows(db_url, "SELECT ReadLines FROM ParsedFiles") == [(100,)]
    assert result.exit_code == 0


def test_ndjson_output_type(tmp_path):
    import io

    stream = io.StringIO()
    NDJSONOutput(stream).write([BlahParser().parse(BLAH)])
    assert json.loads(stream.getvalue())["CeId"] == "ce01.example.org:8443/cream-pbs-long"
