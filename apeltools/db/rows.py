"""How records become table rows: column lists, lookup names, and compiled row builders."""

from dataclasses import dataclass

from apeltools.records.fields import TIME

PUBLISHER_COLUMN = "PublisherDNID"


@dataclass(frozen=True, eq=False)
class RowPlan:
    """The columns of a record type's table and how to fill them from records.

    A row holds, in order: every field of the record type (names replaced by
    lookup ids, absent key values replaced by their ``key_default``), the
    derived ``extra_columns``, and the publisher's DN id. Times stay epoch
    seconds; the dialect converts them in SQL.
    """

    rtype: object

    def __post_init__(self):
        rtype = self.rtype
        stored = rtype.fields + rtype.extra_columns
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("columns", tuple(f.column for f in stored) + (PUBLISHER_COLUMN,))
        set_("time_columns", frozenset(f.column for f in stored if f.kind is TIME))
        set_("key_columns", tuple(rtype.by_name[k].column if k in rtype.by_name else k for k in rtype.key))
        set_("lookup_tables", tuple(sorted({f.lookup for f in stored if f.lookup} | {"DNs"})))
        set_("_build", _compile(rtype))

    def rows(self, records, ids, publisher_id):
        """The rows of ``records``; ``ids`` maps each lookup table to {name: id}."""
        return self._build(records, ids, publisher_id)

    def names(self, records):
        """Lookup table → set of names that these records use."""
        return self._build(records, None, None)


def _value(field, expr):
    if field.key_default is not None:
        return f"({expr} if {expr} is not None else {field.key_default!r})"
    return expr


def _compile(rtype):
    """A function that builds rows, or collects lookup names when ``ids`` is None.

    Generated per record type so that the per-record work is one tuple
    expression instead of a loop over field descriptions; records are loaded
    at tens of thousands a second.
    """
    lines = ["def build(records, ids, pub):"]
    derived = bool(rtype.extra_columns)
    if derived:
        lines.append("    extras = [_derived(r) for r in records]")
    fields = [(f, f"r.{f.name}") for f in rtype.fields]
    fields += [(f, f"d[{i}]") for i, f in enumerate(rtype.extra_columns)]
    loop = "for r, d in zip(records, extras)" if derived else "for r in records"
    lookups = sorted({f.lookup for f, _ in fields if f.lookup})
    # Names pass: one set per lookup table.
    lines.append("    if ids is None:")
    lines.append("        names = {t: set() for t in %r}" % (lookups,))
    for field, expr in fields:
        if field.lookup:
            lines.append(f"        names[{field.lookup!r}].update({_value(field, expr)} {loop})")
    lines.append("        return names")
    # Rows pass.
    for table in lookups:
        lines.append(f"    ids_{table} = ids[{table!r}]")
    cells = []
    for field, expr in fields:
        value = _value(field, expr)
        cells.append(f"ids_{field.lookup}[{value}]" if field.lookup else value)
    cells.append("pub")
    lines.append(f"    return [({', '.join(cells)},) {loop}]")
    namespace = {"_derived": rtype.derived}
    exec(compile("\n".join(lines), f"<rows {rtype.name}>", "exec"), namespace)
    return namespace["build"]


_PLANS = {}


def plan_for(rtype):
    """The (cached) row plan of a record type."""
    plan = _PLANS.get(rtype.name)
    if plan is None:
        plan = _PLANS[rtype.name] = RowPlan(rtype)
    return plan
