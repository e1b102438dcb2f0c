"""How records become table rows: column lists, lookup names, and compiled row builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field as dataclass_field
from typing import TYPE_CHECKING, Any

from apeltools.records.fields import STR, TIME, Field
from apeltools.records.types import RecordType

PUBLISHER_COLUMN = "PublisherDNID"
TSV_NULL = "\\N"


def tsv_escape(value: str | None) -> str:
    """A text value for LOAD DATA's default escaping (backslash, tab, newline, CR)."""
    if value is None:
        return TSV_NULL
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@dataclass(frozen=True, eq=False)
class RowPlan:
    """The columns of a record type's table and how to fill them from records.

    A row holds, in order: every field of the record type (names replaced by
    lookup ids, absent key values replaced by their ``key_default``), the
    derived ``extra_columns``, and the publisher's DN id. Times stay epoch
    seconds; the dialect converts them in SQL.

    The builders are generated per record type so that the per-record work is
    one expression instead of a loop over field descriptions: records are
    loaded at tens of thousands a second. They raise ``KeyError`` for a name
    missing from ``ids``; the caller then adds the names and builds again.
    """

    rtype: RecordType

    if TYPE_CHECKING:
        # Set by __post_init__ from the record type.
        columns: tuple[str, ...] = dataclass_field(init=False)
        time_columns: frozenset[str] = dataclass_field(init=False)
        key_columns: tuple[str, ...] = dataclass_field(init=False)
        lookup_tables: tuple[str, ...] = dataclass_field(init=False)
        names: Callable[[Sequence[Any]], dict[str, set[str]]] = dataclass_field(init=False)
        rows: Callable[[Sequence[Any], Mapping[str, Mapping[str, int]], int], list[tuple[Any, ...]]] = \
            dataclass_field(init=False)
        tsv: Callable[[Sequence[Any], Mapping[str, Mapping[str, int]], int], list[str]] = dataclass_field(init=False)
        tsv_escaped: Callable[[Sequence[Any], Mapping[str, Mapping[str, int]], int], list[str]] = \
            dataclass_field(init=False)

    def __post_init__(self) -> None:
        rtype = self.rtype
        stored = rtype.fields + rtype.extra_columns
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("columns", tuple(f.column for f in stored) + (PUBLISHER_COLUMN,))
        set_("time_columns", frozenset(f.column for f in stored if f.kind is TIME))
        set_("key_columns", tuple(rtype.by_name[k].column if k in rtype.by_name else k for k in rtype.key))
        set_("lookup_tables", tuple(sorted({f.lookup for f in stored if f.lookup} | {"DNs"})))
        set_("names", _compile(rtype, "names"))
        set_("rows", _compile(rtype, "rows"))
        set_("tsv", _compile(rtype, "tsv"))
        set_("tsv_escaped", _compile(rtype, "tsv_escaped"))


def _value(field: Field, expr: str) -> str:
    if field.key_default is not None:
        return f"({expr} if {expr} is not None else {field.key_default!r})"
    return expr


def _compile(rtype: RecordType, kind: str) -> Callable[..., Any]:
    """Generate one builder: ``names(records)``, ``rows(records, ids, pub)``, or
    ``tsv(records, ids, pub)`` / ``tsv_escaped(...)`` giving LOAD DATA lines."""
    derived = bool(rtype.extra_columns)
    fields = [(f, f"r.{f.name}") for f in rtype.fields]
    fields += [(f, f"d[{i}]") for i, f in enumerate(rtype.extra_columns)]
    loop = "for r, d in zip(records, extras)" if derived else "for r in records"
    lookups = sorted({f.lookup for f, _ in fields if f.lookup})
    lines = ["def build(records, ids=None, pub=None):"]
    if derived:
        lines.append("    extras = [_derived(r) for r in records]")
    if kind == "names":
        lines.append("    names = {t: set() for t in %r}" % (lookups,))
        for field, expr in fields:
            if field.lookup:
                lines.append(f"    names[{field.lookup!r}].update({_value(field, expr)} {loop})")
        lines.append("    return names")
    else:
        for table in lookups:
            lines.append(f"    ids_{table} = ids[{table!r}]")
        cells = []
        for field, expr in fields:
            value = _value(field, expr)
            if field.lookup:
                cells.append(f"ids_{field.lookup}[{value}]")
            elif kind == "tsv_escaped" and field.kind is STR:
                cells.append(f"_escape({value})")
            elif kind == "rows" or field.key_default is not None:
                cells.append(value)
            else:
                cells.append(f"({expr} if {expr} is not None else _null)")
        cells.append("pub")
        if kind == "rows":
            lines.append(f"    return [({', '.join(cells)},) {loop}]")
        else:
            template = "\t".join(["%s"] * len(cells))
            lines.append(f"    return [{template!r} % ({', '.join(cells)},) {loop}]")
    namespace: dict[str, Any] = {"_derived": rtype.derived, "_escape": tsv_escape, "_null": TSV_NULL}
    exec(compile("\n".join(lines), f"<{kind} {rtype.name}>", "exec"), namespace)
    build: Callable[..., Any] = namespace["build"]
    return build


_PLANS: dict[str, RowPlan] = {}


def plan_for(rtype: RecordType) -> RowPlan:
    """The (cached) row plan of a record type."""
    plan = _PLANS.get(rtype.name)
    if plan is None:
        plan = _PLANS[rtype.name] = RowPlan(rtype)
    return plan
