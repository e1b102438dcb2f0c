"""Decoding the records of a text message column by column: one path for every layout.

A message's records are read in passes over the whole message rather than one
record at a time: one regular expression matches each whole record, whatever
the order of its lines, with each key's value in a group of its own (the keys
branch one character at a time, so that a line is compared with the few keys
that begin like it); the values of each field across all records then form a
column, and each column is checked and converted at once with C-level
operations: the digits of a whole integer column are checked by one
``isdigit``, the numbers of a float column by one regular expression, null
tokens and sizes by the lengths of the values; a column that repeats a few
values (processors, benchmarks) has each distinct value checked and converted
once. The record type's rules (``types.Rule``) are applied to whole columns
too: once per distinct input where messages repeat their inputs (FQANs,
benchmark types, months), else once per record, and not at all where a rule's
whole-column test (``Rule.holds``) shows that no record breaks it. Only values that fail a column
check, and records that fail the match or break a rule, are looked at one by
one, to name the record and the reason. Field order, absent optional fields,
blank lines and ``Key:Value`` without a space take the same path as the
deployed client's layout; CRLF blocks are matched as written, by an expression
of their own that gives the groups of the same blocks with LF (``lf_block``).

Every check of ``build.build`` is made, with the same reasons and in the same
order: lines without a colon, unknown fields, values that do not parse,
missing mandatory fields, texts too long, bounds, then the record type's rules
in their order (``rtype.check``); tests/test_columns.py holds the decoder to
what decoding record by record gives.
"""

import math
import os
import re
from itertools import product, repeat, starmap
from operator import methodcaller

from apeltools.collector import no_collection
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
_NULL_LENGTH = max(map(len, NULL_TOKENS))
_SAMPLE = 64  # values looked at to tell a column of a few repeated values
_FLOAT_TEXT = fields._FLOAT.pattern  # the float syntax of parse_float, for a whole column at once
_FLOAT_COLUMN = re.compile(rf"(?:{_FLOAT_TEXT}\n)*{_FLOAT_TEXT}")
# The one-entry dict every writer sends ({HEPSPEC: 10.5}); anything else goes to parse_dict.
_ONE_ENTRY = re.compile(r"\{[ \t]*([A-Za-z0-9]+)[ \t]*:[ \t]*([^,{}]*?)[ \t]*\}")
_CANONICAL_TYPES = {name.lower(): name for name in benchmark.BENCHMARK_TYPES}
_GROUPS = methodcaller("groups", "")  # each key's value text, "" for a key the record lacks

LEGACY, DICT, NORMALISED_LEGACY, NORMALISED_DICT = "legacy", "dict", "normalised-legacy", "normalised-dict"
NORMALISED_DURATIONS = ("NormalisedWallDuration", "NormalisedCpuDuration")


def _no_rule(texts, bad):
    """A format whose benchmark needs no rewriting: no column is typed yet."""
    return {}


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


def _dict_rule(texts, bad):
    """v0.4 jobs and summaries: ``ServiceLevel: {type: value}`` names the type. Each
    distinct dict (a message repeats a few) is read once."""
    levels = _values(texts["ServiceLevel"])
    read = {}
    for text in set(levels) - {None}:
        try:
            read[text] = _benchmark_of(text, parse_float)
        except ValueError as error:
            read[text] = RecordError(str(error), field="ServiceLevel")
    if not bad and None not in levels and all(type(found) is tuple for found in read.values()):
        types, values = zip(*map(read.__getitem__, levels)) if levels else ((), ())
        return {"ServiceLevel": list(values), "ServiceLevelType": list(types)}
    values, types = [None] * len(levels), [None] * len(levels)
    for index, text in enumerate(levels):
        if index in bad:
            continue
        if text is None:
            bad[index] = RecordError("mandatory field is missing", field="ServiceLevel")
        elif type(read[text]) is tuple:
            types[index], values[index] = read[text]
        else:
            bad[index] = read[text]
    return {"ServiceLevel": values, "ServiceLevelType": types}


def _normalised_dict_rule(texts, bad):
    """v0.4 normalised summaries: both durations are dicts naming one benchmark type."""
    count = len(texts[NORMALISED_DURATIONS[0]])
    typed = {"ServiceLevelType": [None] * count}
    types = typed["ServiceLevelType"]
    for name in NORMALISED_DURATIONS:
        column = typed[name] = [None] * count
        for index, text in enumerate(_values(texts[name])):
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
        _mark(typed[name], bad, lambda v: v < 0, lambda v: f"must not be negative: {v}", name)
    return typed


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


def _well_formed(kind, texts):
    """True when every text of a number column (none empty) is a number of ``kind``: one
    C-level test of the whole column."""
    if kind is FLOAT:
        return _FLOAT_COLUMN.fullmatch("\n".join(texts)) is not None
    digits = "".join(texts)
    return digits.isdigit() and digits.isascii()


def _parsed(kind, texts):
    """The values of a number column of given texts, or None when one is not well formed.

    Checked by one C-level test of the whole column and converted by one ``map``; a column
    that repeats a few values (processors, node counts, benchmarks) has each distinct text
    checked and converted once instead.
    """
    convert = float if kind is FLOAT else int
    sample = texts[:_SAMPLE]
    if len(set(sample)) * 4 <= len(sample):
        distinct = set(texts)
        if not _well_formed(kind, distinct):
            return None
        known = dict(zip(distinct, map(convert, distinct)))
        return list(map(known.__getitem__, texts))
    return list(map(convert, texts)) if _well_formed(kind, texts) else None


def _numbers(field, texts, bad):
    """(values, whether a value is None) of a number column from its wire texts; bad values
    are None and marked.

    A column whose every value is given and well formed (what writers send) is converted at
    once (``_parsed``); any other goes through ``_values`` (blanks, null tokens) first and,
    if a value is still bad, value by value to name it.
    """
    kind = field.kind
    column = _parsed(kind, texts) if all(texts) else None
    nullable = column is None
    if column is None:
        if not any(texts):
            return [None] * len(texts), True
        column = _values(texts)
        present = list(filter(None, column))
        if not present:
            return column, True
        if not _well_formed(kind, present):
            _one_by_one(column, bad, kind.parse, field.name)
            return column, True
        convert = float if kind is FLOAT else int
        column = [None if v is None else convert(v) for v in column]
    if kind is TIME and max(filter(None, column) if nullable else column, default=0) >= LATEST_TIME:
        _mark(column, bad, lambda v: v >= LATEST_TIME, lambda v: f"time {v} is outside 1970..2099", field.name)
    return column, nullable


def _check_columns(fields, columns, facts, bad):
    """The checks of ``build.finish`` on whole columns, in its order: mandatory, sizes, bounds.

    ``facts`` holds (whether a value may be None, the longest text) per column, known from
    decoding it, so that most columns need no pass of their own here.
    """
    for field, column, (nullable, _) in zip(fields, columns, facts):
        if field.mandatory and nullable and None in column:
            for index, value in enumerate(column):
                if value is None:
                    bad.setdefault(index, RecordError("mandatory field is missing", field=field.name))
    for field, column, (_, longest) in zip(fields, columns, facts):
        if longest > field.size:
            _mark(column, bad, lambda v, size=field.size: len(v) > size,
                  lambda v, size=field.size: f"longer than {size} characters", field.name)
    for field, column, (nullable, _) in zip(fields, columns, facts):
        if field.minimum is not None:
            present = [v for v in column if v is not None] if nullable else column
            if present and min(present) < field.minimum:
                _mark(column, bad, lambda v, low=field.minimum: v < low,
                      lambda v, low=field.minimum: f"must be at least {low}, not {v}", field.name)


def _outcome(rule, values, now):
    """What ``rule`` makes of one input: new values, None (nothing to change) or the
    FieldProblem it raised."""
    try:
        return rule.apply(*values, now)
    except FieldProblem as problem:
        return problem


def _apply_rules(rules, columns, count, bad, now):
    """The record type's rules on whole columns ({name: values}), in order; a record that
    breaks one is marked and not looked at by the next, as one record's check stops there.

    A rule of repeated values is applied once per distinct input among the good records and
    its outcome spread by one ``map``; any other once per good record. A rule whose
    whole-column test (``holds``) passes, on the distinct inputs or the whole columns, is not
    applied at all. Only when a rule breaks or changes values of some records are they
    looked at one by one.
    """
    for rule in rules:
        holds = rule.holds
        rows = [index for index in range(count) if index not in bad] if bad else range(count)
        inputs = [columns[name] for name in rule.reads]
        if rule.repeats:
            single = len(inputs) == 1  # its values are the keys: no tuple per record
            keys = inputs[0] if single else list(zip(*inputs))
            distinct = set(keys) if not bad else {keys[i] for i in rows}
            if holds is not None and distinct and holds(*([list(distinct)] if single else map(list, zip(*distinct))), now):
                continue  # no distinct input breaks it or has a value changed by it
            try:  # one call per distinct input, unless one breaks the rule
                table = (dict(zip(distinct, map(rule.apply, distinct, repeat(now)))) if single
                         else {key: rule.apply(*key, now) for key in distinct})
            except FieldProblem:
                table = {key: _outcome(rule, (key,) if single else key, now) for key in distinct}
            if not any(table.values()):
                continue
            if not any(isinstance(outcome, FieldProblem) for outcome in table.values()):
                for place, name in enumerate(rule.writes):
                    changed = {key: new[place] for key, new in table.items() if new is not None}
                    columns[name] = list(map(changed.get, keys, columns[name]))
                continue
            outcomes = [table[keys[index]] for index in rows]
        else:
            if holds is not None and holds(*inputs, now):
                continue  # no record breaks it or has a value changed by it, bad records or not
            if bad:
                inputs = [[column[index] for index in rows] for column in inputs]
            try:
                outcomes = list(map(rule.apply, *inputs, repeat(now)))
            except FieldProblem:
                outcomes = [_outcome(rule, values, now) for values in zip(*inputs)]
            if outcomes.count(None) == len(outcomes):
                continue
        for index, outcome in zip(rows, outcomes):
            if isinstance(outcome, FieldProblem):
                bad[index] = RecordError(str(outcome), field=outcome.field)
            elif outcome is not None:
                for name, value in zip(rule.writes, outcome):
                    columns[name][index] = value


_RULES = {DICT: _dict_rule, NORMALISED_DICT: _normalised_dict_rule}


def _values(texts):
    """A column of value texts without trailing blanks (the match left out the leading ones),
    null tokens and absent values as None."""
    return _text_column(texts)[0]


def _text_column(texts):
    """(``_values`` of ``texts``, whether a value is None, the length of the longest text)."""
    sample = texts[:_SAMPLE]
    if len(set(sample)) * 4 <= len(sample):  # a few repeated values: each looked at once
        stripped = {text: text.rstrip(_BLANKS) for text in set(texts)}
        values = {text: None if value in _NULLS else value for text, value in stripped.items()}
        longest = max(map(len, stripped.values()), default=0)
        nullable = None in values.values()
        if all(value is text for text, value in values.items()):
            return list(texts), nullable, longest
        return list(map(values.__getitem__, texts)), nullable, longest
    column = list(map(str.rstrip, texts, repeat(_BLANKS)))
    lengths = list(map(len, column))
    # No null token is longer than 4 characters: most columns need no look-up of each value.
    if min(lengths, default=_NULL_LENGTH + 1) > _NULL_LENGTH or _NULLS.isdisjoint(column):
        return column, False, max(lengths, default=0)
    return [None if text in _NULLS else text for text in column], True, max(lengths)


# After a key: blanks, the colon, blanks, then the value to the line's end. The blanks are
# possessive, so the value starts at its first non-blank (or is empty) and nothing is given back.
_VALUE = r"[ \t]*+:[ \t]*+([^\n]*+)"
# The same in a block of CRLF lines (``text.split_lines``): the value is the longest text
# before a CR that ends its line (a CR before another is the value's own, as in the text
# with CRLF made LF).
_CRLF_VALUE = r"[ \t]*+:[ \t]*+([^\n]*)\r"
# Blanks and blank lines; with CRLF, a CR only in a CRLF pair. After most lines of a CRLF
# record there is no blank line, only the LF of the CRLF: the blank CRLF lines are an
# alternative beginning with a CR, which the matcher rules out by that one character, where a
# repeated group of them (``(?:\r\n[ \t\n]*+)*+``) was entered and left again after every line
# (about 10 % of the match of a CRLF record).
_BLANK_LINES = r"[ \t\n]*+"
_CRLF_BLANK_LINES = r"[ \t\n]*+(?:\r\n(?:[ \t\n]|\r\n)*+|)"


def lf_block(block):
    """The block of ``text.split_records`` of a CRLF block of ``text.split_lines``: without
    the CR at its end, CRLF pairs made LF (any other CR is text)."""
    return block[:-1].replace("\r\n", "\n")


def _keys_pattern(keys, value, done=0):
    """(expression, keys in the order of their value groups) matching one line of any of
    ``keys``, which share their first ``done`` characters, each followed by ``value``.

    The keys branch one character at a time (``S(?:ite…|ubmitHost…|…)``), so that a line is
    compared with the few keys that begin like it rather than with every key in turn.
    """
    branches, order = [], []
    by_next = {}
    for key in keys:
        by_next.setdefault(key[done:done + 1], []).append(key)
    for following, group in by_next.items():
        if not following:  # a key that is the common beginning of the others
            branches.append(value)
        elif len(group) == 1:
            branches.append(re.escape(group[0][done:]) + value)
        else:
            common = len(os.path.commonprefix(group))
            inner, group = _keys_pattern(group, value, common)
            branches.append(f"{re.escape(group[0][done:common])}(?:{inner})")
        order += group
    return "|".join(branches), order


def _record_pattern(keys, crlf=False):
    """(expression, keys in the order of their value groups): one expression matching a
    whole record of ``keys`` in any order, once or more each (``crlf``: in a block whose
    every CR ends a line, read as the same block without its CRs).

    Each key's value is a group of its own; a group repeated by ``*`` keeps the last value
    it matched, which is the grammar's rule for a repeated key. Blank lines, blanks around
    keys and colons pass; a line with any other key, or without a colon, fails the match.
    """
    # Possessive repeats only: nothing is ever given back, so that a record that fails the
    # match fails at once, not after trying every split of every line (and no backtracking
    # state is kept).
    # With CRLF, each line of a key ends with a CR (the block ends with one too, see
    # ``lf_block``), or else the last CR ends a blank line; a CR that ends no line fails the
    # match unless it is in a value, where it stays. So a block matches if and only if its
    # ``lf_block`` matches the LF expression, with the same groups. A CRLF block of LF lines
    # fails and is decoded as its ``lf_block``.
    if crlf:
        lines, order = _keys_pattern(keys, _CRLF_VALUE)
        return re.compile(rf"{_CRLF_BLANK_LINES}(?:(?:{lines}){_CRLF_BLANK_LINES})*+\r?+"), tuple(order)
    lines, order = _keys_pattern(keys, _VALUE)
    return re.compile(rf"{_BLANK_LINES}(?:(?:{lines}){_BLANK_LINES})*+"), tuple(order)


class ColumnDecoder:
    """Decodes the record blocks of one text format into records, column by column."""

    def __init__(self, fmt):
        rtype = fmt.rtype
        self.rtype = rtype
        self.wire = tuple(f.name for f in fmt.wire)
        keys = self.wire + tuple(sorted(rtype.ignored))
        pattern, self.keys = _record_pattern(keys)
        self.match = pattern.fullmatch
        self.match_crlf = _record_pattern(keys, crlf=True)[0].fullmatch
        self.allowed = frozenset(self.keys)
        self.hidden = fmt.hidden
        self.implied = fmt.implied
        self.rule = _RULES.get(fmt.benchmarks, _no_rule)
        self.lower_case_type = fmt.lower_case_type
        self.names = tuple(f.name for f in rtype.fields)

    def _rows(self, blocks, bad, crlf):
        """Each block's value texts, one per key ("" when absent); a bad line marks its record."""
        found = list(map(self.match_crlf if crlf else self.match, blocks))
        if all(found):  # a match object is true, even an empty one
            return list(map(_GROUPS, found))
        keys = self.keys
        rows = []
        for index, (block, match) in enumerate(zip(blocks, found)):
            if match is not None:
                rows.append(match.groups(""))
                continue
            if crlf:  # a block with other line ends than CRLF, or with a CR that ends none
                block = lf_block(block)
                match = self.match(block)
                if match is not None:
                    rows.append(match.groups(""))
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

    def decode(self, blocks, now, crlf=False):
        """([record, or None where bad], {index: RecordError}) of the blocks of one message
        (``crlf``: CRLF blocks of ``text.split_lines``, read as their ``lf_block``)."""
        with no_collection():
            return self._decode(blocks, now, crlf)

    def _decode(self, blocks, now, crlf):
        bad = {}
        rows = self._rows(blocks, bad, crlf)
        count = len(rows)
        texts = dict(zip(self.keys, zip(*rows) if rows else repeat(())))
        typed = self.rule(texts, bad)
        fields, columns, facts = self.rtype.fields, [], []
        for field in fields:
            name = field.name
            if name in typed or name in self.implied:
                column = typed[name] if name in typed else [self.implied[name]] * count
                longest = max(map(len, filter(None, column)), default=0) if field.kind is STR else 0
                fact = (True, longest)
            elif field.kind is STR:
                column, nullable, longest = _text_column(texts[name])
                fact = (nullable, longest)
            else:
                column, nullable = _numbers(field, texts[name], bad)
                fact = (nullable, 0)
            columns.append(column)
            facts.append(fact)
        _check_columns(fields, columns, facts, bad)
        named = dict(zip(self.names, columns))
        _apply_rules(self.rtype.rules, named, count, bad, now)
        if self.lower_case_type:
            # The deployed loader stores a v0.4 job's benchmark type as its dict key in lower case.
            types = named["ServiceLevelType"]
            lowered = {text: text.lower() for text in set(types) if text is not None}
            named["ServiceLevelType"] = list(map(lowered.get, types))
        records = list(starmap(self.rtype.cls, zip(*named.values())))
        for index in bad:
            records[index] = None
        return records, bad
