"""The APEL text message grammar (formats.md §1): headers, lines, records, values, writing.

Every message goes through ``parse_message``, the entry point the loader uses. The record rules
of each type (mandatory fields, FQAN, benchmarks, months) are in ``test_records_types.py``; this
file pins how text becomes records and records become text, and that every layout of the same
records (any field order, blanks, null spellings, line ends) decodes to the same records.
"""

import random

import pytest

from apeltools.demo import sample
from apeltools.errors import MessageError, RecordError
from apeltools.records import benchmark
from apeltools.records.message import parse_message, reject_body
from apeltools.records.text import (
    CLOUD_SUMMARY_V04, CLOUD_V04, JOB_V03, JOB_V04, NORMALISED_V03, NORMALISED_V04, SUMMARY_V02,
    SUMMARY_V04, SYNC_V01, TEXT_FORMATS, parse_block, split_records, write_message, write_record,
)
from apeltools.records.types import (
    CLOUD, CLOUD_STATUSES, CLOUD_SUMMARY, JOB, NORMALISED_SUMMARY, SUMMARY, SYNC, values_of,
)
from tests.conftest import record_lines

NOW = 1768435200  # 2026-01-15T00:00:00Z: every record below lies in December 2025

JOB_HEADER = "APEL-individual-job-message: v0.3"

# The smallest valid job: the mandatory fields only, as a site would write them.
JOB_LINES = {
    "Site": "EXAMPLE-SITE",
    "LocalJobId": "123456.batch01",
    "WallDuration": "3600",
    "CpuDuration": "3000",
    "StartTime": "1764750600",  # 2025-12-03T08:30:00Z
    "EndTime": "1764754200",  # 2025-12-03T09:30:00Z
    "ServiceLevelType": "HEPSPEC",
    "ServiceLevel": "10.5",
}
JOB_RECORD = JOB.make(
    Site="EXAMPLE-SITE", LocalJobId="123456.batch01", WallDuration=3600, CpuDuration=3000,
    StartTime=1764750600, EndTime=1764754200, ServiceLevelType="HEPSPEC", ServiceLevel=10.5,
)

SUMMARY_LINES = {
    "Site": "EXAMPLE-SITE",
    "Month": "12",
    "Year": "2025",
    "ServiceLevelType": "HEPSPEC",
    "ServiceLevel": "10.5",
    "WallDuration": "360000",
    "CpuDuration": "300000",
    "NumberOfJobs": "100",
}

CLOUD_LINES = {
    "VMUUID": "2f1c9f7e-5a1b-4c3d-9e8f-0a1b2c3d4e5f",
    "SiteName": "EXAMPLE-CLOUD",
    "Status": "started",
    "StartTime": "1764750600",
}


def parse(body):
    return parse_message(body, now=NOW)


def only_record(body):
    """The single record of a message that must parse cleanly."""
    parsed = parse(body)
    assert [str(e) for e in parsed.errors] == []
    assert len(parsed.records) == 1
    return parsed.records[0]


def only_error(body):
    """The single error of a one-record message whose record must be rejected."""
    parsed = parse(body)
    assert parsed.records == []
    assert len(parsed.errors) == 1
    return parsed.errors[0]


def job(**values):
    """JOB_RECORD with some values changed."""
    return JOB.make(**{**values_of(JOB_RECORD), **values})


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, rtype",
    [
        ("APEL-individual-job-message: v0.2", JOB),
        ("APEL-individual-job-message: v0.3", JOB),
        ("APEL-individual-job-message: v0.4", JOB),
        ("APEL-individual-job-message: v0.9", JOB),  # made up: any job version but v0.4 is legacy
        ("APEL-summary-job-message: v0.2", SUMMARY),
        ("APEL-summary-job-message: v0.4", SUMMARY),
        ("APEL-summary-job-message: v0.3", NORMALISED_SUMMARY),  # same type name as v0.2!
        ("APEL-normalised-summary-message: v0.4", NORMALISED_SUMMARY),
        ("APEL-sync-message: v0.1", SYNC),
        ("APEL-cloud-message: v0.4", CLOUD),
        ("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY),
    ],
)
def test_each_text_header_names_its_record_type(header, rtype):
    parsed = parse(header + "\n%%\n")
    assert (parsed.format, parsed.rtype) == (header, rtype)
    assert (parsed.records, parsed.errors, parsed.rejected) == ([], [], [])


@pytest.mark.parametrize(
    "header", ["APEL-individual-job-message: v0.2", JOB_HEADER, "APEL-individual-job-message: v0.9"]
)
def test_job_headers_other_than_v04_use_the_legacy_benchmark_lines(header):
    assert only_record(header + "\n" + record_lines(JOB_LINES) + "%%\n") == JOB_RECORD
    error = only_error(header + "\n" + record_lines(JOB_LINES, ServiceLevelType=None, ServiceLevel="{HEPSPEC: 10.5}"))
    assert error.field == "ServiceLevel"
    assert error.reason == "not a number: '{HEPSPEC: 10.5}'"


def test_job_v04_header_uses_the_benchmark_dict():
    body = "APEL-individual-job-message: v0.4\n" + record_lines(
        JOB_LINES, ServiceLevelType=None, ServiceLevel="{HEPSPEC: 10.5}"
    )
    assert only_record(body) == JOB.make(**values_of(JOB_RECORD) | {"ServiceLevelType": "hepspec"})


@pytest.mark.parametrize(
    "header",
    [
        "APEL-summary-job-message: v0.9",  # only job messages accept any version
        "APEL-normalised-summary-message: v0.3",
        "APEL-sync-message: v0.2",
        "APEL-storage-message: v0.1",
        "APEL-individual-job-message:v0.3",  # ": " is part of the header
        "apel-individual-job-message: v0.3",
        "APEL-individual-job-message: 0.3",
        "APEL-individual-job-message: v1",
        "APEL-individual-job-message: v0.3-beta",
        "Site: EXAMPLE-SITE",  # a record without its header
    ],
)
def test_unknown_header_rejects_the_whole_message(header):
    with pytest.raises(MessageError) as raised:
        parse(header + "\n" + record_lines(JOB_LINES) + "%%\n")
    assert str(raised.value) == f"Message type {header} not recognised."


def test_empty_body_is_a_message_error():
    with pytest.raises(MessageError, match=r"^Empty message\.$"):
        parse(" \n\n")


def test_blank_lines_before_the_header_and_spaces_after_it_are_accepted():
    assert only_record("\n\n" + JOB_HEADER + "  \n" + record_lines(JOB_LINES) + "%%\n") == JOB_RECORD


@pytest.mark.parametrize(
    "body",
    [
        JOB_HEADER + "\n%%\n",
        JOB_HEADER + "\n%%",
        JOB_HEADER + "\n",
        JOB_HEADER,
        JOB_HEADER + "\n\n%%\n\n%%\n\n",
    ],
    ids=["header+%%", "no final newline", "header line only", "header without newline", "empty records"],
)
def test_a_message_without_records_is_valid_and_loads_nothing(body):
    parsed = parse(body)
    assert (parsed.format, parsed.records, parsed.errors, parsed.total) == (JOB_HEADER, [], [], 0)
    assert reject_body(parsed) is None


# --- lines and records -----------------------------------------------------------------------

TWO_BLOCKS = record_lines(JOB_LINES) + "%%\n" + record_lines(JOB_LINES, LocalJobId="2.batch01") + "%%\n"
TWO_JOBS = JOB_HEADER + "\n" + TWO_BLOCKS
TWO_RECORDS = [JOB_RECORD, job(LocalJobId="2.batch01")]


@pytest.mark.parametrize(
    "header_end, records",
    [
        ("\n", TWO_BLOCKS),
        ("\r\n", TWO_BLOCKS.replace("\n", "\r\n")),
        ("\n", TWO_BLOCKS[: -len("%%\n")]),  # last record without %%
        ("\n", TWO_BLOCKS[: -len("\n")]),  # %% without a trailing newline
        ("\n\n", TWO_BLOCKS.replace("%%\n", "%%\n\n\n")),  # blank lines between records
        ("\r\n \t\r\n", TWO_BLOCKS.replace("%%\n", "%%\r\n \t\r\n")),  # whitespace-only lines
        ("\n", TWO_BLOCKS.replace("%%\n", "  %%\t\n")),  # blanks around the separator
        ("\n", TWO_BLOCKS.replace(": ", ":")),  # Key:value
        ("\n", TWO_BLOCKS.replace(": ", " \t:   ")),
        ("\n", TWO_BLOCKS.replace("\n", "  \n").replace("Site", "\tSite")),
        ("\n", TWO_BLOCKS.replace("\nWallDuration", "\n\nWallDuration")),  # blank line inside a record
    ],
    ids=[
        "canonical", "CRLF", "last without %%", "%% at end of body", "blank lines",
        "blank-ish lines", "spaced separator", "no space after colon", "spaces around colon",
        "leading and trailing blanks", "blank line inside record",
    ],
)
def test_layout_variants_give_the_same_records(header_end, records):
    parsed = parse(JOB_HEADER + header_end + records)
    assert [str(e) for e in parsed.errors] == []
    assert parsed.records == TWO_RECORDS


def test_a_line_is_split_at_its_first_colon():
    record = only_record(JOB_HEADER + "\n" + record_lines(
        JOB_LINES,
        SubmitHost="ce.example.org:8443/cream-pbs",
        LocalJobId="https://ce.example.org:8443/CREAM123456",
        GlobalUserName="/C=UK/O=eScience/CN=jane doe: admin",
    ))
    assert record.SubmitHost == "ce.example.org:8443/cream-pbs"
    assert record.LocalJobId == "https://ce.example.org:8443/CREAM123456"
    assert record.GlobalUserName == "/C=UK/O=eScience/CN=jane doe: admin"


def test_keys_and_values_are_stripped_but_inner_spaces_kept():
    body = JOB_HEADER + "\n" + record_lines(JOB_LINES).replace("Site: EXAMPLE-SITE", " \tSite \t:  EXAMPLE-SITE \t")
    body += "GlobalUserName:   /C=UK/CN=jane  doe   \n"
    record = only_record(body)
    assert record.Site == "EXAMPLE-SITE"
    assert record.GlobalUserName == "/C=UK/CN=jane  doe"


def test_a_line_without_colon_rejects_only_its_record():
    body = JOB_HEADER + "\n" + record_lines(JOB_LINES) + "%%\n" + record_lines(
        JOB_LINES, Site="SITE-B"
    ).replace("LocalJobId: 123456.batch01\n", "this line has no colon\n") + "%%\n"
    parsed = parse(body)
    assert parsed.records == [JOB_RECORD]
    [error] = parsed.errors
    assert (error.index, error.first_line, error.field) == (1, "Site: SITE-B", None)
    assert str(error) == "record 1 ('Site: SITE-B'): line without ':': 'this line has no colon'"


def test_a_repeated_key_takes_its_last_value():
    body = JOB_HEADER + "\nSite: FIRST\nSite: None\n" + record_lines(JOB_LINES, Site=None) + "Site: EXAMPLE-SITE\n%%\n"
    assert only_record(body) == JOB_RECORD
    # ... including a null token: the field is then absent.
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES) + "Site: None\n")
    assert (error.field, error.reason) == ("Site", "mandatory field is missing")


def test_keys_are_case_sensitive():
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES).replace("Site:", "site:"))
    assert (error.field, error.reason) == ("site", "Unknown field: site")
    assert str(error) == "record 0 ('site: EXAMPLE-SITE'), field site: Unknown field: site"


@pytest.mark.parametrize("key", ["Colour", "Infrastructure", "ServiceLevelTyp", "VMUUID", "Month"])
def test_a_field_the_record_type_does_not_know_is_an_error_naming_it(key):
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES) + f"{key}: x\n")
    assert (error.index, error.first_line, error.field) == (0, "Site: EXAMPLE-SITE", key)
    assert str(error) == f"record 0 ('Site: EXAMPLE-SITE'), field {key}: Unknown field: {key}"


NULL_TOKENS = ["", "None", "none", "null", "NULL", "NuLl", "nONE"]


@pytest.mark.parametrize("token", NULL_TOKENS)
@pytest.mark.parametrize("key", ["Queue", "Processors", "MemoryReal", "FQAN", "InfrastructureType"])
def test_null_tokens_mean_absent_in_job_fields(key, token):
    assert only_record(JOB_HEADER + "\n" + record_lines(JOB_LINES, **{key: token})) == JOB_RECORD


@pytest.mark.parametrize("token", NULL_TOKENS)
@pytest.mark.parametrize("key", ["EarliestEndTime", "GlobalUserName", "NodeCount"])
def test_null_tokens_mean_absent_in_summary_fields(key, token):
    record = only_record("APEL-summary-job-message: v0.2\n" + record_lines(SUMMARY_LINES, **{key: token}))
    assert getattr(record, key) is None


@pytest.mark.parametrize("token", NULL_TOKENS)
@pytest.mark.parametrize("key", ["Benchmark", "EndTime", "Memory", "ImageId"])
def test_null_tokens_mean_absent_in_cloud_fields(key, token):
    record = only_record("APEL-cloud-message: v0.4\n" + record_lines(CLOUD_LINES, **{key: token}))
    assert getattr(record, key) is None


@pytest.mark.parametrize("token", NULL_TOKENS)
@pytest.mark.parametrize("key", ["Site", "WallDuration", "EndTime", "ServiceLevel"])
def test_a_null_token_in_a_mandatory_field_means_it_is_missing(key, token):
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES, **{key: token}))
    assert (error.field, error.reason) == (key, "mandatory field is missing")


@pytest.mark.parametrize("text", ["n/a", "nil", "Nonee", "NULL NULL", "-", "0"])
def test_words_near_the_null_tokens_are_values(text):
    assert only_record(JOB_HEADER + "\n" + record_lines(JOB_LINES, Queue=text)).Queue == text


@pytest.mark.parametrize(
    "header, fields, key",
    [
        (JOB_HEADER, JOB_LINES, "UpdateTime"),
        (JOB_HEADER, JOB_LINES, "SubmitHostType"),
        ("APEL-individual-job-message: v0.4",
         {**JOB_LINES, "ServiceLevelType": None, "ServiceLevel": "{HEPSPEC: 10.5}"}, "SubmitHostType"),
        ("APEL-summary-job-message: v0.2", SUMMARY_LINES, "UpdateTime"),
        ("APEL-cloud-message: v0.4", CLOUD_LINES, "UpdateTime"),
        ("APEL-cloud-message: v0.4", CLOUD_LINES, "MeasurementTime"),
        ("APEL-cloud-message: v0.4", CLOUD_LINES, "MeasurementMonth"),
        ("APEL-cloud-message: v0.4", CLOUD_LINES, "MeasurementYear"),
    ],
)
def test_ignored_keys_are_accepted_and_dropped(header, fields, key):
    plain = only_record(header + "\n" + record_lines(fields))
    # Even values that would not parse: the key is dropped before its value is read.
    for value in ("2025-12-03 10:00:00", "not a value", "None"):
        assert only_record(header + "\n" + record_lines(fields) + f"{key}: {value}\n") == plain


@pytest.mark.parametrize(
    "header, fields, key",
    [
        ("APEL-summary-job-message: v0.2", SUMMARY_LINES, "SubmitHostType"),
        ("APEL-summary-job-message: v0.2", SUMMARY_LINES, "MeasurementTime"),
        ("APEL-sync-message: v0.1", {"Site": "S", "NumberOfJobs": "1", "Month": "12", "Year": "2025"}, "UpdateTime"),
        (JOB_HEADER, JOB_LINES, "MeasurementMonth"),
    ],
)
def test_keys_ignored_by_one_type_are_unknown_to_another(header, fields, key):
    error = only_error(header + "\n" + record_lines(fields) + f"{key}: 1\n")
    assert (error.field, error.reason) == (key, f"Unknown field: {key}")


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("1h", "not an integer: '1h'"),
        ("-5", "must not be negative: -5"),
        ("+5", "not an integer: '+5'"),
        ("1.0", "not an integer: '1.0'"),
        ("1_000", "not an integer: '1_000'"),
        ("1 000", "not an integer: '1 000'"),
        ("0x10", "not an integer: '0x10'"),
        ("1e3", "not an integer: '1e3'"),
        ("\u0663", "not an integer: '\u0663'"),  # ARABIC-INDIC DIGIT THREE: isdigit() but not ASCII
        ("\u00b2", "not an integer: '\u00b2'"),  # SUPERSCRIPT TWO
        ("\uff11\uff12", "not an integer: '\uff11\uff12'"),  # FULLWIDTH 12
    ],
)
def test_integers_are_ascii_digits_only(text, reason):
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES, WallDuration=text))
    assert (error.field, error.reason) == ("WallDuration", reason)


@pytest.mark.parametrize("text, value", [("0", 0), ("007", 7), ("3600", 3600), ("99999999999", 99999999999)])
def test_integers_parse_to_their_value(text, value):
    assert only_record(JOB_HEADER + "\n" + record_lines(JOB_LINES, MemoryReal=text)).MemoryReal == value


@pytest.mark.parametrize(
    "text, value", [("10", 10.0), ("10.5", 10.5), ("1e1", 10.0), (".5", 0.5), ("2500.", 2500.0), ("0", 0.0)]
)
def test_floats_use_python_float_syntax(text, value):
    record = only_record(JOB_HEADER + "\n" + record_lines(JOB_LINES, ServiceLevel=text))
    assert record.ServiceLevel == value and type(record.ServiceLevel) is float


@pytest.mark.parametrize(
    "text, reason",
    [
        ("ten", "not a number: 'ten'"),
        ("1,5", "not a number: '1,5'"),
        ("nan", "not a number: 'nan'"),
        ("inf", "not a number: 'inf'"),
        ("-Infinity", "not a number: '-Infinity'"),
        ("1_000", "not a number: '1_000'"),
        ("١٢", "not a number: '١٢'"),
    ],
)
def test_floats_that_are_not_finite_numbers_are_errors(text, reason):
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES, ServiceLevel=text))
    assert (error.field, error.reason) == ("ServiceLevel", reason)


@pytest.mark.parametrize(
    "start, end",
    [
        ("2025-12-03T08:30:00Z", "2025-12-03T09:30:00Z"),
        ("1764750600", "2025-12-03T09:30:00Z"),
        ("2025-12-03T08:30:00Z", "1764754200"),
    ],
)
def test_times_are_epoch_seconds_or_iso_8601_utc(start, end):
    assert only_record(JOB_HEADER + "\n" + record_lines(JOB_LINES, StartTime=start, EndTime=end)) == JOB_RECORD


@pytest.mark.parametrize(
    "text", ["yesterday", "1764754200.5", "-1764754200", "03/12/2025 09:30:00", "2025-12-03T25:00:00Z"]
)
def test_times_that_are_neither_epoch_nor_iso_are_errors(text):
    error = only_error(JOB_HEADER + "\n" + record_lines(JOB_LINES, EndTime=text))
    assert (error.field, error.reason) == ("EndTime", f"not an epoch or ISO 8601 time: {text!r}")


# --- errors and rejected records -------------------------------------------------------------


def test_bad_records_are_reported_by_index_first_line_and_field_while_good_ones_load():
    blocks = [
        record_lines(JOB_LINES),
        record_lines(JOB_LINES, Site="SITE-B", WallDuration="1h"),
        record_lines(JOB_LINES, LocalJobId="3.batch01"),
        "LocalJobId: 4.batch01\n" + record_lines(JOB_LINES, LocalJobId=None, Site=None),
        record_lines(JOB_LINES, Site="SITE-E", EndTime="1764750000"),
    ]
    parsed = parse(JOB_HEADER + "\n" + "%%\n".join(blocks) + "%%\n")
    assert parsed.records == [JOB_RECORD, job(LocalJobId="3.batch01")]
    assert parsed.total == 5
    assert [(e.index, e.first_line, e.field) for e in parsed.errors] == [
        (1, "Site: SITE-B", "WallDuration"),
        (3, "LocalJobId: 4.batch01", "Site"),
        (4, "Site: SITE-E", "EndTime"),
    ]
    assert [str(e) for e in parsed.errors] == [
        "record 1 ('Site: SITE-B'), field WallDuration: not an integer: '1h'",
        "record 3 ('LocalJobId: 4.batch01'), field Site: mandatory field is missing",
        "record 4 ('Site: SITE-E'), field EndTime: EndTime is before StartTime",
    ]
    assert all(isinstance(e, RecordError) for e in parsed.errors)
    # The reject body is a message of the same header holding the bad records' own lines, so
    # that an operator can mend and reload it.
    assert reject_body(parsed) == JOB_HEADER + "\n" + "".join(blocks[i] + "%%\n" for i in (1, 3, 4))
    again = parse(reject_body(parsed))
    assert [(e.index, e.field, e.reason) for e in again.errors] == [
        (0, "WallDuration", "not an integer: '1h'"),
        (1, "Site", "mandatory field is missing"),
        (2, "EndTime", "EndTime is before StartTime"),
    ]


def test_reject_body_keeps_an_unusual_header_and_normalises_line_ends():
    body = "APEL-individual-job-message: v0.9\r\n" + record_lines(JOB_LINES, WallDuration="x").replace("\n", "\r\n")
    parsed = parse(body)
    assert reject_body(parsed) == "APEL-individual-job-message: v0.9\n" + record_lines(JOB_LINES, WallDuration="x") + "%%\n"


def test_reject_body_is_none_when_every_record_loaded():
    assert reject_body(parse(TWO_JOBS)) is None


# --- writing ---------------------------------------------------------------------------------

# A job as a CREAM site with an si2k benchmark would publish it; some optional fields unknown.
WRITTEN_JOB = JOB.make(
    Site="EXAMPLE-SITE", SubmitHost="ce01.example.org:8443/cream-pbs-grid", MachineName=None,
    Queue="grid", LocalJobId="123456.batch01", LocalUserId="atlasprd042",
    GlobalUserName="/C=UK/O=eScience/CN=jane doe", FQAN="/atlas/Role=production/Capability=NULL",
    VO="atlas", VOGroup="/atlas", VORole="Role=production", WallDuration=3600, CpuDuration=3000,
    Processors=8, NodeCount=None, StartTime=1764750600, EndTime=1764754200,
    InfrastructureDescription="APEL-CREAM-PBS", InfrastructureType="grid", MemoryReal=None,
    MemoryVirtual=4194304, ServiceLevelType="si2k", ServiceLevel=2500.0,
)
WRITTEN_JOB_LINES = """\
Site: EXAMPLE-SITE
SubmitHost: ce01.example.org:8443/cream-pbs-grid
MachineName: None
Queue: grid
LocalJobId: 123456.batch01
LocalUserId: atlasprd042
GlobalUserName: /C=UK/O=eScience/CN=jane doe
FQAN: /atlas/Role=production/Capability=NULL
VO: atlas
VOGroup: /atlas
VORole: Role=production
WallDuration: 3600
CpuDuration: 3000
Processors: 8
NodeCount: None
StartTime: 1764750600
EndTime: 1764754200
InfrastructureDescription: APEL-CREAM-PBS
InfrastructureType: grid
MemoryReal: None
MemoryVirtual: 4194304
"""


def test_job_v03_is_written_in_field_order_with_none_for_absent_values():
    assert write_message(JOB_V03, [WRITTEN_JOB]) == (
        "APEL-individual-job-message: v0.3\n" + WRITTEN_JOB_LINES
        + "ServiceLevelType: si2k\nServiceLevel: 2500.0\n%%\n"
    )


def test_job_v04_writes_the_benchmark_as_a_one_entry_dict():
    assert write_message(JOB_V04, [WRITTEN_JOB, WRITTEN_JOB]) == (
        "APEL-individual-job-message: v0.4\n"
        + (WRITTEN_JOB_LINES + "ServiceLevel: {si2k: 2500.0}\n%%\n") * 2
    )


def test_summary_writing_leaves_out_absent_times():
    record = SUMMARY.make(
        Site="EXAMPLE-SITE", Month=12, Year=2025, GlobalUserName=None, VO="atlas", VOGroup="/atlas",
        VORole="Role=production", SubmitHost="ce01.example.org:8443/cream-pbs-grid",
        InfrastructureType="grid", InfrastructureDescription="APEL-CREAM-PBS",
        ServiceLevelType="HEPscore23", ServiceLevel=15.3, NodeCount=1, Processors=8,
        EarliestEndTime=None, LatestEndTime=1767225599, WallDuration=360000, CpuDuration=2700000,
        NumberOfJobs=100,
    )
    middle = (
        "NodeCount: 1\nProcessors: 8\nLatestEndTime: 1767225599\n"
        "WallDuration: 360000\nCpuDuration: 2700000\nNumberOfJobs: 100\n%%\n"
    )
    head = (
        "Site: EXAMPLE-SITE\nMonth: 12\nYear: 2025\nGlobalUserName: None\nVO: atlas\nVOGroup: /atlas\n"
        "VORole: Role=production\nSubmitHost: ce01.example.org:8443/cream-pbs-grid\n"
        "InfrastructureType: grid\nInfrastructureDescription: APEL-CREAM-PBS\n"
    )
    assert write_record(SUMMARY_V02, record) == head + "ServiceLevelType: HEPscore23\nServiceLevel: 15.3\n" + middle
    assert write_record(SUMMARY_V04, record) == head + "ServiceLevel: {HEPscore23: 15.3}\n" + middle


NORMALISED_RECORD = NORMALISED_SUMMARY.make(
    Site="EXAMPLE-SITE", Month=12, Year=2025, GlobalUserName="/C=UK/O=eScience/CN=jane doe",
    VO="atlas", VOGroup="/atlas", VORole="Role=production", SubmitHost=None, Infrastructure="grid",
    InfrastructureDescription="APEL-ARC-SLURM", NodeCount=1, Processors=8,
    EarliestEndTime=1764547200, LatestEndTime=1767225599, WallDuration=4000000000,
    CpuDuration=3999999999, NormalisedWallDuration=61192802343, NormalisedCpuDuration=61192802328,
    NumberOfJobs=12345, ServiceLevelType="HEPSPEC",
)
NORMALISED_HEAD = (
    "Site: EXAMPLE-SITE\nMonth: 12\nYear: 2025\nGlobalUserName: /C=UK/O=eScience/CN=jane doe\n"
    "VO: atlas\nVOGroup: /atlas\nVORole: Role=production\nSubmitHost: None\nInfrastructure: grid\n"
    "InfrastructureDescription: APEL-ARC-SLURM\nNodeCount: 1\nProcessors: 8\n"
    "EarliestEndTime: 1764547200\nLatestEndTime: 1767225599\nWallDuration: 4000000000\n"
    "CpuDuration: 3999999999\n"
)


def test_normalised_v03_writes_no_benchmark_type():
    assert write_message(NORMALISED_V03, [NORMALISED_RECORD]) == (
        "APEL-summary-job-message: v0.3\n" + NORMALISED_HEAD
        + "NormalisedWallDuration: 61192802343\nNormalisedCpuDuration: 61192802328\nNumberOfJobs: 12345\n%%\n"
    )


def test_normalised_v04_names_the_benchmark_type_in_both_durations():
    assert write_message(NORMALISED_V04, [NORMALISED_RECORD]) == (
        "APEL-normalised-summary-message: v0.4\n" + NORMALISED_HEAD
        + "NormalisedWallDuration: {HEPSPEC: 61192802343}\n"
        "NormalisedCpuDuration: {HEPSPEC: 61192802328}\nNumberOfJobs: 12345\n%%\n"
    )


def test_cloud_writing_leaves_out_absent_times():
    record = CLOUD.make(
        VMUUID="vm-1", SiteName="EXAMPLE-CLOUD", Status="started", StartTime=1764750600,
        WallDuration=600, Benchmark=12.0,
    )
    written = write_record(CLOUD_V04, record)
    assert written.startswith("VMUUID: vm-1\nSiteName: EXAMPLE-CLOUD\nCloudComputeService: None\n")
    assert "RecordCreateTime" not in written and "EndTime" not in written
    assert "\nStatus: started\nStartTime: 1764750600\nSuspendDuration: None\nWallDuration: 600\n" in written
    assert "\nBenchmarkType: None\nBenchmark: 12.0\n" in written
    assert written.endswith("\nCloudType: None\n%%\n")
    assert only_record("APEL-cloud-message: v0.4\n" + written) == record


def test_sync_is_written_in_field_order():
    record = SYNC.make(Site="EXAMPLE-SITE", SubmitHost=None, NumberOfJobs=1234, Month=12, Year=2025)
    assert write_message(SYNC_V01, [record]) == (
        "APEL-sync-message: v0.1\nSite: EXAMPLE-SITE\nSubmitHost: None\nNumberOfJobs: 1234\n"
        "Month: 12\nYear: 2025\n%%\n"
    )


def test_writing_no_records_gives_a_valid_empty_message():
    for fmt in TEXT_FORMATS:
        assert write_message(fmt, []) == fmt.header + "\n"
        assert parse(write_message(fmt, [])).total == 0


# --- round trips -----------------------------------------------------------------------------


def normalised(summary, level_type):
    """The normalised summary of a summary, as a repository would publish it."""
    factor = benchmark.factor(summary.ServiceLevelType, summary.ServiceLevel)
    values = values_of(summary)
    values["Infrastructure"] = values.pop("InfrastructureType")
    del values["ServiceLevel"], values["ServiceLevelType"]
    return NORMALISED_SUMMARY.make(
        **values,
        NormalisedWallDuration=round(summary.WallDuration * factor),
        NormalisedCpuDuration=round(summary.CpuDuration * factor),
        ServiceLevelType=level_type,
    )


def cloud_records(rng, count):
    """Cloud VM records in every status, as an OpenStack site would publish them."""
    records = []
    for number in range(count):
        status = rng.choice(CLOUD_STATUSES)
        start = rng.randrange(1764547200, 1766000000)
        wall = rng.randrange(60, 1000000)
        end = start + wall if status == "completed" else None
        vo, fqan = rng.choice(sample.VOS)
        records.append(CLOUD.make(
            RecordCreateTime=start + wall + 30, VMUUID=f"{rng.getrandbits(128):032x}",
            SiteName=rng.choice(("EXAMPLE-CLOUD", "CESNET-MCC")), CloudComputeService="nova.example.org",
            MachineName=f"vm-{number}", LocalUserId=f"u{rng.randrange(999)}", LocalGroupId=f"g{rng.randrange(9)}",
            GlobalUserName=f"/C=UK/O=eScience/CN={vo} user {rng.randrange(12)}", FQAN=fqan, Status=status,
            StartTime=start, EndTime=end, SuspendDuration=rng.choice((0, 120)), WallDuration=wall,
            CpuDuration=wall * rng.randrange(1, 9), CpuCount=rng.choice((1, 2, 4, 8)), NetworkType="private",
            NetworkInbound=rng.randrange(10**9), NetworkOutbound=rng.randrange(10**9),
            PublicIPCount=rng.randrange(3), Memory=rng.choice((2048, 4096, 16384)), Disk=rng.randrange(10, 500),
            BenchmarkType="HEPSPEC", Benchmark=round(rng.uniform(5, 20), 3), StorageRecordId=f"sr-{number}",
            ImageId=f"image-{rng.randrange(5)}", CloudType="OpenStack",
        ))
    return records


def cloud_summaries(rng, count):
    records = []
    for number in range(count):
        vo, fqan = rng.choice(sample.VOS)
        earliest = rng.randrange(1764547200, 1767000000)
        records.append(CLOUD_SUMMARY.make(
            SiteName="EXAMPLE-CLOUD", CloudComputeService="nova.example.org", Month=12, Year=2025,
            GlobalUserName=f"/C=UK/O=eScience/CN={vo} user {number}", VO=vo, VOGroup="/" + vo,
            VORole="Role=NULL", Status=rng.choice(CLOUD_STATUSES), CloudType="OpenStack",
            ImageId=f"image-{number}", EarliestStartTime=earliest, LatestStartTime=earliest + rng.randrange(10**5),
            WallDuration=rng.randrange(10**8), CpuDuration=rng.randrange(10**9), CpuCount=rng.randrange(1, 999),
            NetworkInbound=rng.randrange(10**12), NetworkOutbound=rng.randrange(10**12), Memory=rng.randrange(10**7),
            Disk=rng.randrange(10**5), BenchmarkType="HEPSPEC", Benchmark=round(rng.uniform(5, 20), 2),
            NumberOfVMs=rng.randrange(1, 500),
        ))
    return records


def with_gaps(record, rng, keep=()):
    """A copy of ``record`` with about 40 % of its optional fields absent."""
    rtype = type(record).record_type
    values = values_of(record)
    for field in rtype.fields:
        if not field.mandatory and field.name not in keep and rng.random() < 0.4:
            values[field.name] = None
    return rtype.make(**values)


def sample_records(seed):
    """Records of every text format, from the demo data generator and made by hand."""
    rng = sample.rng_for(seed)
    jobs, summaries, syncs = [], [], []
    for site in sample.SITES:
        site_jobs = sample.jobs(site, 2025, 12, 40, rng)
        jobs += site_jobs
        summaries += sample.summaries(site, 2025, 12, site_jobs)
        for month in (9, 10, 11, 12):
            syncs += sample.syncs(site, 2025, month, site_jobs[: month * 3])
    # With the FQAN gone, VO, VOGroup and VORole are the record's own again.
    sparse_jobs = [with_gaps(j, rng, keep=("VO", "VOGroup", "VORole")) for j in jobs[:30]]
    sparse_summaries = [with_gaps(s, rng) for s in summaries[:30]]
    clouds = cloud_records(rng, 60)
    cloud_sums = cloud_summaries(rng, 30)
    hepspec_normalised = [normalised(s, "HEPSPEC") for s in summaries]
    return {
        JOB_V03: jobs + sparse_jobs,
        JOB_V04: jobs + sparse_jobs,
        SUMMARY_V02: summaries + sparse_summaries,
        SUMMARY_V04: summaries + sparse_summaries,
        # v0.3 has no benchmark type on the wire: it is HEPSPEC by definition.
        NORMALISED_V03: hepspec_normalised + [with_gaps(n, rng) for n in hepspec_normalised[:20]],
        NORMALISED_V04: [normalised(s, s.ServiceLevelType) for s in summaries]
        + [with_gaps(normalised(s, s.ServiceLevelType), rng) for s in summaries[:20]],
        SYNC_V01: syncs + [with_gaps(s, rng) for s in syncs],
        CLOUD_V04: clouds + [with_gaps(c, rng, keep=("StartTime",)) for c in clouds[:30]],
        CLOUD_SUMMARY_V04: cloud_sums + [with_gaps(c, rng) for c in cloud_sums[:15]],
    }


SAMPLES = sample_records(2026)


def test_the_samples_cover_every_text_format_and_every_benchmark_type():
    assert set(SAMPLES) == set(TEXT_FORMATS)
    assert all(len(records) >= 12 for records in SAMPLES.values())
    assert {j.ServiceLevelType for j in SAMPLES[JOB_V03]} == {"HEPscore23", "HEPSPEC", "si2k"}
    assert {c.Status for c in SAMPLES[CLOUD_V04]} == {*CLOUD_STATUSES, None}


def as_stored(fmt, records):
    """The records as parsing gives them back: a v0.4 job's benchmark type in lower case, as
    the deployed loader stores it."""
    if not fmt.lower_case_type:
        return records
    return [JOB.make(**values_of(r) | {"ServiceLevelType": r.ServiceLevelType.lower()}) for r in records]


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
def test_written_records_parse_back_equal(fmt):
    records = SAMPLES[fmt]
    parsed = parse(write_message(fmt, records))
    assert [str(e) for e in parsed.errors] == []
    assert (parsed.format, parsed.rtype) == (fmt.header, fmt.rtype)
    assert parsed.records == as_stored(fmt, records)


@pytest.mark.parametrize("fmt", [JOB_V03, JOB_V04], ids=lambda f: f.header)
def test_a_job_with_only_its_mandatory_fields_round_trips(fmt):
    assert parse(write_message(fmt, [JOB_RECORD])).records == as_stored(fmt, [JOB_RECORD])
    assert "EndTime: 1764754200\n" in write_record(fmt, JOB_RECORD)
    assert "MemoryReal: None\n" in write_record(fmt, JOB_RECORD)


# --- every layout decodes alike ------------------------------------------------------------

SEPARATORS = [":", " :", ": ", " : ", ":\t", "\t:  ", ":   "]
NULL_SPELLINGS = ["None", "none", "NULL", "null", "NuLl", ""]


def perturb(block, rng):
    """The same record laid out otherwise: shuffled lines, blanks around the colon and at both
    ends, null tokens respelt, CRLF or LF, and the first line always with " : "."""
    record_lines = [line for line in block.split("\n") if line]
    rng.shuffle(record_lines)
    out = []
    for number, line in enumerate(record_lines):
        key, _, value = line.partition(": ")
        if value == "None":
            value = rng.choice(NULL_SPELLINGS)
        separator = " : " if number == 0 else rng.choice(SEPARATORS)
        out.append(rng.choice(("", " ", "\t")) + key + separator + value + rng.choice(("", " ", "\t ")))
    end = rng.choice(("\n", "\r\n"))
    return end.join(out) + end


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
def test_perturbed_layouts_parse_to_the_same_records(fmt):
    rng = random.Random(f"perturb {fmt.header}")
    records = SAMPLES[fmt]
    written = write_message(fmt, records)
    _, blocks = split_records(written)
    perturbed = [perturb(block, rng) for block in blocks]
    body = fmt.header + rng.choice(("\n", "\r\n")) + "".join(
        p + rng.choice(("%%\n", "%%\r\n", "  %%\r\n\r\n", "\n%%\n\n")) for p in perturbed
    )
    parsed = parse(body)
    assert [str(e) for e in parsed.errors] == []
    assert parsed.records == parse(written).records == as_stored(fmt, records)


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
def test_a_record_decodes_alike_alone_in_any_layout_and_among_others(fmt):
    rng = random.Random(f"alone {fmt.header}")
    records = SAMPLES[fmt]
    _, blocks = split_records(write_message(fmt, records))
    for record, block in zip(as_stored(fmt, records), blocks):
        alone = parse_block(fmt, perturb(block, rng).replace("\r\n", "\n"), NOW)
        assert parse_block(fmt, block, NOW) == alone == record


def test_a_record_that_breaks_a_rule_is_rejected_whatever_its_layout():
    late = JOB.make(**{**values_of(WRITTEN_JOB), "MachineName": "wn001", "NodeCount": 1,
                       "MemoryReal": 1, "EndTime": NOW + 2 * 86400 + 1})
    block = write_record(JOB_V03, late)[: -len("%%\n")]
    assert parse_block(JOB_V03, block, NOW + 1) is not None
    for layout in (block, perturb(block, random.Random(1))):
        error = only_error(JOB_HEADER + "\n" + layout)
        assert (error.field, error.reason) == ("EndTime", "EndTime is more than 2 days in the future")
