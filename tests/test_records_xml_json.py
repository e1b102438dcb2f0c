"""CAR and StAR XML, and accelerator JSON messages: reading, writing, refusing.

Every message goes through ``parse_message``, the entry point the loader uses,
so these tests also pin the dispatch on a body's first character and root
namespace.
"""

import json
import pathlib

import pytest

from apeltools.errors import MessageError
from apeltools.records import accelerator, car, star
from apeltools.records.car import parse_duration
from apeltools.records.fields import parse_time
from apeltools.records.message import parse_message, reject_body
from apeltools.records.types import ACCELERATOR, JOB, STORAGE, values_of
from apeltools.records.xml import CAR_NAMESPACE

NOW = parse_time("2026-01-15T00:00:00Z")
SCHEMA = pathlib.Path(__file__).parent.parent / "schemas" / "accelerator-v0.1.schema.json"


def parse(body):
    return parse_message(body, now=NOW)


# --- CAR (compute accounting records) ------------------------------------------------------

# A CAR 1.2 message as a CREAM/ARC site would send it: a container of usage records, with
# elements the job record has no place for (GlobalJobId, JobName, Host, Middleware...).
CAR_MESSAGE = """<?xml version="1.0" encoding="UTF-8"?>
<urf:UsageRecords xmlns:urf="http://eu-emi.eu/namespaces/2012/11/computerecord"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <urf:UsageRecord>
    <urf:RecordIdentity urf:recordId="ce01.example.org/123456.batch01" urf:createTime="2025-12-03T10:00:00Z"/>
    <urf:JobIdentity>
      <urf:GlobalJobId>https://ce01.example.org:8443/CREAM123456</urf:GlobalJobId>
      <urf:LocalJobId>123456.batch01</urf:LocalJobId>
    </urf:JobIdentity>
    <urf:UserIdentity>
      <urf:GlobalUserName urf:type="opensslCompat">/C=UK/O=eScience/OU=Example/CN=jane doe</urf:GlobalUserName>
      <urf:Group>atlas</urf:Group>
      <urf:GroupAttribute urf:type="FQAN">/atlas/uk/Role=production/Capability=NULL</urf:GroupAttribute>
      <urf:GroupAttribute urf:type="vo-group">/atlas/uk</urf:GroupAttribute>
      <urf:GroupAttribute urf:type="vo-role">Role=production</urf:GroupAttribute>
      <urf:LocalUserId>atlasprd042</urf:LocalUserId>
      <urf:LocalGroup>atlasprd</urf:LocalGroup>
    </urf:UserIdentity>
    <urf:JobName>panda-pilot</urf:JobName>
    <urf:Status>completed</urf:Status>
    <urf:ExitStatus>0</urf:ExitStatus>
    <urf:Infrastructure urf:type="grid" urf:description="APEL-CREAM-SLURM"/>
    <urf:Middleware urf:name="cream" urf:version="1.16">CREAM</urf:Middleware>
    <urf:WallDuration>PT3600S</urf:WallDuration>
    <urf:CpuDuration urf:usageType="user">PT20000S</urf:CpuDuration>
    <urf:CpuDuration urf:usageType="system">PT800S</urf:CpuDuration>
    <urf:CpuDuration urf:usageType="all">P0DT5H46M40.4S</urf:CpuDuration>
    <urf:ServiceLevel urf:type="HEPSPEC">10.5</urf:ServiceLevel>
    <urf:ServiceLevel urf:type="HEPscore23">11.2</urf:ServiceLevel>
    <urf:Memory urf:storageUnit="KB" urf:metric="average" urf:type="Physical">1000000</urf:Memory>
    <urf:Memory urf:storageUnit="MB" urf:metric="max" urf:type="Physical">2048</urf:Memory>
    <urf:Memory urf:storageUnit="KB" urf:metric="max" urf:type="Shared">4194304</urf:Memory>
    <urf:NodeCount>1</urf:NodeCount>
    <urf:Processors>8</urf:Processors>
    <urf:EndTime>2025-12-03T09:30:00Z</urf:EndTime>
    <urf:StartTime>2025-12-03T08:30:00Z</urf:StartTime>
    <urf:MachineName>batch01.example.org</urf:MachineName>
    <urf:Host urf:primary="true">wn123.example.org</urf:Host>
    <urf:SubmitHost>ce01.example.org:8443/cream-slurm-grid</urf:SubmitHost>
    <urf:Queue urf:description="execution">grid</urf:Queue>
    <urf:Site urf:type="gocdb">EXAMPLE-SITE</urf:Site>
  </urf:UsageRecord>
  <urf:UsageRecord>
    <urf:RecordIdentity urf:recordId="ce01.example.org/123457.batch01" urf:createTime="2025-12-03T10:00:00Z"/>
    <urf:JobIdentity><urf:LocalJobId>123457.batch01</urf:LocalJobId></urf:JobIdentity>
    <urf:UserIdentity><urf:LocalUserId>dteam001</urf:LocalUserId><urf:Group>dteam</urf:Group></urf:UserIdentity>
    <urf:Status>completed</urf:Status>
    <urf:Infrastructure urf:type="local"/>
    <urf:WallDuration>PT1M0.5S</urf:WallDuration>
    <urf:CpuDuration urf:usageType="user">PT40S</urf:CpuDuration>
    <urf:CpuDuration urf:usageType="system">PT2S</urf:CpuDuration>
    <urf:ServiceLevel urf:type="si2k">2500</urf:ServiceLevel>
    <urf:EndTime>2025-12-03T11:01:00+01:00</urf:EndTime>
    <urf:StartTime>2025-12-03T11:00:00+01:00</urf:StartTime>
    <urf:Queue>short</urf:Queue>
    <urf:Site>EXAMPLE-SITE</urf:Site>
  </urf:UsageRecord>
</urf:UsageRecords>
"""


def test_a_car_message_becomes_job_records():
    message = parse(CAR_MESSAGE)

    assert message.errors == []
    first, second = message.records
    assert first == JOB.make(
        Site="EXAMPLE-SITE",
        SubmitHost="ce01.example.org:8443/cream-slurm-grid",
        MachineName="batch01.example.org",
        Queue="grid",
        LocalJobId="123456.batch01",
        LocalUserId="atlasprd042",
        GlobalUserName="/C=UK/O=eScience/OU=Example/CN=jane doe",
        FQAN="/atlas/uk/Role=production/Capability=NULL",
        VO="atlas",
        VOGroup="/atlas/uk",
        VORole="Role=production",
        WallDuration=3600,
        CpuDuration=20800,  # the "all" figure wins over user + system
        Processors=8,
        NodeCount=1,
        StartTime=parse_time("2025-12-03T08:30:00Z"),
        EndTime=parse_time("2025-12-03T09:30:00Z"),
        InfrastructureDescription="APEL-CREAM-SLURM",
        InfrastructureType="grid",
        MemoryReal=2048 * 1024,  # metric="max", converted from MB
        MemoryVirtual=4194304,
        ServiceLevelType="HEPSPEC",  # the first ServiceLevel, as the deployed loader takes it
        ServiceLevel=10.5,
    )
    assert (second.VO, second.VOGroup, second.FQAN) == ("dteam", None, None)
    assert second.CpuDuration == 42  # no "all": user + system
    assert second.WallDuration == 60  # 60.5 s: seconds round halves to even, as the deployed loader does
    assert second.EndTime == parse_time("2025-12-03T10:01:00Z")  # the zone offset is honoured
    assert (second.ServiceLevelType, second.InfrastructureType) == ("si2k", "local")


def test_the_first_car_service_level_counts_with_its_type_as_spelt():
    """As the deployed loader reads a CAR: the first ServiceLevel element, its type unchanged."""
    body = CAR_MESSAGE.replace('urf:type="HEPSPEC">10.5<', 'urf:type="hepscore23">15.25<', 1)
    first = parse(body).records[0]
    assert (first.ServiceLevelType, first.ServiceLevel) == ("hepscore23", 15.25)
    unknown = CAR_MESSAGE.replace('urf:type="HEPSPEC">10.5<', 'urf:type="bogomips">10.5<', 1)
    assert [e.field for e in parse(unknown).errors] == ["ServiceLevelType"]


@pytest.mark.parametrize("group, role", [("vo-group", "vo-role"), ("group", "role")])
def test_car_vo_group_and_role_without_an_fqan(group, role):
    """CAR 1.2 names them vo-group and vo-role; the deployed loader reads group and role."""
    body = CAR_MESSAGE.replace(
        '<urf:GroupAttribute urf:type="FQAN">/atlas/uk/Role=production/Capability=NULL</urf:GroupAttribute>', ""
    ).replace('urf:type="vo-group"', f'urf:type="{group}"').replace('urf:type="vo-role"', f'urf:type="{role}"')
    first = parse(body).records[0]
    assert (first.FQAN, first.VO, first.VOGroup, first.VORole) == (None, "atlas", "/atlas/uk", "Role=production")


def test_car_in_a_default_namespace_reads_the_same():
    """Some producers declare the namespace as the default and qualify only attributes, or none."""
    in_default = (
        CAR_MESSAGE.replace("<urf:UsageRecords ", f'<UsageRecords xmlns="{CAR_NAMESPACE}" ')
        .replace("<urf:", "<")
        .replace("</urf:", "</")
    )
    unqualified_attributes = in_default.replace(" urf:", " ")
    assert "<urf:" not in in_default and 'urf:type="FQAN"' in in_default
    assert 'urf:type' not in unqualified_attributes

    expected = parse(CAR_MESSAGE).records
    assert parse(in_default).records == expected
    assert parse(unqualified_attributes).records == expected


def test_a_lone_usage_record_is_a_message_of_one_record():
    written = car.write(parse(CAR_MESSAGE).records[:1], created=NOW)
    start = written.index("<urf:UsageRecord>")
    end = written.index("</urf:UsageRecords>")
    lone = written[start:end].replace(
        "<urf:UsageRecord>",
        '<urf:UsageRecord xmlns:urf="http://eu-emi.eu/namespaces/2012/11/computerecord">', 1,
    )
    assert parse(lone).records == parse(CAR_MESSAGE).records[:1]


def test_car_round_trip():
    first, second = parse(CAR_MESSAGE).records
    awkward = JOB.make(**values_of(second) | {"LocalUserId": 'o\'brien & "co" <x>', "Queue": "ünï"})
    records = [first, awkward]

    written = car.write(records, created=NOW)

    assert written.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<urf:UsageRecords xmlns:urf=')
    assert written.count("<urf:UsageRecord>") == 2
    assert parse(written).records == records


def _bad_car_records():
    good = parse(CAR_MESSAGE).records[0]
    body = car.write([good], created=NOW)
    record = body[body.index("  <urf:UsageRecord>"):body.index("</urf:UsageRecords>")]
    bad_end = record.replace("123456.batch01", "bad-end").replace(
        "<urf:EndTime>2025-12-03T09:30:00Z", "<urf:EndTime>2025-12-03T07:00:00Z"
    )
    bad_wall = record.replace("123456.batch01", "bad-wall").replace("PT3600S", "PT1H30")
    no_job_id = record.replace("<urf:LocalJobId>123456.batch01</urf:LocalJobId>", "")
    bad_memory = record.replace("123456.batch01", "bad-memory").replace(
        'urf:storageUnit="KB" urf:metric="max" urf:type="Physical"',
        'urf:storageUnit="furlongs" urf:metric="max" urf:type="Physical"',
    )
    return body.replace(record, record + bad_end + bad_wall + no_job_id + bad_memory)


def test_bad_car_records_are_rejected_by_field_while_good_ones_load():
    message = parse(_bad_car_records())

    assert [r.LocalJobId for r in message.records] == ["123456.batch01"]
    assert [(e.index, e.field) for e in message.errors] == [
        (1, "EndTime"), (2, "WallDuration"), (3, "LocalJobId"), (4, "MemoryReal"),
    ]
    assert "EndTime is before StartTime" in str(message.errors[0])
    assert "not an xsd:duration" in message.errors[1].reason
    assert message.errors[0].first_line == "<urf:UsageRecord> recordId=EXAMPLE-SITE/bad-end/1764754200"


def test_the_reject_body_of_a_car_message_is_its_root_with_only_the_bad_records():
    """As for text messages: the bad records only, in the message's own root element (its
    attributes kept), each record's XML as it came; well-formed, and it loads again once mended."""
    body = _bad_car_records().replace("<urf:UsageRecords ", '<urf:UsageRecords xsi:schemaLocation="car.xsd" '
                                      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ', 1)
    message = parse(body)

    rejected = reject_body(message)
    assert rejected.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<urf:UsageRecords ')
    assert 'xsi:schemaLocation="car.xsd"' in rejected
    assert rejected.count("<urf:UsageRecord>") == 4 and "<urf:LocalJobId>123456.batch01<" not in rejected
    assert "<urf:EndTime>2025-12-03T07:00:00Z</urf:EndTime>" in rejected
    again = parse(rejected)
    assert again.records == []
    assert [(e.index, e.field) for e in again.errors] == [
        (0, "EndTime"), (1, "WallDuration"), (2, "LocalJobId"), (3, "MemoryReal")]
    mended = parse(rejected.replace("<urf:EndTime>2025-12-03T07:00:00Z", "<urf:EndTime>2025-12-03T09:30:00Z"))
    assert [r.LocalJobId for r in mended.records] == ["bad-end"]


def test_the_reject_body_of_a_lone_bad_car_record_is_that_record():
    written = car.write(parse(CAR_MESSAGE).records[:1], created=NOW)
    lone = written[written.index("<urf:UsageRecord>"):written.index("</urf:UsageRecords>")].replace(
        "<urf:UsageRecord>", f'<urf:UsageRecord xmlns:urf="{CAR_NAMESPACE}">', 1).replace("PT3600S", "PT1H30")

    rejected = reject_body(parse(lone))
    assert rejected.count("<urf:UsageRecord ") == 1 and "UsageRecords" not in rejected
    assert [(e.index, e.field) for e in parse(rejected).errors] == [(0, "WallDuration")]


def test_an_unknown_element_inside_the_container_is_a_rejected_record():
    body = CAR_MESSAGE.replace(
        "</urf:UsageRecords>", "<urf:SummaryRecord/></urf:UsageRecords>"
    )
    message = parse(body)
    assert len(message.records) == 2
    assert "unexpected element" in message.errors[0].reason


@pytest.mark.parametrize(
    "text, seconds",
    [("PT3600S", 3600), ("P1DT2H3M4.5S", 93784), ("PT0.49S", 0), ("PT1.5S", 2), ("PT2.5S", 2), ("PT0,6S", 1),
     ("P2D", 172800), ("PT1H", 3600), ("P0Y0M1D", 86400), ("P1Y", 31536000), ("P1M", 2628000),
     ("P1W", 604800), ("P1Y2M3W4DT5H6M7S", 31536000 + 2 * 2628000 + 3 * 604800 + 4 * 86400 + 5 * 3600 + 6 * 60 + 7)],
)
def test_xsd_durations_become_whole_seconds_as_the_deployed_loader_counts_them(text, seconds):
    """Seconds rounded halves to even; a year 365 days, a month a twelfth of that (issue 12)."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["P", "PT", "3600", "PT1H30", "PT-5S", "P1.5D", "", "PT" + "9" * 400 + "S"])
def test_malformed_durations_are_errors(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- StAR (storage accounting records) -----------------------------------------------------

STAR_MESSAGE = """<?xml version="1.0" encoding="UTF-8"?>
<sr:StorageUsageRecords xmlns:sr="http://eu-emi.eu/namespaces/2011/02/storagerecord">
  <sr:StorageUsageRecord>
    <sr:RecordIdentity sr:createTime="2025-12-01T06:00:05Z" sr:recordId="se01.example.org/sr/atlas/20251201"/>
    <sr:StorageSystem>se01.example.org</sr:StorageSystem>
    <sr:Site>EXAMPLE-SITE</sr:Site>
    <sr:StorageShare>ATLASDATADISK</sr:StorageShare>
    <sr:StorageMedia>disk</sr:StorageMedia>
    <sr:StorageClass>replicated</sr:StorageClass>
    <sr:FileCount>1204332</sr:FileCount>
    <sr:DirectoryPath>/dpm/example.org/home/atlas</sr:DirectoryPath>
    <sr:SubjectIdentity>
      <sr:LocalUser>atlasdpm</sr:LocalUser>
      <sr:LocalGroup>atlas</sr:LocalGroup>
      <sr:UserIdentity>/C=UK/O=eScience/OU=Example/CN=atlas data manager</sr:UserIdentity>
      <sr:Group>atlas</sr:Group>
      <sr:GroupAttribute sr:attributeType="subgroup">uk</sr:GroupAttribute>
      <sr:GroupAttribute sr:attributeType="role">production</sr:GroupAttribute>
      <sr:GroupAttribute sr:attributeType="title">ATLAS data</sr:GroupAttribute>
    </sr:SubjectIdentity>
    <sr:StartTime>2025-11-30T06:00:00Z</sr:StartTime>
    <sr:EndTime>2025-12-01T06:00:00Z</sr:EndTime>
    <sr:ResourceCapacityUsed>913427491045376</sr:ResourceCapacityUsed>
    <sr:LogicalCapacityUsed>913427491045376</sr:LogicalCapacityUsed>
    <sr:ResourceCapacityAllocated>1000000000000000</sr:ResourceCapacityAllocated>
  </sr:StorageUsageRecord>
  <sr:StorageUsageRecord>
    <sr:RecordIdentity sr:createTime="2025-12-01T06:00:05Z" sr:recordId="se01.example.org/sr/tape/20251201"/>
    <sr:StorageSystem>se01.example.org</sr:StorageSystem>
    <sr:StorageMedia>tape</sr:StorageMedia>
    <sr:StartTime>2025-11-30T06:00:00Z</sr:StartTime>
    <sr:EndTime>2025-12-01T06:00:00Z</sr:EndTime>
    <sr:ResourceCapacityUsed>14728</sr:ResourceCapacityUsed>
  </sr:StorageUsageRecord>
  <sr:StorageUsageRecord>
    <sr:RecordIdentity sr:createTime="2025-12-01T06:00:05Z" sr:recordId="se01.example.org/sr/broken"/>
    <sr:StorageSystem>se01.example.org</sr:StorageSystem>
    <sr:StartTime>2025-11-30T06:00:00Z</sr:StartTime>
    <sr:EndTime>2025-12-01T06:00:00Z</sr:EndTime>
    <sr:ResourceCapacityUsed>14 TB</sr:ResourceCapacityUsed>
  </sr:StorageUsageRecord>
</sr:StorageUsageRecords>
"""


def test_a_star_message_becomes_storage_records_and_a_bad_one_is_rejected():
    message = parse(STAR_MESSAGE)

    first, second = message.records
    assert first == STORAGE.make(
        RecordId="se01.example.org/sr/atlas/20251201",
        CreateTime=parse_time("2025-12-01T06:00:05Z"),
        StorageSystem="se01.example.org",
        Site="EXAMPLE-SITE",
        StorageShare="ATLASDATADISK",
        StorageMedia="disk",
        StorageClass="replicated",
        FileCount=1204332,
        DirectoryPath="/dpm/example.org/home/atlas",
        LocalUser="atlasdpm",
        LocalGroup="atlas",
        UserIdentity="/C=UK/O=eScience/OU=Example/CN=atlas data manager",
        Group="atlas",
        SubGroup="uk",
        Role="production",
        StartTime=parse_time("2025-11-30T06:00:00Z"),
        EndTime=parse_time("2025-12-01T06:00:00Z"),
        ResourceCapacityUsed=913427491045376,
        LogicalCapacityUsed=913427491045376,
        ResourceCapacityAllocated=10**15,
    )
    assert (second.StorageMedia, second.Site, second.Group) == ("tape", None, None)
    (error,) = message.errors
    assert (error.index, error.field) == (2, "ResourceCapacityUsed")
    assert error.first_line == "<sr:StorageUsageRecord> recordId=se01.example.org/sr/broken"
    rejected = reject_body(message)
    assert rejected.count("<sr:StorageUsageRecord>") == 1 and "se01.example.org/sr/broken" in rejected
    assert rejected.split("\n")[1].startswith("<sr:StorageUsageRecords xmlns:sr=")
    again = parse(rejected)
    assert again.records == [] and [(e.index, e.field) for e in again.errors] == [(0, "ResourceCapacityUsed")]


def test_star_round_trip():
    records = parse(STAR_MESSAGE).records

    written = star.write(records)

    assert written.count("<sr:StorageUsageRecord>") == 2
    assert '<sr:GroupAttribute sr:attributeType="role">production</sr:GroupAttribute>' in written
    assert parse(written).records == records


def test_a_star_record_without_its_mandatory_fields_names_the_first_missing():
    body = """<sr:StorageUsageRecord xmlns:sr="http://eu-emi.eu/namespaces/2011/02/storagerecord">
      <sr:RecordIdentity sr:recordId="x" sr:createTime="2025-12-01T06:00:05Z"/>
      <sr:StartTime>2025-11-30T06:00:00Z</sr:StartTime>
    </sr:StorageUsageRecord>"""
    (error,) = parse(body).errors
    assert error.field == "StorageSystem"


# --- What XML messages are refused as a whole ----------------------------------------------

def test_an_unknown_namespace_is_not_recognised():
    with pytest.raises(MessageError, match=r"Message type \{urn:example\}Records not recognised\."):
        parse('<Records xmlns="urn:example"><Record/></Records>')


def test_no_namespace_at_all_is_not_recognised():
    with pytest.raises(MessageError, match="Message type something not recognised."):
        parse("<something></something>")


def test_aggregated_records_are_refused():
    body = """<aur:SummaryRecords xmlns:aur="http://eu-emi.eu/namespaces/2012/11/aggregatedcomputerecord">
      <aur:SummaryRecord><aur:Site>EXAMPLE-SITE</aur:Site></aur:SummaryRecord>
    </aur:SummaryRecords>"""
    with pytest.raises(MessageError, match="not supported"):
        parse(body)


def test_an_entity_expansion_attack_is_refused_before_expanding():
    billion_laughs = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    ) + ']>\n<urf:UsageRecords xmlns:urf="http://eu-emi.eu/namespaces/2012/11/computerecord">&lol9;</urf:UsageRecords>'
    with pytest.raises(MessageError, match="DTDs and entity declarations are not allowed"):
        parse(billion_laughs)


def test_an_external_entity_is_refused():
    body = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<sr:StorageUsageRecords xmlns:sr="http://eu-emi.eu/namespaces/2011/02/storagerecord">&secret;</sr:StorageUsageRecords>"""
    with pytest.raises(MessageError, match="DTDs and entity declarations are not allowed"):
        parse(body)


def test_xml_that_does_not_parse_is_refused():
    with pytest.raises(MessageError, match="XML message does not parse"):
        parse("<urf:UsageRecords xmlns:urf='http://eu-emi.eu/namespaces/2012/11/computerecord'>")


def test_a_root_of_another_name_in_the_car_namespace_is_not_recognised():
    with pytest.raises(MessageError, match="not recognised"):
        parse('<urf:Jobs xmlns:urf="http://eu-emi.eu/namespaces/2012/11/computerecord"/>')


# --- Accelerator JSON ----------------------------------------------------------------------

def gpu_record(**changes):
    record = {
        "MeasurementMonth": 12,
        "MeasurementYear": 2025,
        "AssociatedRecordType": "job",
        "AssociatedRecord": "123456.batch01",
        "GlobalUserName": "/C=UK/O=eScience/OU=Example/CN=jane doe",
        "FQAN": "/atlas/Role=production",
        "SiteName": "EXAMPLE-SITE",
        "Count": 0.5,
        "Cores": 6912,
        "ActiveDuration": 3000,
        "AvailableDuration": 3600,
        "BenchmarkType": "HEPscore23",
        "Benchmark": 150.0,
        "Type": "GPU",
        "Model": "NVIDIA A100-SXM4-40GB",
    }
    record.update(changes)
    return record


def accelerator_message(*records, **envelope):
    message = {"Type": "APEL-accelerator-message", "Version": "0.1", "UsageRecords": list(records)}
    message.update(envelope)
    return json.dumps(message)


def test_an_accelerator_message_becomes_accelerator_records():
    cloud = gpu_record(
        AssociatedRecordType="cloud", AssociatedRecord="vm-3f2a", GlobalUserName=None,
        Count="2", ActiveDuration=None, Type="FPGA", Model=None,
    )
    message = parse(accelerator_message(gpu_record(), cloud))

    assert message.errors == []
    gpu, fpga = message.records
    assert gpu == ACCELERATOR.make(**gpu_record())
    assert (fpga.Count, fpga.GlobalUserName, fpga.Type) == (2.0, None, "FPGA")
    assert fpga.ActiveDuration == 3600  # defaults to AvailableDuration


def test_accelerator_round_trip():
    records = parse(accelerator_message(gpu_record(), gpu_record(AssociatedRecord="2", Count=3))).records

    written = accelerator.write(records)

    assert json.loads(written)["Type"] == "APEL-accelerator-message"
    assert parse(written).records == records


def test_written_accelerator_messages_follow_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    records = parse(accelerator_message(gpu_record(), gpu_record(GlobalUserName=None, Model=None))).records

    jsonschema.validate(json.loads(accelerator.write(records)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(accelerator_message(gpu_record(Type="TPU"))), schema)


def test_bad_accelerator_records_are_rejected_while_good_ones_load():
    message = parse(accelerator_message(
        gpu_record(),
        gpu_record(Type="TPU"),
        "not a record",
        gpu_record(Count=-1),
        gpu_record(AvailableDuration="1h"),
        gpu_record(Colour="green"),
        gpu_record(MeasurementMonth=2, MeasurementYear=2026),
    ))

    assert len(message.records) == 1
    assert [(e.index, e.field) for e in message.errors] == [
        (1, "Type"), (2, None), (3, "Count"), (4, "AvailableDuration"), (5, "Colour"),
        (6, "MeasurementMonth"),
    ]
    assert "must be a JSON object" in message.errors[1].reason
    assert message.errors[1].first_line == '"not a record"'
    assert len(message.errors[0].first_line) == 80
    # The reject body: the same envelope with only the bad UsageRecords, as they came.
    rejected = reject_body(message)
    assert json.loads(rejected) == json.loads(accelerator_message(*[
        gpu_record(Type="TPU"), "not a record", gpu_record(Count=-1), gpu_record(AvailableDuration="1h"),
        gpu_record(Colour="green"), gpu_record(MeasurementMonth=2, MeasurementYear=2026)]))
    again = parse(rejected)
    assert again.records == [] and [e.field for e in again.errors] == [e.field for e in message.errors]


def test_more_than_1000_accelerator_records_are_refused():
    records = [gpu_record(AssociatedRecord=str(i)) for i in range(1001)]
    with pytest.raises(MessageError, match="1 to 1000 records, not 1001"):
        parse(accelerator_message(*records))
    assert len(parse(accelerator_message(*records[:1000])).records) == 1000


def test_an_accelerator_message_without_records_is_refused():
    with pytest.raises(MessageError, match="not 0"):
        parse(accelerator_message())


@pytest.mark.parametrize("envelope", [{"Type": "APEL-gpu-message"}, {"Version": "0.2"}, {"Version": 0.1}])
def test_an_unknown_accelerator_type_or_version_is_not_recognised(envelope):
    with pytest.raises(MessageError, match="Message type .* not recognised"):
        parse(accelerator_message(gpu_record(), **envelope))


@pytest.mark.parametrize(
    "body, reason",
    [
        ('{"Type": "APEL-accelerator-message",', "does not parse"),
        ('{"Type": "APEL-accelerator-message", "Type": "x"}', "duplicate key"),
        (accelerator_message(gpu_record(Count=float("nan"))), "NaN is not a number"),
        (accelerator_message(gpu_record(), Extra=1), "Unknown message key"),
        ('{"Type": "APEL-accelerator-message", "Version": "0.1", "UsageRecords": {}}', "must be a list"),
    ],
)
def test_unusable_json_messages_are_refused(body, reason):
    with pytest.raises(MessageError, match=reason):
        parse(body)


def test_writing_refuses_what_a_reader_would_refuse():
    with pytest.raises(MessageError):
        accelerator.write([])
