"""The columnar decoder (apeltools/records/columns.py) gives what decoding record by record gives.

The decoder reads a message's records in passes over whole columns: C-level checks of a
whole column, conversions of each distinct value once, record rules applied once per
distinct input. This file decodes the same records one at a time, line by line, with the
library's per-record pieces (the field kinds' parsers, the benchmark dict parser,
``build.finish`` and each record type's own ``check``), and requires the same records and
the same rejects, with the same field and reason, on written messages and on messages
mutated at random (bad values, null tokens, blanks, unknown, hidden and repeated keys,
lines without a colon, shuffled lines, records broken by several rules at once).
"""

import random
import re

import pytest

from apeltools.errors import RecordError
from apeltools.quoting import quote
from apeltools.records import columns
from apeltools.records.build import finish
from apeltools.records.columns import DICT, NORMALISED_DICT, NORMALISED_DURATIONS
from apeltools.records.fields import STR, is_null, parse_float
from apeltools.records.message import parse_message, reject_body
from apeltools.records.text import TEXT_FORMATS, split_records, write_message
from apeltools.records.types import values_of
from tests.test_records_text import SAMPLES

BLANKS = " \t"
NOWS = (1768435200, 1764000000, 1793491200)  # mid-January 2026, late November 2025, November 2026


def reference(fmt, block, now):
    """One record block decoded line by line and checked by ``build.finish``: the record, or
    the RecordError that rejects it."""
    lines = [line for line in block.split("\n") if line.strip(BLANKS)]
    for line in lines:
        if ":" not in line:
            raise RecordError(f"line without ':': {quote(line.strip(BLANKS))}")
    raw = {}
    for line in lines:
        key, _, value = line.partition(":")
        raw[key.strip(BLANKS)] = value.strip(BLANKS)
    allowed = {f.name for f in fmt.wire} | fmt.rtype.ignored
    unknown = [k for k in raw if k in fmt.hidden] or [k for k in raw if k not in allowed]
    if unknown:
        raise RecordError(f"Unknown field: {quote(unknown[0], bare=True)}", field=unknown[0])
    texts = {name: None if is_null(text) else text for name, text in raw.items()}
    values = dict(fmt.implied)
    if fmt.benchmarks == DICT:  # the dict is read before any other value
        if texts.get("ServiceLevel") is None:
            raise RecordError("mandatory field is missing", field="ServiceLevel")
        try:
            values["ServiceLevelType"], values["ServiceLevel"] = columns._benchmark_of(texts["ServiceLevel"], parse_float)
        except ValueError as error:
            raise RecordError(str(error), field="ServiceLevel") from None
    if fmt.benchmarks == NORMALISED_DICT:
        for name in NORMALISED_DURATIONS:
            if texts.get(name) is None:
                continue
            try:
                level_type, values[name] = columns._benchmark_of(texts[name], columns._whole_number)
            except ValueError as error:
                raise RecordError(str(error), field=name) from None
            if values.setdefault("ServiceLevelType", level_type) != level_type:
                raise RecordError("Mixture of benchmark types detected", field=NORMALISED_DURATIONS[1])
        for name in NORMALISED_DURATIONS:
            if values.get(name) is not None and values[name] < 0:
                raise RecordError(f"must not be negative: {values[name]}", field=name)
    for field in fmt.rtype.fields:  # every other value, in field order
        text = texts.get(field.name)
        if field.name in values or text is None:
            continue
        try:
            values[field.name] = text if field.kind is STR else field.kind.parse(text)
        except ValueError as error:
            raise RecordError(str(error), field=field.name) from None
    record = finish(fmt.rtype, values, now)
    if fmt.lower_case_type:
        record.ServiceLevelType = record.ServiceLevelType.lower()
    return record


def outcomes(fmt, body, now):
    """Per record of a message: its values, or (field, reason) of its reject."""
    _, blocks = split_records(body)
    found = []
    for block in blocks:
        try:
            found.append(values_of(reference(fmt, block, now)))
        except RecordError as error:
            found.append((error.field, error.reason))
    return found


def decoded(body, now):
    """The same from ``parse_message`` (what the loader runs)."""
    parsed = parse_message(body, now)
    found = [None] * parsed.total
    accepted = iter(parsed.records)
    rejected = {error.index: (error.field, error.reason) for error in parsed.errors}
    for index in range(parsed.total):
        found[index] = rejected[index] if index in rejected else values_of(next(accepted))
    return found


VALUES = [
    "", " ", "None", "none", "NULL", "nUlL", "None ", " null\t", "-5", "-0", "0", "007", "1e3", "1.5", "1.",
    ".5", "abc", "\u0663", "1_000", "+5", "99999999999", "4102444800", "4102444799", "1764750600",
    "1764754200", "2025-12-03T08:30:00Z", "2025-12-03T08:30:00+01:00", "2025-13-03T08:30:00Z", "x" * 300,
    "y" * 600, "{HEPSPEC: 10}", "{hepspec: 10.5}", "{foo: 1}", "{hepspec: 1, HEPscore23: 2}", "{HEPSPEC: -1}",
    "{HEPSPEC: 1, hepspec: 2}", "{si2k: 500.7}", "{HEPscore23: 12}", "{}", "{HEPSPEC 1}", "HEPSPEC",
    "hepscore23", "SI2K", "bogus", "grid", "GRID", "Local", "cloud", "completed", "STARTED", "paused",
    "/atlas/Role=NULL", "/cms/uk/Role=production/Capability=NULL", "dteam", "/atlas/Capability=NULL;x", "12",
    "13", "2025", "1969", "nan", "inf", "1.2345", "0.0005", "10.0015", "%%x", "a%%b", "value  ", "\tvalue",
    "v\x0bw", "1 ", " 2", "3\t",
]
KEYS = ["UpdateTime", "ServiceLevelType", "Bogus", "site", "MeasurementTime", "SubmitHostType", ""]
LINES = ["no colon here", "  ", "\t", "%%%", ":", "Key"]


def mutated(block, rng, fmt):
    """A record block with some lines dropped, repeated, given other values or keys, or
    broken, blanks around keys and colons, and its lines maybe shuffled."""
    names = [f.name for f in fmt.rtype.fields]
    out = []
    for line in block.split("\n"):
        key, _, value = line.partition(": ")
        chance = rng.random()
        if chance < 0.03:
            continue
        if chance < 0.10:
            value = rng.choice(VALUES)
        elif chance < 0.12:
            key = rng.choice(KEYS + names)
        elif chance < 0.13:
            out.append(rng.choice(LINES))
        separator = rng.choice([": ", ":", " : ", ":\t"])
        out.append(rng.choice(["", "", " ", "\t"]) + key + separator + value + rng.choice(["", "", " ", "\t"]))
        if rng.random() < 0.02:
            out.append(f"{key}: {rng.choice(VALUES)}")
    if rng.random() < 0.3:
        rng.shuffle(out)
    return "\n".join(out)


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
def test_written_records_decode_as_one_by_one(fmt):
    body = write_message(fmt, SAMPLES[fmt])
    for now in NOWS:
        assert decoded(body, now) == outcomes(fmt, body, now)


def mutated_message(fmt, seed):
    """(message, time of checking) of the sample records of ``fmt``, some of them mutated."""
    rng = random.Random(f"{fmt.header} {seed}")
    _, blocks = split_records(write_message(fmt, SAMPLES[fmt]))
    share = rng.choice((0.02, 0.3, 1.0))  # a few bad records in a column, or many
    body = fmt.header + "\n" + "".join(
        (mutated(block, rng, fmt) if rng.random() < share else block) + "\n%%\n" for block in blocks
    )
    return body, rng.choice((NOWS[0], NOWS[2]))  # not before the samples' month: rules beyond it


SEEDS = range(6)


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_records_decode_and_reject_as_one_by_one(fmt, seed):
    body, now = mutated_message(fmt, seed)
    assert decoded(body, now) == outcomes(fmt, body, now)


def test_the_mutated_messages_hold_rejects_of_every_stage():
    reasons = set()
    for fmt in TEXT_FORMATS:
        for seed in SEEDS:
            body, now = mutated_message(fmt, seed)
            reasons |= {found[1].split(" ")[0] for found in outcomes(fmt, body, now) if isinstance(found, tuple)}
    # Lines, unknown keys, values, benchmark dicts, mandatory fields, sizes, bounds, record rules.
    assert {"line", "Unknown", "not", "mandatory", "longer", "must", "unknown", "EndTime"} <= reasons


def test_a_record_broken_by_several_rules_is_rejected_by_the_first():
    fmt = TEXT_FORMATS[0]  # jobs v0.3
    block = split_records(write_message(fmt, SAMPLES[fmt][:1]))[1][0]
    lines = dict(line.split(": ", 1) for line in block.strip().split("\n"))
    broken = {**lines, "ServiceLevelType": "bogus", "InfrastructureType": "cloud", "EndTime": "1"}
    body = fmt.header + "\n" + "".join(f"{k}: {v}\n" for k, v in broken.items()) + "%%\n" + block + "\n%%\n"
    assert decoded(body, NOWS[0]) == outcomes(fmt, body, NOWS[0])
    assert decoded(body, NOWS[0])[0][0] == "ServiceLevelType"


def separated(body):
    """The record blocks of a message by the grammar alone: CRLF read as LF, then the text
    between lines that are ``%%`` (blanks around it allowed), blank blocks left out."""
    header, _, rest = body.replace("\r\n", "\n").lstrip().partition("\n")
    return header.strip(), [b.strip("\n") for b in re.split(r"^[ \t]*%%[ \t]*$", "\n" + rest, flags=re.M) if b.strip()]


PIECES = ["Site: a", "Queue: b%", "%%", "  %%\t", "%%x", "a%%b", "%", "", "  ", "\x0c", "\t%%", "x: 1", "\r", "%%\r"]


@pytest.mark.parametrize("seed", range(300))
def test_records_are_separated_as_the_grammar_says(seed):
    rng = random.Random(seed)
    lines = [rng.choice(PIECES) for _ in range(rng.randrange(12))]
    body = "APEL-sync-message: v0.1" + "".join(rng.choice(("\n", "\r\n", "\n\n")) + line for line in lines)
    header, blocks = split_records(body)
    assert (header, [block.strip("\n") for block in blocks]) == separated(body)


def crlf_variant(body, rng, lone):
    """``body`` with CRLF line ends, or LF and CRLF mixed, maybe without its last separator,
    and (``lone``) some CRs that end no line: inside a value, before a line's CRLF, before a
    key, on a line of their own."""
    ends = rng.choice((("\r\n",), ("\r\n", "\n")))
    if rng.random() < 0.3:  # no separator after the last record, maybe blank lines
        body = body.removesuffix("%%\n") + rng.choice(("", "\n", " \n\t"))
    lines = body.split("\n")
    if lone:
        for _ in range(rng.randrange(1, 4)):
            place = rng.randrange(len(lines))
            line = lines[place]
            spot = rng.choice((rng.randrange(len(line) + 1), len(line), 0))
            lines[place] = line[:spot] + rng.choice(("\r", "\r\r", " \r")) + line[spot:]
    return "".join(line + rng.choice(ends) for line in lines)


def rejects_as_split(fmt, body, now):
    """The reject body of a message built from ``split_records``' blocks (CRLF pairs made LF
    over the whole message, any other CR kept), before and after the first good record is
    refused."""
    _, blocks = split_records(body)
    found = decoded(body, now)
    bad = [index for index, outcome in enumerate(found) if isinstance(outcome, tuple)]
    good = [index for index in range(len(found)) if index not in bad]
    def wrap(indices):
        return fmt.header + "\n" + "".join(blocks[i].strip("\n") + "\n%%\n" for i in indices) if indices else None
    return wrap(bad), wrap(bad + good[:1])  # a refused record goes after the rejects


def rejects(parsed):
    """The reject body of a parsed message, before and after its first good record is refused."""
    before = reject_body(parsed)
    if parsed.records:
        parsed.refuse([(parsed.records[0], RecordError("refused"))])
    return before, reject_body(parsed)


@pytest.mark.parametrize("fmt", TEXT_FORMATS, ids=lambda f: f.header)
@pytest.mark.parametrize("seed", SEEDS)
def test_crlf_messages_decode_as_their_lf_text(fmt, seed):
    """A CR before an LF is dropped with it; any other CR is text (a CRLF message whose every
    CR ends a line is decoded without being copied, and must give the same)."""
    body, now = mutated_message(fmt, seed)
    rng = random.Random(seed)
    for lone in (False, False, True, True):
        variant = crlf_variant(rng.choice((body, write_message(fmt, SAMPLES[fmt]))), rng, lone)
        assert decoded(variant, now) == outcomes(fmt, variant, now)
        assert rejects(parse_message(variant, now)) == rejects_as_split(fmt, variant, now)
        if not lone:  # the same message with LF line ends: the same records, errors, first lines
            as_lf, parsed = parse_message(variant.replace("\r\n", "\n"), now), parse_message(variant, now)
            assert [str(e) for e in parsed.errors] == [str(e) for e in as_lf.errors]
            assert parsed.records == as_lf.records


LINE_PIECES = ["Site: a", "Site:b\r", "Queue:  x\ry ", "Queue: \r", "\r", " \t", "", "\r\r", " \r ", "x", "Site :c"]


@pytest.mark.parametrize("seed", range(400))
def test_the_crlf_expression_matches_as_the_lf_expression_does(seed):
    """Where the CRLF expression matches a CRLF block (``text.split_lines``), the LF one
    matches its ``lf_block`` with the same value groups (a block it does not match is decoded
    as its ``lf_block``); a block whose every line ends in CRLF is matched by it whenever its
    ``lf_block`` is. Blank lines (any number, of blanks), CRs inside values, before a line
    end, on lines of their own and at the block's end."""
    rng = random.Random(seed)
    keys = ("Site", "Queue", "SiteName")
    lf, _ = columns._record_pattern(keys)
    crlf, _ = columns._record_pattern(keys, crlf=True)
    only_crlf = seed % 2 == 0
    ends = ("\r\n",) if only_crlf else ("\r\n", "\r\n", "\n")
    lines = [rng.choice(LINE_PIECES) for _ in range(rng.randrange(8))]
    block = "".join(rng.choice(ends) + line for line in lines) + rng.choice(("", "\r\n", " \r\n")) + "\r"
    as_crlf, as_lf = crlf.fullmatch(block), lf.fullmatch(columns.lf_block(block))
    if as_crlf is not None:
        assert as_lf is not None and as_crlf.groups() == as_lf.groups(), repr(block)
    elif only_crlf and "\r\r" not in block and " \r " not in block and "\r " not in block:
        assert as_lf is None, repr(block)


def column_value(rng, name, now):
    """A value of a field read by a rule: near the edges of what the rules test."""
    if rng.random() < 0.05:
        return None
    if name == "Status":
        return rng.choice(("completed", "started", "suspended", "COMPLETED"))
    if name in ("ServiceLevel", "Benchmark", "CpuCount"):
        return rng.choice((
            rng.randrange(-10**7, 10**7) / 1000, round(rng.uniform(-2e11, 2e11), rng.randrange(5)), rng.uniform(-20, 20),
            float("nan"), float("inf"), -0.0, 99999999999.999, 1e11, 5.0005, 0.0015, float(2**53), 1e300, 16.0,
        ))
    if name in ("SuspendDuration", "WallDuration"):
        return rng.randrange(0, 10**6)
    if name == "StartTime" and rng.random() < 0.8:  # mostly before the end times
        return now - rng.randrange(10**6, 2 * 10**6)
    return rng.choice((now - rng.randrange(10**6), now + rng.randrange(-3 * 86400, 3 * 86400), 4102444799, 4102444800))


@pytest.mark.parametrize("seed", range(40))
def test_whole_column_tests_hold_only_when_no_record_breaks_or_changes(seed):
    """A rule's ``holds`` lets the decoder skip it: it must be true only when applying the rule
    to each record would neither reject one nor change a value."""
    rng = random.Random(seed)
    rules = {rule for fmt in TEXT_FORMATS for rule in fmt.rtype.rules if rule.holds is not None}
    assert {rule.apply.__name__ for rule in rules} == {"_to_thousandths", "_job_times", "_cloud_times"}
    for rule in rules:
        held = 0
        for _ in range(200):
            now = rng.choice(NOWS)
            count = rng.randrange(1, 5)
            columns_read = [[column_value(rng, name, now) for _ in range(count)] for name in rule.reads]
            if rule.holds(*columns_read, now):
                held += 1
                assert [rule.apply(*values, now) for values in zip(*columns_read)] == [None] * count
        assert held >= 10, rule  # the test is not vacuous
