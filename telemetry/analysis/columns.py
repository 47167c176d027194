"""The rows being read, as columns, and their conversion into Arrow tables.

The Python readers (``flatten.py``'s dict walk and ``typed.py``'s typed decoding)
append to these: plain fields as Python lists, attribute lists and events as their JSON
bytes, and the promoted attributes (``schema.py``) sparsely, as the rows that have
them and their values. ``Flattened.freeze`` turns a few thousand rows at a time into
Arrow, so the parsed requests are freed whole instead of leaving millions of small
objects scattered over the heap. The native scanner's Arrow tables join them
whole (``Flattened.extend``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pyarrow as pa

from telemetry.analysis.schema import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LOG_FIELDS,
    LOG_PROMOTED,
    METRIC_FIELDS,
    SPAN_FIELDS,
    SPAN_PROMOTED,
    TEXT_INT_COLUMNS,
)

# Kept as JSON text, and ids where ``""`` means none.
_RAW_JSON = frozenset({"attributes", "events"})
_EMPTY_IS_NULL = frozenset({"trace_id", "span_id", "parent_span_id"})
# Texts of one width (ids, nanosecond timestamps) and columns one value fills (a
# batch's service and scope) have cheaper ways into Arrow than a str at a time.
_FIXED_WIDTH = frozenset(
    {"trace_id", "span_id", "parent_span_id", "start", "end", "time", "observed_time"}
)
_REPEATED = frozenset({"service_name", "scope_name"})
FREEZE_ROWS = 4096


class Columns:
    """One signal's rows so far.

    - ``plain``: a list per field, one value per row;
    - ``hit_rows``/``hit_values``: per promoted attribute, the rows that have it
      (ascending) and their values: most rows lack most promoted attributes, so the
      few values are scattered into their column by Arrow (``scatter``).
    """

    def __init__(self, fields: tuple[str, ...], promoted: Mapping[str, str]) -> None:
        self.plain: dict[str, list[Any]] = {name: [] for name in fields}
        self.index = {key: position for position, key in enumerate(promoted.values())}
        self.names = tuple(f"p_{column}" for column in promoted)
        self.hit_rows: list[list[int]] = [[] for _ in promoted]
        self.hit_values: list[list[Any]] = [[] for _ in promoted]
        self._rows = self.plain["service_name"]  # every reader fills it for every row

    def __len__(self) -> int:
        return len(self._rows)

    def promote(self, row: int, position: int, value: Any) -> None:
        """Row ``row`` has promoted attribute ``position``; a later value for it wins."""
        self.hit_rows[position].append(row)
        self.hit_values[position].append(value)

    def truncate(self, rows: int) -> None:
        """Forget every row from ``rows`` on (a line that broke half way)."""
        for values in self.plain.values():
            del values[rows:]
        for hit_rows, hit_values in zip(self.hit_rows, self.hit_values, strict=True):
            keep = bisect_left(hit_rows, rows)
            del hit_rows[keep:], hit_values[keep:]

    def table(self) -> pa.Table | None:
        """The rows as an Arrow table (None if there are none); the lists are emptied."""
        n = len(self)
        if not n:
            return None
        arrays = {name: _array(name, values) for name, values in self.plain.items()}
        for name, rows, values in zip(self.names, self.hit_rows, self.hit_values, strict=True):
            arrays[name] = _scatter(_array(name, values), rows, n)
        for values in (*self.plain.values(), *self.hit_rows, *self.hit_values):
            values.clear()
        return pa.table(arrays)


@dataclass
class Flattened:
    """The rows read from one stretch of a file, per signal, and what was counted."""

    spans: Columns = field(default_factory=lambda: Columns(SPAN_FIELDS, SPAN_PROMOTED))
    logs: Columns = field(default_factory=lambda: Columns(LOG_FIELDS, LOG_PROMOTED))
    metrics: Columns = field(default_factory=lambda: Columns(METRIC_FIELDS, {}))
    lines: int = 0
    corrupt: int = 0
    bytes_read: int = 0
    frozen: dict[str, list[pa.Table]] = field(default_factory=dict)

    def signals(self) -> tuple[tuple[str, Columns], ...]:
        return (("spans", self.spans), ("logs", self.logs), ("metrics", self.metrics))

    def freeze(self) -> None:
        """Move the rows so far into Arrow tables and empty the Python lists."""
        for signal, columns in self.signals():
            table = columns.table()
            if table is not None:
                self.frozen.setdefault(signal, []).append(table)

    def extend(self, tables: Mapping[str, pa.Table]) -> None:
        """Add rows read elsewhere (the native scanner), after those so far."""
        self.freeze()
        for signal, table in tables.items():
            self.frozen.setdefault(signal, []).append(table)

    def rows(self) -> int:
        return len(self.spans) + len(self.logs) + len(self.metrics)

    def lengths(self) -> tuple[int, int, int]:
        return (len(self.spans), len(self.logs), len(self.metrics))

    def truncate(self, lengths: tuple[int, int, int]) -> None:
        for (_, columns), rows in zip(self.signals(), lengths, strict=True):
            columns.truncate(rows)

    def tables(self) -> dict[str, pa.Table]:
        """The non-empty signals as Arrow tables (cheap to pickle and to scan)."""
        self.freeze()
        return {signal: pa.concat_tables(parts) for signal, parts in self.frozen.items()}


def _pc() -> ModuleType:
    """``pyarrow.compute``, imported on first use: the import takes about 60 ms, a
    quarter of a report over a small append, and the native reader never needs it."""
    import pyarrow.compute

    return pyarrow.compute


def _array(name: str, values: list[Any]) -> pa.Array:
    if name in _RAW_JSON:
        return _raw_json(values)
    if name in _EMPTY_IS_NULL:
        texts = _fixed_width(values)
        return _empty_is_null(pa.array(values, type=pa.string()) if texts is None else texts)
    if name in INT_COLUMNS:
        try:
            return pa.array(values, type=pa.int64())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # An enum by name ("SPAN_KIND_CLIENT"): OTLP/JSON writes them as integers,
            # so it is not known; the row keeps everything else.
            return pa.array([v if type(v) is int else None for v in values], type=pa.int64())
    if name in TEXT_INT_COLUMNS:
        return _integers(values, _fixed_width(values) if name in _FIXED_WIDTH else None)
    if name in FLOAT_COLUMNS:
        return pa.array(values, type=pa.float64())
    try:
        if name in _REPEATED and values.count(values[0]) == len(values):
            return pa.repeat(pa.scalar(values[0], type=pa.string()), len(values))
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A writer that used JSON numbers for 64-bit fields (allowed by protojson).
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _scatter(values: pa.Array, rows: list[int], n: int) -> pa.Array:
    """A column of ``n`` rows holding ``values`` at ``rows`` and null elsewhere; of a row
    given twice (an attribute repeated in one list) the later value counts."""
    if not rows:
        return pa.nulls(n, type=values.type)
    return _pc().scatter(values, pa.array(rows, type=pa.int64()), max_index=n - 1)


def _raw_json(values: list[Any]) -> pa.Array:
    """JSON texts (empty for none) as a string column, built from one buffer.

    The fast reader keeps each attribute list as the ``msgspec.Raw`` slice of its
    line: joining them and passing offsets saves making a str per row. Both readers
    hand over valid UTF-8 only (the fast one reads ASCII).
    """
    lengths = pa.array(list(map(len, values)), type=pa.int64())
    offsets = pa.concat_arrays([pa.array([0], type=pa.int64()), _pc().cumulative_sum(lengths)])
    present = _pc().not_equal(lengths, 0)
    return pa.LargeStringArray.from_buffers(
        len(values), offsets.buffers()[1], pa.py_buffer(b"".join(values)), present.buffers()[1]
    )


def _empty_is_null(texts: pa.Array) -> pa.Array:
    """An empty id means none (OTLP/JSON writes ``""`` for an unset parent)."""
    empty = _pc().equal(texts, "")
    if not _pc().any(empty).as_py():
        return texts
    return _pc().if_else(empty, pa.scalar(None, pa.string()), texts)


def _fixed_width(values: list[Any]) -> pa.Array | None:
    """ASCII texts all of one width as a string column, built from one buffer; None
    if they are not (a None, a number, another width, non-ASCII).

    Half the cost of handing Arrow one str at a time. To prove that each text has
    the width, they are also joined with a newline, which none of them holds: it
    must then be at every width-th position.
    """
    try:
        width = len(values[0])
        joined = "".join(values)
    except (IndexError, TypeError):
        return None
    gaps = len(values) - 1
    if not width or len(joined) != width * len(values) or not joined.isascii():
        return None
    if "\n" in joined or "\n".join(values)[width :: width + 1] != "\n" * gaps:
        return None
    packed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(values), [None, pa.py_buffer(joined.encode("ascii"))]
    )
    return packed.cast(pa.string())


def _integers(values: list[Any], texts: pa.Array | None = None) -> pa.Array:
    """Integers written as text (``"1796233904034360199"``) as an int64 column;
    ``texts`` is the same values already as a string column, if there is one."""
    try:
        if texts is None:
            texts = pa.array(values, type=pa.string())
        return _pc().cast(texts, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([_integer(v) for v in values], type=pa.int64())


_INT64 = range(-(2**63), 2**63)


def _integer(value: Any) -> int | None:
    """One value of a column that did not cast at once: numbers, "12.0", junk and
    integers beyond 64 bits (None)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None
    return number if number in _INT64 else None
