"""A compiled fast path for text records laid out exactly as writers lay them out.

Nearly every record on the wire has every field, in the write order, as
``Key: Value``. For those, one regular expression per format checks the
layout and the shape of every number at once, and a function generated for
the format turns the captured text into a record without a loop over field
descriptions. Anything unusual (another order, a missing line, ``None`` in a
number, a broken rule) returns ``None`` and the record takes the general path
in ``text.py``, which gives the precise error. Both paths must give the same
record; the codec tests check that.
"""

import re

from apeltools.records.benchmark import BENCHMARK_TYPES
from apeltools.records.fields import FLOAT, INT, LATEST_TIME, NULL_TOKENS, TIME
from apeltools.records.types import FieldProblem

_CANONICAL_TYPES = {name.lower(): name for name in BENCHMARK_TYPES}
_NUMBER = {INT: "([0-9]+)", TIME: "([0-9]+)", FLOAT: r"([0-9]+(?:\.[0-9]+)?)"}
_DICT_ONE = r"\{[ \t]*([A-Za-z0-9]+)[ \t]*:[ \t]*%s[ \t]*\}"


def compile_canonical(fmt, dict_fields):
    """A function ``(block, now) -> record or None`` for one text format.

    ``dict_fields`` names the wire fields written as a one-entry benchmark
    dict; the benchmark type they name becomes ``ServiceLevelType``.
    """
    rtype = fmt.rtype
    pattern, body, group = [], [], 0
    names = {}
    for field in fmt.wire:
        var = f"v_{field.name}"
        names[field.name] = var
        if field.name in dict_fields:
            pattern.append(re.escape(field.name) + ": " + _DICT_ONE % _NUMBER[field.kind])
            body.append(f"t = _types.get(g[{group}].lower())")
            body.append("if t is None or (level_type is not None and t != level_type): return None")
            body.append("level_type = t")
            convert = "int" if field.kind in (INT, TIME) else "float"
            body.append(f"{var} = {convert}(g[{group + 1}])")
            group += 2
            continue
        if field.kind in _NUMBER:
            pattern.append(re.escape(field.name) + ": " + _NUMBER[field.kind])
            convert = "float" if field.kind is FLOAT else "int"
            body.append(f"{var} = {convert}(g[{group}])")
            if field.kind is TIME:
                body.append(f"if {var} >= {LATEST_TIME}: return None")
        else:
            # Leading and trailing blanks stay outside the group: no strip() needed.
            pattern.append(re.escape(field.name) + r":[ \t]*(\S(?:[^\n]*\S)?)?[ \t]*")
            body.append(f"{var} = g[{group}]")
            body.append(f"if {var} is not None and len({var}) <= 4 and {var}.lower() in _nulls: {var} = None")
            if field.mandatory:
                body.append(f"if {var} is None: return None")
            body.append(f"if {var} is not None and len({var}) > {field.size}: return None")
        group += 1
        if field.minimum is not None:
            body.append(f"if {var} is not None and {var} < {field.minimum!r}: return None")
    # Fields are separated by single newlines; blank lines may surround the record.
    for field in rtype.fields:
        if field.name not in names:
            # Not on the wire: the benchmark type, named by the dicts or implied by the header.
            names[field.name] = "level_type" if dict_fields else repr(fmt.implied.get(field.name))
    args = ", ".join(names[field.name] for field in rtype.fields)
    source = "\n    ".join(
        ["def canonical(block, now):", "m = _match(block)", "if m is None: return None",
         "g = m.groups()", "level_type = None"]
        + body
        + [f"r = _cls({args})", "try: _check(r, now)", "except _Problem: return None", "return r"]
    )
    namespace = {
        "_match": re.compile(r"\n*" + r"\n".join(pattern) + r"\n*").fullmatch,
        "_types": _CANONICAL_TYPES,
        "_nulls": NULL_TOKENS,
        "_cls": rtype.cls,
        "_check": rtype.check,
        "_Problem": FieldProblem,
    }
    exec(compile(source, f"<canonical {fmt.header}>", "exec"), namespace)
    return namespace["canonical"]
