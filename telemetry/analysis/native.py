"""The reader's compiled path: blocks of lines scanned in C into Arrow columns.

``_scan.c`` validates each line as JSON and copies only what a column needs into
Arrow-layout buffers, handed over as one bytes object each, which become Arrow
arrays here without another copy. It
accepts only lines whose rows it is sure of (the usual shapes, written by the SDK
or a collector) and stops at any other, which the Python readers then read
(``flatten.py``). The msgspec path (``typed.py``) stays the fallback where the
extension was not built (no C compiler at install time). Nothing here imports
``pyarrow.compute``: its import alone (60 ms) was a quarter of a small report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from telemetry.analysis.schema import (
    LOG_FIELDS,
    LOG_PROMOTED,
    SPAN_FIELDS,
    SPAN_PROMOTED,
    TEXT_INT_COLUMNS,
)

try:
    from telemetry.analysis import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the Python readers do it all
    _scan = None

# TELEMETRY_NATIVE_READER=0 reads with the Python readers only (to compare, or to
# rule the scanner out when a report looks wrong).
ENABLED = _scan is not None and os.environ.get("TELEMETRY_NATIVE_READER", "1") != "0"

_JSON = frozenset({"attributes", "events"})


def _columns(fields: tuple[str, ...], promoted: Mapping[str, str]) -> tuple[str, ...]:
    return (*fields, *(f"p_{column}" for column in promoted))


def _integers(promoted: Mapping[str, str]) -> frozenset[str]:
    return frozenset(key for column, key in promoted.items() if f"p_{column}" in TEXT_INT_COLUMNS)


_SIGNALS = (
    ("spans", _columns(SPAN_FIELDS, SPAN_PROMOTED)),
    ("logs", _columns(LOG_FIELDS, LOG_PROMOTED)),
)


class Scanner:
    """One scanner per thread (``reader.py`` keeps them): it keeps its buffers from one
    block to the next."""

    def __init__(self) -> None:
        if _scan is None:
            raise RuntimeError("the native reader (telemetry.analysis._scan) is not built")
        self._scanner = _scan.Scanner(
            tuple(SPAN_PROMOTED.values()), _integers(SPAN_PROMOTED),
            tuple(LOG_PROMOTED.values()), _integers(LOG_PROMOTED),
        )  # fmt: skip

    def scan(self, block: bytes, start: int) -> tuple[int, int, dict[str, pa.Table]]:
        """Read ``block``'s whole lines from ``start`` on, up to the first it declines.

        Returns where it stopped (``len(block)``, or the start of the declined
        line), how many lines it read, and their rows per signal.
        """
        stop, lines, *signals = self._scanner.scan(block, start)
        tables = {
            signal: _table(names, scanned)
            for (signal, names), scanned in zip(_SIGNALS, signals, strict=True)
            if scanned is not None
        }
        return stop, lines, tables


def _table(names: tuple[str, ...], scanned: tuple[int, tuple[Any, ...]]) -> pa.Table:
    rows, columns = scanned
    return pa.table(
        {name: _array(name, rows, buffers) for name, buffers in zip(names, columns, strict=True)}
    )


def _array(name: str, rows: int, buffers: tuple[bytes | None, ...]) -> pa.Array:
    valid, *rest = (None if b is None else pa.py_buffer(b) for b in buffers)
    if len(rest) == 1:
        return pa.Array.from_buffers(pa.int64(), rows, [valid, rest[0]])
    offsets, data = rest
    if name in _JSON:
        return pa.LargeStringArray.from_buffers(rows, offsets, data, valid)
    return pa.StringArray.from_buffers(rows, offsets, data, valid)
