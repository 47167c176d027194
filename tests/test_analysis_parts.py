"""A part is written with statistics where a report filters and dictionaries only
where values repeat."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq

from telemetry.analysis import parts


def _line(spans: int) -> bytes:
    items = [
        {"traceId": f"{i:032x}", "spanId": f"{i + 1:016x}", "name": "SELECT", "kind": 3,
         "startTimeUnixNano": str(10**18 + i), "endTimeUnixNano": str(10**18 + i + 5),
         "attributes": [{"key": "post_id", "value": {"stringValue": f"post-{i % 3}"}}]}
        for i in range(spans)
    ]  # fmt: skip
    scope = {"scope": {"name": "t"}, "spans": items}
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [scope]}]}) + b"\n"


def test_time_columns_carry_statistics_and_unique_ones_no_dictionary(tmp_path: Path) -> None:
    source = tmp_path / "traces.jsonl"
    source.write_bytes(_line(50))
    written = parts.write_segment(str(source), 0, None, str(tmp_path / "cache"), 1)
    assert (written.lines, written.corrupt) == (1, 0)
    [part] = parts.list_parts(tmp_path / "cache", "spans")
    meta = pq.ParquetFile(part.path).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}

    start = columns["start"].statistics
    assert start is not None and (start.min, start.max) == (10**18, 10**18 + 49)
    for name in ("trace_id", "attributes", "p_post_id"):
        stats = columns[name].statistics
        assert stats is None or not stats.has_min_max, name
    assert "RLE_DICTIONARY" in str(columns["p_post_id"].encodings)
    for name in ("trace_id", "span_id", "attributes", "start"):
        assert "RLE_DICTIONARY" not in str(columns[name].encodings), name
    assert pq.read_table(part.path).num_rows == 50
