"""Rows become the same Arrow columns whichever way into Arrow a column takes: ids
and timestamps of one width and a repeated service go in as one buffer."""

from __future__ import annotations

from typing import Any

import pytest

from telemetry.analysis.columns import Columns
from telemetry.analysis.schema import LOG_FIELDS, LOG_PROMOTED


def _table(**columns: list[Any]) -> dict[str, list[Any]]:
    n = len(next(iter(columns.values())))
    c = Columns(LOG_FIELDS, LOG_PROMOTED)
    for name in LOG_FIELDS:
        c.plain[name].extend(columns.get(name, [b"" if name == "attributes" else None] * n))
    table = c.table()
    assert table is not None
    return {name: table[name].to_pylist() for name in columns}


@pytest.mark.parametrize(
    "ids",
    [
        ["ab" * 8, "cd" * 8, "ef" * 8],  # one width: one buffer
        ["ab", "c", "def"],  # the right total length, but not one width
        ["a\nb", "cde"],  # a newline inside
        ["ab", None, "cd"],
        ["caf\u00e9", "abcd"],
        ["ab", ""],  # "" means none
    ],
)
def test_ids_read_the_same_whatever_their_widths(ids: list[Any]) -> None:
    want = [i or None for i in ids]
    assert _table(trace_id=ids, span_id=ids) == {"trace_id": want, "span_id": want}


@pytest.mark.parametrize(
    "times",
    [
        ["1796233904034360199", "1796233904034361199"],
        ["17962339040343601", "1796233904034361199", "17"],
        ["1796233904034360199", None],
        [1796233904034360199, "5"],  # a writer that used JSON numbers
    ],
)
def test_timestamps_read_the_same_whatever_their_widths(times: list[Any]) -> None:
    want = [None if t is None else int(t) for t in times]
    assert _table(time=times) == {"time": want}


@pytest.mark.parametrize(
    "services", [["blog"] * 3, ["blog", "blog", "api"], [None, None], ["blog", None]]
)
def test_a_service_repeated_down_the_column_reads_as_itself(services: list[Any]) -> None:
    assert _table(service_name=services) == {"service_name": services}
