"""The record rules of formats.md §2–§3: mandatory fields, checks, FQANs and benchmarks.

Records are read as the loader reads them, through ``parse_message`` with a fixed ``now``;
each test shows one rule with the value that passes it and the value that breaks it.
"""

import pytest

from apeltools.records.fields import month_bounds
from apeltools.records.fqan import split_fqan
from apeltools.records.message import parse_message
from apeltools.records.types import CLOUD, JOB, NORMALISED_SUMMARY, SYNC, values_of
from tests.conftest import record_lines

NOW = 1768435200  # 2026-01-15T00:00:00Z
DECEMBER_START, DECEMBER_END = 1764547200, 1767225600  # 2025-12-01 and 2026-01-01, 00:00:00Z

JOB_V03 = "APEL-individual-job-message: v0.3"
JOB_V04 = "APEL-individual-job-message: v0.4"

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
JOB_V04_LINES = {**JOB_LINES, "ServiceLevelType": None, "ServiceLevel": "{HEPSPEC: 10.5}"}

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
NORMALISED_LINES = {
    **SUMMARY_LINES, "ServiceLevelType": None, "ServiceLevel": None,
    "NormalisedWallDuration": "3780000", "NormalisedCpuDuration": "3150000",
}
SYNC_LINES = {"Site": "EXAMPLE-SITE", "SubmitHost": "ce01.example.org:8443/cream-pbs", "NumberOfJobs": "1234",
              "Month": "12", "Year": "2025"}
CLOUD_LINES = {"VMUUID": "2f1c9f7e-5a1b-4c3d-9e8f-0a1b2c3d4e5f", "SiteName": "EXAMPLE-CLOUD",
               "Status": "started", "StartTime": "1764750600"}
CLOUD_SUMMARY_LINES = {"SiteName": "EXAMPLE-CLOUD", "Month": "12", "Year": "2025", "NumberOfVMs": "42"}


def only_record(header, fields, **changes):
    parsed = parse_message(header + "\n" + record_lines(fields, **changes) + "%%\n", now=NOW)
    assert [str(e) for e in parsed.errors] == []
    [record] = parsed.records
    return record


def only_error(header, fields, **changes):
    """(field, reason) of the error of a one-record message that must be rejected."""
    parsed = parse_message(header + "\n" + record_lines(fields, **changes) + "%%\n", now=NOW)
    assert parsed.records == []
    [error] = parsed.errors
    return error.field, error.reason


# --- jobs ------------------------------------------------------------------------------------


def test_a_job_with_its_mandatory_fields_only():
    assert only_record(JOB_V03, JOB_LINES) == JOB.make(
        Site="EXAMPLE-SITE", LocalJobId="123456.batch01", WallDuration=3600, CpuDuration=3000,
        StartTime=1764750600, EndTime=1764754200, ServiceLevelType="HEPSPEC", ServiceLevel=10.5,
    )


@pytest.mark.parametrize("name", list(JOB_LINES))
def test_each_mandatory_job_field_missing_is_an_error_naming_it(name):
    assert only_error(JOB_V03, JOB_LINES, **{name: None}) == (name, "mandatory field is missing")


@pytest.mark.parametrize("name", ["Site", "LocalJobId", "WallDuration", "CpuDuration", "StartTime", "EndTime"])
def test_each_mandatory_v04_job_field_missing_is_an_error_naming_it(name):
    assert only_error(JOB_V04, JOB_V04_LINES, **{name: None}) == (name, "mandatory field is missing")


@pytest.mark.parametrize("value", [None, "None"], ids=["line missing", "null token"])
@pytest.mark.parametrize("header, fields", [
    (JOB_V04, JOB_V04_LINES),
    ("APEL-summary-job-message: v0.4", {**SUMMARY_LINES, "ServiceLevelType": None, "ServiceLevel": "{HEPSPEC: 10.5}"}),
], ids=["job", "summary"])
def test_a_missing_v04_benchmark_is_reported_on_the_field_the_message_has(header, fields, value):
    assert only_error(header, fields, ServiceLevel=value) == ("ServiceLevel", "mandatory field is missing")


def test_end_time_may_equal_start_time_but_not_precede_it():
    assert only_record(JOB_V03, JOB_LINES, EndTime="1764750600").EndTime == 1764750600
    assert only_error(JOB_V03, JOB_LINES, EndTime="1764750599") == ("EndTime", "EndTime is before StartTime")


def test_end_time_may_be_up_to_two_days_after_now():
    limit = NOW + 2 * 86400
    assert only_record(JOB_V03, JOB_LINES, EndTime=str(limit)).EndTime == limit
    assert only_error(JOB_V03, JOB_LINES, EndTime=str(limit + 1)) == (
        "EndTime", "EndTime is more than 2 days in the future"
    )
    # The limit moves with the ``now`` the caller passes, not with the clock.
    body = JOB_V03 + "\n" + record_lines(JOB_LINES, EndTime=str(limit + 1))
    assert parse_message(body, now=NOW + 1).errors == []


@pytest.mark.parametrize("name", ["WallDuration", "CpuDuration"])
def test_negative_durations_are_errors(name):
    assert only_error(JOB_V03, JOB_LINES, **{name: "-5"}) == (name, "must not be negative: -5")
    assert getattr(only_record(JOB_V03, JOB_LINES, **{name: "0"}), name) == 0


@pytest.mark.parametrize(
    "fqan, expected",
    [
        ("/atlas/Role=production/Capability=NULL", ("atlas", "/atlas", "Role=production")),
        ("/atlas/uk/Role=NULL", ("atlas", "/atlas/uk", "Role=NULL")),
        ("/wlcg", ("wlcg", "/wlcg", "None")),
        ("dteam", ("dteam", "None", "None")),
        ("/atlas/Role=production/Capability=NULL;/atlas/uk", ("atlas", "/atlas", "Role=production")),
        ("/atlas/uk/Role=NULL/Capability=NULL;/atlas/Role=pilot", ("atlas", "/atlas/uk", "Role=NULL")),
        ("/cms/uk/tier2/role=Pilot", ("cms", "/cms/uk/tier2", "role=Pilot")),  # Role= in any case, kept verbatim
        # As the deployed loader derives them (issue 12): a capability before any role stays in
        # the group, an empty first element is an empty VO, and nothing is stripped.
        ("/lhcb/Capability=NULL", ("lhcb", "/lhcb/Capability=NULL", "None")),
        ("//atlas/Role=pilot", ("", "/atlas", "Role=pilot")),
        ("/", ("", "", "None")),
        ("/Role=x", ("Role=x", "", "Role=x")),
        ("/atlas ;/cms", ("atlas ", "/atlas ", "None")),
    ],
)
def test_vo_group_and_role_come_from_the_primary_fqan(fqan, expected):
    record = only_record(JOB_V03, JOB_LINES, FQAN=fqan)
    assert record.FQAN == fqan
    assert (record.VO, record.VOGroup, record.VORole) == expected
    assert split_fqan(fqan) == expected


def test_an_fqan_overrides_the_vo_fields_given_beside_it():
    record = only_record(JOB_V03, JOB_LINES, FQAN="/cms/Role=pilot/Capability=NULL", VO="atlas",
                         VOGroup="/atlas/uk", VORole="Role=production")
    assert (record.VO, record.VOGroup, record.VORole) == ("cms", "/cms", "Role=pilot")


def test_without_an_fqan_the_vo_fields_are_kept_as_given():
    record = only_record(JOB_V03, JOB_LINES, FQAN="None", VO="atlas", VOGroup="/atlas/uk", VORole="None")
    assert (record.VO, record.VOGroup, record.VORole) == ("atlas", "/atlas/uk", None)


@pytest.mark.parametrize("text, expected", [("grid", "grid"), ("local", "local"), ("Grid", "grid"), ("LOCAL", "local")])
def test_infrastructure_type_is_grid_or_local(text, expected):
    assert only_record(JOB_V03, JOB_LINES, InfrastructureType=text).InfrastructureType == expected


def test_another_infrastructure_type_is_an_error():
    assert only_error(JOB_V03, JOB_LINES, InfrastructureType="cloud") == (
        "InfrastructureType", "must be 'grid' or 'local', not 'cloud'"
    )


def test_the_month_of_a_job_is_the_utc_month_of_its_end():
    record = only_record(JOB_V03, JOB_LINES, StartTime="2025-12-31T22:00:00Z", EndTime="2025-12-31T23:59:59Z")
    assert JOB.derived(record) == (2025, 12)
    record = only_record(JOB_V03, JOB_LINES, StartTime="2025-12-31T22:00:00Z", EndTime="2026-01-01T00:00:00Z")
    assert JOB.derived(record) == (2026, 1)


# --- benchmarks ------------------------------------------------------------------------------


LEGACY_TYPES = [
    ("si2k", "si2k"), ("SI2K", "si2k"), ("Si2K", "si2k"),
    ("HEPSPEC", "HEPSPEC"), ("hepspec", "HEPSPEC"), ("HepSpec", "HEPSPEC"),
    ("HEPscore23", "HEPscore23"), ("hepscore23", "HEPscore23"), ("HEPSCORE23", "HEPscore23"),
]


@pytest.mark.parametrize("text, canonical", LEGACY_TYPES)
def test_legacy_job_benchmark_types_are_case_insensitive_and_keep_their_spelling(text, canonical):
    """As the deployed loader stores them: a job record's key does not hold the type."""
    record = only_record(JOB_V03, JOB_LINES, ServiceLevelType=text, ServiceLevel="2500")
    assert (record.ServiceLevelType, record.ServiceLevel) == (text, 2500.0)


@pytest.mark.parametrize("text, canonical", LEGACY_TYPES)
def test_summary_benchmark_types_are_spelt_canonically(text, canonical):
    """The type is part of a summary's natural key (exact here, case-insensitive in the deployed
    schema): one spelling per type, so that a group re-sent in another syntax replaces its row."""
    record = only_record(SUMMARY_V02, SUMMARY_LINES, ServiceLevelType=text, ServiceLevel="2500")
    assert record.ServiceLevelType == canonical


@pytest.mark.parametrize("text, stored", [
    ("10.0015", 10.002), ("2500.0005", 2500.001), ("10.12345", 10.123), ("10.5", 10.5), ("7", 7.0),
    ("0.0004", 0.0),
])
def test_benchmarks_are_stored_to_the_thousandth_as_the_deployed_schema_stores_them(text, stored):
    """DECIMAL(10,3) in the deployed schema: rounded from the decimal form, halves away from zero."""
    assert only_record(JOB_V03, JOB_LINES, ServiceLevel=text).ServiceLevel == stored
    assert only_record(JOB_V04, JOB_V04_LINES, ServiceLevel=f"{{HEPSPEC: {text}}}").ServiceLevel == stored
    assert only_record(SUMMARY_V02, SUMMARY_LINES, ServiceLevel=text).ServiceLevel == stored
    assert only_record(CLOUD_V04, CLOUD_LINES, Benchmark=text).Benchmark == stored
    assert only_record("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY_LINES, Benchmark=text).Benchmark == stored


@pytest.mark.parametrize("text", ["SPECint2000", "HS06", "hepscore", "si2k HEPSPEC"])
def test_an_unknown_legacy_benchmark_type_is_an_error(text):
    assert only_error(JOB_V03, JOB_LINES, ServiceLevelType=text) == (
        "ServiceLevelType", f"unknown benchmark type {text!r} (expected one of HEPscore23, HEPSPEC, si2k)"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{hepspec: 11.4, HEPscore23: 15.3}", ("hepscore23", 15.3)),
        ("{HEPSPEC: 11.4}", ("hepspec", 11.4)),
        ("{si2k: 2500, hepspec: 10}", ("hepspec", 10.0)),
        ("{SI2K: 2500}", ("si2k", 2500.0)),
        ("{ hepscore23 :15.3 ,si2k:3800 }", ("hepscore23", 15.3)),
        ("{hepspec: 11.4, foo: 3}", ("hepspec", 11.4)),  # unknown keys beside a known one are dropped
    ],
)
def test_the_v04_benchmark_dict_keeps_the_preferred_type_in_lower_case(text, expected):
    """The deployed loader stores a v0.4 job's type as the dict key in lower case (issue 12)."""
    record = only_record(JOB_V04, JOB_V04_LINES, ServiceLevel=text)
    assert (record.ServiceLevelType, record.ServiceLevel) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{HEPSPEC: 1, hepspec: 2}", "duplicate benchmark type 'hepspec'"),
        ("{foo: 1}", "No valid benchmark type found"),
        ("{}", "No valid benchmark type found"),
        ("10.5", "not a benchmark dict {type: value, ...}: '10.5'"),
        ("{HEPSPEC 10.5}", "not a 'type: value' entry: 'HEPSPEC 10.5'"),
        ("{HEPSPEC: ten}", "not a number: 'ten'"),
    ],
)
def test_a_broken_v04_benchmark_dict_is_an_error(text, reason):
    assert only_error(JOB_V04, JOB_V04_LINES, ServiceLevel=text) == ("ServiceLevel", reason)


def test_a_service_level_type_line_is_unknown_in_v04():
    assert only_error(JOB_V04, JOB_V04_LINES, ServiceLevelType="HEPSPEC") == (
        "ServiceLevelType", "Unknown field: ServiceLevelType"
    )


# --- summaries -------------------------------------------------------------------------------

SUMMARY_V02 = "APEL-summary-job-message: v0.2"
SUMMARY_V04 = "APEL-summary-job-message: v0.4"
NORMALISED_V03 = "APEL-summary-job-message: v0.3"
NORMALISED_V04 = "APEL-normalised-summary-message: v0.4"


@pytest.mark.parametrize("name", list(SUMMARY_LINES))
def test_each_mandatory_summary_field_missing_is_an_error_naming_it(name):
    assert only_error(SUMMARY_V02, SUMMARY_LINES, **{name: None}) == (name, "mandatory field is missing")


@pytest.mark.parametrize("header, fields", [
    (SUMMARY_V02, SUMMARY_LINES),
    (NORMALISED_V03, NORMALISED_LINES),
    ("APEL-sync-message: v0.1", SYNC_LINES),
    ("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY_LINES),
])
@pytest.mark.parametrize("month, reason", [
    ("13", "month must be 1..12, not 13"),
    ("0", "month must be 1..12, not 0"),
])
def test_months_outside_1_to_12_are_errors(header, fields, month, reason):
    assert only_error(header, fields, Month=month) == ("Month", reason)


@pytest.mark.parametrize("header, fields", [
    (SUMMARY_V02, SUMMARY_LINES),
    ("APEL-sync-message: v0.1", SYNC_LINES),
    ("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY_LINES),
])
def test_the_current_month_is_accepted_and_the_next_rejected(header, fields):
    record = only_record(header, fields, Month="1", Year="2026")
    assert (record.Month, record.Year) == (1, 2026)
    assert only_error(header, fields, Month="2", Year="2026") == ("Month", "2026-02 is in the future")
    assert only_error(header, fields, Month="1", Year="2027") == ("Month", "2027-01 is in the future")
    assert only_error(header, fields, Year="1969") == ("Year", "year 1969 is before 1970")


def test_a_summary_with_every_field():
    body = record_lines(
        SUMMARY_LINES, GlobalUserName="/C=UK/O=eScience/CN=jane doe", VO="atlas", VOGroup="/atlas",
        VORole="Role=production", SubmitHost="ce01.example.org:8443/cream-pbs", InfrastructureType="grid",
        InfrastructureDescription="APEL-CREAM-PBS", NodeCount="1", Processors="8",
        EarliestEndTime="2025-12-01T00:00:00Z", LatestEndTime="2025-12-31T23:59:59Z",
    )
    record = only_record(SUMMARY_V02, {}, **dict(line.split(": ", 1) for line in body.splitlines()))
    assert values_of(record) == {
        "Site": "EXAMPLE-SITE", "Month": 12, "Year": 2025, "GlobalUserName": "/C=UK/O=eScience/CN=jane doe",
        "VO": "atlas", "VOGroup": "/atlas", "VORole": "Role=production",
        "SubmitHost": "ce01.example.org:8443/cream-pbs", "InfrastructureType": "grid",
        "InfrastructureDescription": "APEL-CREAM-PBS", "ServiceLevelType": "HEPSPEC", "ServiceLevel": 10.5,
        "NodeCount": 1, "Processors": 8, "EarliestEndTime": DECEMBER_START, "LatestEndTime": DECEMBER_END - 1,
        "WallDuration": 360000, "CpuDuration": 300000, "NumberOfJobs": 100,
    }


def test_end_times_must_lie_inside_the_summary_month():
    assert month_bounds(2025, 12) == (DECEMBER_START, DECEMBER_END)
    record = only_record(SUMMARY_V02, SUMMARY_LINES, EarliestEndTime=str(DECEMBER_START),
                         LatestEndTime=str(DECEMBER_END - 1))
    assert (record.EarliestEndTime, record.LatestEndTime) == (DECEMBER_START, DECEMBER_END - 1)
    assert only_error(SUMMARY_V02, SUMMARY_LINES, EarliestEndTime=str(DECEMBER_START - 1)) == (
        "EarliestEndTime", f"{DECEMBER_START - 1} is outside 2025-12"
    )
    assert only_error(SUMMARY_V02, SUMMARY_LINES, LatestEndTime=str(DECEMBER_END)) == (
        "LatestEndTime", f"{DECEMBER_END} is outside 2025-12"
    )
    assert only_error(SUMMARY_V02, SUMMARY_LINES, Month="11", LatestEndTime=str(DECEMBER_START)) == (
        "LatestEndTime", f"{DECEMBER_START} is outside 2025-11"
    )


def test_earliest_end_time_must_not_be_after_latest():
    assert only_error(SUMMARY_V02, SUMMARY_LINES, EarliestEndTime="1765000001", LatestEndTime="1765000000") == (
        "EarliestEndTime", "EarliestEndTime is after LatestEndTime"
    )
    record = only_record(SUMMARY_V02, SUMMARY_LINES, EarliestEndTime="1765000000", LatestEndTime="1765000000")
    assert record.EarliestEndTime == record.LatestEndTime == 1765000000


def test_summary_v04_reads_the_benchmark_dict():
    record = only_record(SUMMARY_V04, SUMMARY_LINES, ServiceLevelType=None,
                         ServiceLevel="{HEPSPEC: 10.5, hepscore23: 12.25}")
    assert (record.ServiceLevelType, record.ServiceLevel) == ("HEPscore23", 12.25)
    assert only_error(SUMMARY_V04, SUMMARY_LINES) == ("ServiceLevelType", "Unknown field: ServiceLevelType")


def test_normalised_v03_means_hepspec():
    record = only_record(NORMALISED_V03, NORMALISED_LINES, Infrastructure="grid")
    assert record == NORMALISED_SUMMARY.make(
        Site="EXAMPLE-SITE", Month=12, Year=2025, Infrastructure="grid", WallDuration=360000,
        CpuDuration=300000, NormalisedWallDuration=3780000, NormalisedCpuDuration=3150000,
        NumberOfJobs=100, ServiceLevelType="HEPSPEC",
    )


NORMALISED_V04_LINES = {
    **NORMALISED_LINES,
    "NormalisedWallDuration": "{HEPSPEC: 3780000}", "NormalisedCpuDuration": "{HEPSPEC: 3150000}",
}


@pytest.mark.parametrize("header, fields", [(NORMALISED_V03, NORMALISED_LINES), (NORMALISED_V04, NORMALISED_V04_LINES)])
@pytest.mark.parametrize("name", ["ServiceLevelType", "ServiceLevel", "InfrastructureType"])
def test_normalised_summaries_have_no_benchmark_or_infrastructure_type_lines(header, fields, name):
    assert only_record(header, fields).ServiceLevelType == "HEPSPEC"
    assert only_error(header, fields, **{name: "HEPSPEC"}) == (name, f"Unknown field: {name}")


@pytest.mark.parametrize("name", ["Site", "Month", "Year", "WallDuration", "CpuDuration",
                                  "NormalisedWallDuration", "NormalisedCpuDuration", "NumberOfJobs"])
def test_each_mandatory_normalised_field_missing_is_an_error_naming_it(name):
    assert only_error(NORMALISED_V03, NORMALISED_LINES, **{name: None}) == (name, "mandatory field is missing")


@pytest.mark.parametrize(
    "wall, cpu, expected",
    [
        ("{HEPscore23: 61192802343}", "{hepscore23: 61192802328}", ("HEPscore23", 61192802343, 61192802328)),
        ("{HEPSPEC: 3780000}", "{HEPSPEC: 3150000}", ("HEPSPEC", 3780000, 3150000)),
        ("{si2k: 10, HEPSPEC: 3780000}", "{HEPSPEC: 3150000}", ("HEPSPEC", 3780000, 3150000)),
    ],
)
def test_normalised_v04_durations_name_their_benchmark(wall, cpu, expected):
    record = only_record(NORMALISED_V04, NORMALISED_LINES, NormalisedWallDuration=wall, NormalisedCpuDuration=cpu)
    assert (record.ServiceLevelType, record.NormalisedWallDuration, record.NormalisedCpuDuration) == expected


@pytest.mark.parametrize(
    "wall, cpu, error",
    [
        ("{HEPSPEC: 3780000}", "{HEPscore23: 3150000}",
         ("NormalisedCpuDuration", "Mixture of benchmark types detected")),
        ("{foo: 3780000}", "{HEPSPEC: 3150000}", ("NormalisedWallDuration", "No valid benchmark type found")),
        ("{HEPSPEC: 37.8e999}", "{HEPSPEC: 3150000}", ("NormalisedWallDuration", "not a number: '37.8e999'")),
        ("{HEPSPEC: 1h}", "{HEPSPEC: 3150000}", ("NormalisedWallDuration", "not a number: '1h'")),
        ("3780000", "{HEPSPEC: 3150000}",
         ("NormalisedWallDuration", "not a benchmark dict {type: value, ...}: '3780000'")),
        ("{HEPSPEC: 3780000}", None, ("NormalisedCpuDuration", "mandatory field is missing")),
    ],
)
def test_broken_normalised_v04_durations_are_errors(wall, cpu, error):
    assert only_error(NORMALISED_V04, NORMALISED_LINES, NormalisedWallDuration=wall, NormalisedCpuDuration=cpu) == error


def test_fractional_normalised_v04_durations_lose_their_fraction_as_in_the_deployed_loader():
    record = only_record(NORMALISED_V04, NORMALISED_LINES, NormalisedWallDuration="{HEPSPEC: 3780000.7}",
                         NormalisedCpuDuration="{hepspec: 3150000.2}")
    assert (record.NormalisedWallDuration, record.NormalisedCpuDuration) == (3780000, 3150000)


# --- sync ------------------------------------------------------------------------------------


def test_a_sync_record():
    assert only_record("APEL-sync-message: v0.1", SYNC_LINES) == SYNC.make(
        Site="EXAMPLE-SITE", SubmitHost="ce01.example.org:8443/cream-pbs", NumberOfJobs=1234, Month=12, Year=2025
    )
    assert only_record("APEL-sync-message: v0.1", SYNC_LINES, SubmitHost="None").SubmitHost is None


@pytest.mark.parametrize("name", ["Site", "NumberOfJobs", "Month", "Year"])
def test_each_mandatory_sync_field_missing_is_an_error_naming_it(name):
    assert only_error("APEL-sync-message: v0.1", SYNC_LINES, **{name: None}) == (name, "mandatory field is missing")


# --- cloud -----------------------------------------------------------------------------------

CLOUD_V04 = "APEL-cloud-message: v0.4"


@pytest.mark.parametrize("text, status", [
    ("started", "started"), ("completed", "completed"), ("suspended", "suspended"),
    ("Completed", "completed"), ("SUSPENDED", "suspended"), ("None", None),
])
def test_cloud_status_values(text, status):
    assert only_record(CLOUD_V04, CLOUD_LINES, Status=text).Status == status


@pytest.mark.parametrize("text", ["running", "deleted", "paused"])
def test_another_cloud_status_is_an_error(text):
    assert only_error(CLOUD_V04, CLOUD_LINES, Status=text) == (
        "Status", f"must be one of started, completed, suspended, not {text!r}"
    )


@pytest.mark.parametrize("name", ["VMUUID", "SiteName"])
def test_each_mandatory_cloud_field_missing_is_an_error_naming_it(name):
    assert only_error(CLOUD_V04, CLOUD_LINES, **{name: None}) == (name, "mandatory field is missing")


@pytest.mark.parametrize(
    "changes, moment",
    [
        # completed: the end; RecordCreateTime (often written later) does not count
        ({"Status": "completed", "EndTime": "1764800000", "RecordCreateTime": "1764900000"}, 1764800000),
        # not completed: when the record was made
        ({"Status": "started", "EndTime": "1764800000", "RecordCreateTime": "1764900000"}, 1764900000),
        ({"Status": "completed", "RecordCreateTime": "1764900000"}, 1764900000),
        # without RecordCreateTime: start plus the time it ran and was suspended
        ({"Status": "suspended", "SuspendDuration": "100", "WallDuration": "1000"}, 1764750600 + 1100),
        ({"Status": "None", "WallDuration": "1000"}, 1764750600 + 1000),
        ({}, 1764750600),
    ],
)
def test_cloud_measurement_time(changes, moment):
    record = only_record(CLOUD_V04, CLOUD_LINES, **changes)
    assert CLOUD.derived(record)[:3] == (moment, 2025, 12)


def test_a_cloud_record_needs_a_measurement_time():
    assert only_error(CLOUD_V04, CLOUD_LINES, StartTime=None) == (
        "RecordCreateTime", "no measurement time: give RecordCreateTime or StartTime"
    )
    record = only_record(CLOUD_V04, CLOUD_LINES, StartTime=None, RecordCreateTime="2025-12-05T00:00:00Z")
    assert record.RecordCreateTime == 1764892800


def test_cloud_end_time_must_not_precede_start_time():
    assert only_error(CLOUD_V04, CLOUD_LINES, EndTime="1764750599") == ("EndTime", "EndTime is before StartTime")


def test_cloud_vo_fields_come_from_the_fqan():
    record = only_record(CLOUD_V04, CLOUD_LINES, FQAN="/atlas/uk/Role=NULL/Capability=NULL;/atlas")
    assert CLOUD.derived(record)[3:] == ("atlas", "/atlas/uk", "Role=NULL")
    assert CLOUD.derived(only_record(CLOUD_V04, CLOUD_LINES))[3:] == (None, None, None)


def test_every_accepted_cloud_record_has_a_measurement_month():
    """A measurement time outside 1970..2099 is refused, naming the field it comes from; the
    first and the last second of that range give their months."""
    assert only_error(CLOUD_V04, CLOUD_LINES, StartTime="99999999999999999999") == (
        "StartTime", "time 99999999999999999999 is outside 1970..2099")
    assert only_error(CLOUD_V04, CLOUD_LINES, WallDuration="99999999999999") == (
        "WallDuration", "measurement time 100001764750599 is after 2099")
    assert CLOUD.derived(only_record(CLOUD_V04, CLOUD_LINES, StartTime="0"))[:3] == (0, 1970, 1)
    assert CLOUD.derived(only_record(CLOUD_V04, CLOUD_LINES, StartTime="4102444799"))[:3] == (4102444799, 2099, 12)


def test_a_cloud_summary():
    record = only_record("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY_LINES, Status="completed",
                         EarliestStartTime="2025-12-01T00:00:00Z", Benchmark="12.5", BenchmarkType="HEPSPEC")
    assert (record.SiteName, record.Month, record.Year, record.NumberOfVMs) == ("EXAMPLE-CLOUD", 12, 2025, 42)
    assert (record.Status, record.EarliestStartTime, record.BenchmarkType, record.Benchmark) == (
        "completed", DECEMBER_START, "HEPSPEC", 12.5
    )


@pytest.mark.parametrize("name", list(CLOUD_SUMMARY_LINES))
def test_each_mandatory_cloud_summary_field_missing_is_an_error_naming_it(name):
    assert only_error("APEL-cloud-summary-message: v0.4", CLOUD_SUMMARY_LINES, **{name: None}) == (
        name, "mandatory field is missing"
    )


def test_month_of_a_remembered_day_is_gmtimes_month():
    """month_of answers from the days it has seen: each second of a day, either side of every
    month's first midnight, fractional and negative times, all as time.gmtime gives them."""
    import random
    import time

    from apeltools.records.fields import month_of

    rng = random.Random(5)
    moments = [start + shift for year in (1969, 2000, 2024, 2026) for month in range(1, 13)
               for start in [month_bounds(year, month)[0]] for shift in (-86400.5, -1, -0.25, 0, 0.75, 86399, 86400)]
    moments += [rng.randrange(-10**9, 4 * 10**9) + rng.random() for _ in range(20000)]
    for moment in moments + moments:  # the second time from what it remembered
        assert month_of(moment) == time.gmtime(moment)[:2], moment
