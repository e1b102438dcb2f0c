"""Source rows into field values and records, a page read ahead in a thread while the last is written."""

import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from apeltools.errors import RecordError
from apeltools.importer.tables import kind_of
from apeltools.records.benchmark import canonical_type
from apeltools.records.build import finish


def ahead(pages: Iterator) -> Iterator:
    """The items of an iterator, each made in a thread while the previous one is used.

    Reading and checking a page (the source connection, Python) then overlaps
    with writing the one before (the target connection, which stays in the
    calling thread: SQLite allows no other). An exception of the thread is
    raised here, at the item it stopped.
    """
    items = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def offer(item):
        """Hand an item over; False when the consumer has gone."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in pages:
                if not offer(item):
                    return
            offer(end)
        except BaseException as error:  # handed to the consumer, which raises it
            offer(error)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class RowReader:
    """Turns a source row into field values: names from the lookup tables, whole DECIMALs into
    integers (times and other DECIMALs the server converts, see ``apel_source.read_expression``).

    ``convert(row)`` is generated per table, one expression per row, because millions of rows
    pass through it; it raises ``KeyError`` or ``ValueError`` for a row with a problem, which
    ``explain(row)`` then names.
    """

    def __init__(self, spec, names, types):
        self.spec = spec
        self.names = names
        self.lookups = [names[table] if table else None for _, _, table in spec.fields]
        self.converters = [_integer if table is None and types.get(column) == "decimal" and kind_of(spec, name) == "int"
                           else None for name, column, table in spec.fields]
        cells = []
        for i, (name, _, table) in enumerate(spec.fields):
            value = f"row[{i}]"
            if table:
                value = f"L[{i}][{value}]"
            elif self.converters[i]:
                value = f"C[{i}]({value})"
            cells.append(f"{name!r}: {value}")
        namespace = {"L": self.lookups, "C": self.converters}
        exec(compile(f"def convert(row):\n    return {{{', '.join(cells)}}}", f"<import {spec.name}>", "exec"),
             namespace)
        self.convert = namespace["convert"]

    def explain(self, row):
        """(values so far, RecordError) of a row that ``convert`` refused."""
        values = {}
        for i, (name, column, table) in enumerate(self.spec.fields):
            value = row[i]
            if table is not None:
                looked = self.lookups[i].get(value, MISSING)
                if looked is MISSING:
                    return values, RecordError(f"{column} {value} is not in {table}", field=name)
                value = looked
            elif self.converters[i]:
                try:
                    value = self.converters[i](value)
                except ValueError as error:
                    return values, RecordError(str(error), field=name)
            values[name] = value
        raise AssertionError(f"row {row!r} converts")


def _integer(value):
    """An integer from an integer or a whole DECIMAL (a source DECIMAL column read into an integer field;
    the deployed cloud CpuCount is not one: ours is fractional too, read as a float and kept to the thousandth)."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"not a whole number: {value}")
        return int(value)
    return value


def public_id(value):
    """A lookup id (the deployed CloudSummaries keeps its publisher's as text)."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


MISSING = object()


_UNCHECKED = {}


def _unchecked(rtype):
    """The record type with the same fields but no rules beyond presence and size, for storing
    a refused row as it was."""
    if rtype.name not in _UNCHECKED:
        _UNCHECKED[rtype.name] = replace(rtype, rules=())
    return _UNCHECKED[rtype.name]


def storable_as_is(rtype, values, now):
    """The row as an unchecked record when our tables and the summariser can hold it, else None."""
    try:
        record = finish(_unchecked(rtype), values, now)
        level_type = getattr(record, "ServiceLevelType", None)
        if level_type is not None:
            canonical_type(level_type)  # summing needs a known benchmark type
    except (RecordError, ValueError):
        return None
    return record
