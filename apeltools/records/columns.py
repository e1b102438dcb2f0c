"""Decoding the records of a text message column by column: one path for every layout.

A message's records are read in passes over the whole message rather than one
record at a time: one regular expression matches each whole record, whatever
the order of its lines, with each key's value in a group of its own; the
values of each field across all records then form a column, and each column
is checked and converted at once with C-level operations (the digits of a
whole integer column are checked by one ``isdigit``, the numbers of a float
column by one regular expression, null tokens by one set operation). Only
values that fail such a column check, and records that fail the match, are
looked at one by one, to name the record and the reason. Field order, absent
optional fields, CRLF, blank lines and ``Key:Value`` without a space take the
same path as the deployed client's layout.

Every check of ``build.build`` is made, with the same reasons and in the same
order: lines without a colon, unknown fields, values that do not parse,
missing mandatory fields, texts too long, bounds, then the record type's rules
(``rtype.check``).
"""

import math
import re
from itertools import product, repeat, starmap

from apeltools.errors import RecordError
from apeltools.records import benchmark, fields
from apeltools.records.fields import FLOAT, LATEST_TIME, NULL_TOKENS, STR, TIME, parse_float
from apeltools.records.types import FieldProblem
from apeltools.quoting import quote

_BLANKS = " \t"
# Every spelling of every null token (any case), and None itself (a field not given).
_NULLS = frozenset({None} | {
    "".join(letters) for token in NULL_TOKENS for letters in product(*({c.lower(), c.upper()} for c in token))
})
_FLOAT_TEXT = fields._FLOAT.pattern  # the float syntax of parse_float, for a whole column at once
_FLOAT_COLUMN = re.compile(rf"(?:{_FLOAT_TEXT}\n)*{_FLOAT_TEXT}")
# The one-entry dict every writer sends ({HEPSPEC: 10.5}); anything else goes to parse_dict.
_ONE_ENTRY = re.compile(r"\{[ \t]*([A-Za-z0-9]+)[ \t]*:[ \t]*([^,{}]*?)[ \t]*\}")
_CANONICAL_TYPES = {name.lower(): name for name in benchmark.BENCHMARK_TYPES}

LEGACY, DICT, NORMALISED_LEGACY, NORMALISED_DICT = "legacy", "dict", "normalised-legacy", "normalised-dict"
NORMALISED_DURATIONS = ("NormalisedWallDuration", "NormalisedCpuDuration")


def _no_rule(raw, bad):
    """A format whose benchmark needs no rewriting: no column is typed yet."""
    return ()


def _benchmark_of(text, parse_value):
    """(type, value) of the preferred benchmark of a v0.4 dict, or ValueError."""
    one = _ONE_ENTRY.fullmatch(text)
    if one is not None:
        level_type = _CANONICAL_TYPES.get(one[1].lower())
        if level_type is not None:
            return level_type, parse_value(one[2])
    known, _ = benchmark.parse_dict(text, parse_value)
    return benchmark.preferred(known)


def _whole_number(text):
    """A normalised duration in a v0.4 dict: a number, its fraction dropped, as the deployed
    loader reads it ({HEPscore23: 500.7} is 500)."""
    value = parse_float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a number: {quote(text)}")
    return int(value)


def _dict_rule(raw, bad):
    """v0.4 jobs and summaries: ``ServiceLevel: {type: value}`` names the type."""
    levels = raw["ServiceLevel"]
    types = raw["ServiceLevelType"] = [None] * len(levels)
    for index, text in enumerate(levels):
        levels[index] = None
        if index in bad:
            continue
        if text is None:
            bad[index] = RecordError("mandatory field is missing", field="ServiceLevel")
            continue
        try:
            types[index], levels[index] = _benchmark_of(text, parse_float)
        except ValueError as error:
            bad[index] = RecordError(str(error), field="ServiceLevel")
    return ("ServiceLevel", "ServiceLevelType")


def _normalised_dict_rule(raw, bad):
    """v0.4 normalised summaries: both durations are dicts naming one benchmark type."""
    count = len(raw[NORMALISED_DURATIONS[0]])
    types = raw["ServiceLevelType"] = [None] * count
    for name in NORMALISED_DURATIONS:
        column = raw[name]
        for index, text in enumerate(column):
            column[index] = None
            if text is None or index in bad:
                continue
            try:
                level_type, column[index] = _benchmark_of(text, _whole_number)
            except ValueError as error:
                bad[index] = RecordError(str(error), field=name)
                continue
            if types[index] is None:
                types[index] = level_type
            elif types[index] != level_type:
                bad[index] = RecordError("Mixture of benchmark types detected", field=NORMALISED_DURATIONS[1])
    for name in NORMALISED_DURATIONS:  # read as integers: after the dicts' own errors
        _mark(raw[name], bad, lambda v: v < 0, lambda v: f"must not be negative: {v}", name)
    return NORMALISED_DURATIONS + ("ServiceLevelType",)


def _mark(column, bad, test, reason, name):
    """Mark every record whose value in ``column`` passes ``test`` with ``reason(value)``."""
    for index, value in enumerate(column):
        if value is not None and test(value):
            bad.setdefault(index, RecordError(reason(value), field=name))


def _one_by_one(column, bad, parse, name):
    """Convert a column value by value: the column check failed, so name each bad value."""
    for index, value in enumerate(column):
        if value is None:
            continue
        try:
            column[index] = parse(value)
        except ValueError as error:
            column[index] = None
            bad.setdefault(index, RecordError(str(error), field=name))


def _convert(field, column, bad):
    """Convert a number column of wire texts (nulls already None) in place; mark bad values."""
    texts = list(filter(None, column))
    if not texts:
        return
    kind, convert = field.kind, (float if field.kind is FLOAT else int)
    if kind is FLOAT:
        good = _FLOAT_COLUMN.fullmatch("\n".join(texts))
    else:
        digits = "".join(texts)
        good = digits.isdigit() and digits.isascii()
    if not good:
        _one_by_one(column, bad, kind.parse, field.name)
    elif len(texts) == len(column):
        column[:] = map(convert, column)
    else:
        column[:] = [None if v is None else convert(v) for v in column]
    if good and kind is TIME and max(filter(None, column), default=0) >= LATEST_TIME:
        _mark(column, bad, lambda v: v >= LATEST_TIME, lambda v: f"time {v} is outside 1970..2099", field.name)


def _check_columns(fields, columns, bad):
    """The checks of ``build.finish`` on whole columns, in its order: mandatory, sizes, bounds."""
    for field, column in zip(fields, columns):
        if field.mandatory and None in column:
            for index, value in enumerate(column):
                if value is None:
                    bad.setdefault(index, RecordError("mandatory field is missing", field=field.name))
    for field, column in zip(fields, columns):
        if field.kind is STR and max(map(len, filter(None, column)), default=0) > field.size:
            _mark(column, bad, lambda v, size=field.size: len(v) > size,
                  lambda v, size=field.size: f"longer than {size} characters", field.name)
    for field, column in zip(fields, columns):
        if field.minimum is not None:
            present = [v for v in column if v is not None]
            if present and min(present) < field.minimum:
                _mark(column, bad, lambda v, low=field.minimum: v < low,
                      lambda v, low=field.minimum: f"must be at least {low}, not {v}", field.name)


_RULES = {DICT: _dict_rule, NORMALISED_DICT: _normalised_dict_rule}


def _values(texts):
    """A column of value texts without trailing blanks (the match left out the leading ones),
    null tokens and absent values as None."""
    joined = "\n".join(texts) + "\n"
    if " \n" in joined or "\t\n" in joined:
        texts = [text.rstrip(_BLANKS) for text in texts]
    if _NULLS.isdisjoint(texts):
        return list(texts)
    return [None if text in _NULLS else text for text in texts]


def _record_pattern(keys):
    """One expression matching a whole record of ``keys`` in any order, once or more each.

    Each key's value is a group of its own; a group repeated by ``*`` keeps the last value
    it matched, which is the grammar's rule for a repeated key. Blank lines, blanks around
    keys and colons pass; a line with any other key, or without a colon, fails the match.
    """
    # Possessive repeats only: a value starts at its first non-blank and runs to its line's
    # end, and nothing is ever given back, so that a record that fails the match fails at
    # once, not after trying every split of every line (and no backtracking state is kept).
    lines = "|".join(rf"{re.escape(key)}[ \t]*+:[ \t]*+([^ \t\n][^\n]*+|)" for key in keys)
    return re.compile(rf"[ \t\n]*+(?:(?:{lines})[ \t\n]*+)*+")


class ColumnDecoder:
    """Decodes the record blocks of one text format into records, column by column."""

    def __init__(self, fmt):
        rtype = fmt.rtype
        self.rtype = rtype
        self.wire = tuple(f.name for f in fmt.wire)
        self.keys = self.wire + tuple(sorted(rtype.ignored))
        self.allowed = frozenset(self.keys)
        self.match = _record_pattern(self.keys).fullmatch
        self.hidden = fmt.hidden
        self.implied = fmt.implied
        self.rule = _RULES.get(fmt.benchmarks, _no_rule)
        self.lower_case_type = fmt.lower_case_type

    def _rows(self, blocks, bad):
        """Each block's value texts, one per key ("" when absent); a bad line marks its record."""
        match, keys = self.match, self.keys
        rows = []
        for index, block in enumerate(blocks):
            found = match(block)
            if found is not None:
                rows.append(found.groups(""))
                continue
            raw = self._pairs(block, index, bad)
            rows.append(tuple(raw.get(key, "") for key in keys))
        return rows

    def _pairs(self, block, index, bad):
        """{key: value text} of a block that did not match: it names the bad line or key."""
        lines = [line for line in block.split("\n") if line.strip(_BLANKS)]
        for line in lines:
            if ":" not in line:
                bad[index] = RecordError(f"line without ':': {quote(line.strip(_BLANKS))}")
                return {}
        raw = {}
        for line in lines:
            key, _, value = line.partition(":")
            raw[key.strip(_BLANKS)] = value
        if not self.allowed.issuperset(raw):
            unknown = [key for key in raw if key in self.hidden] or [k for k in raw if k not in self.allowed]
            bad[index] = RecordError(f"Unknown field: {quote(unknown[0], bare=True)}", field=unknown[0])
        return raw

    def decode(self, blocks, now):
        """([record, or None where bad], {index: RecordError}) of the blocks of one message."""
        bad = {}
        rows = self._rows(blocks, bad)
        count = len(rows)
        raw = dict(zip(self.wire, map(_values, zip(*rows) if rows else repeat(()))))
        for name, value in self.implied.items():
            raw[name] = [value] * count
        typed = self.rule(raw, bad)
        fields, columns = self.rtype.fields, []
        for field in fields:
            column = raw.get(field.name) or [None] * count
            if field.kind is not STR and field.name not in typed:
                _convert(field, column, bad)
            columns.append(column)
        _check_columns(fields, columns, bad)
        records = list(starmap(self.rtype.cls, zip(*columns)))
        check, lower = self.rtype.check, self.lower_case_type
        for index, record in enumerate(records):
            if index in bad:
                records[index] = None
                continue
            try:
                check(record, now)
            except FieldProblem as problem:
                bad[index] = RecordError(str(problem), field=problem.field)
                records[index] = None
                continue
            if lower and record.ServiceLevelType is not None:
                record.ServiceLevelType = record.ServiceLevelType.lower()
        return records, bad
