"""Turn OTLP/JSON export lines into flat columns, one row per span or log record.

This is the only place that walks the nested OTLP structure, and it runs once per
line: the result goes into the analysis cache and every report afterwards scans
flat columns. The walk copies the scalar fields, pulls out the attributes the
reports use (``schema.py``) and keeps the attribute list as JSON text. Reading
the nested lines with DuckDB's JSON functions measured 2-4x slower than this, and
Arrow's JSON reader took as much CPU to parse alone as this takes in all, so DuckDB
only ever scans what this writes.

These are the Python readers, behind the native scanner (``reader.py``): lines of
the usual shape take the typed fast path (``typed.py``); any other line is walked
here as orjson dicts, which is also the definition of what the fast path and the
scanner must produce. Lines are dispatched by their top-level key, not by file
name, so a collector writing every signal into one file is read as well as the
package's three files. A line that is not JSON, or is JSON of another shape, is counted as
corrupt and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from telemetry.analysis import typed
from telemetry.analysis.columns import FREEZE_ROWS, Columns, Flattened

__all__ = ["Flattened", "flatten_block", "flatten_lines"]


def flatten_block(block: bytes, out: Flattened) -> None:
    """Flatten a block of whole lines (checked for the fast path all at once)."""
    flatten_lines(_lines(block), out, clean=typed.clean(block))


def flatten_lines(
    lines: Iterable[bytes | memoryview], out: Flattened | None = None, *, clean: bool = False
) -> Flattened:
    """Flatten complete lines (each one export request); count what cannot be read.

    ``clean`` says the caller has checked all of them with ``typed.clean``.
    """
    out = out if out is not None else Flattened()
    for line in lines:
        out.bytes_read += len(line)
        if line[:1] != b"{":
            line = bytes(line)
            if not line.strip():
                continue
        out.lines += 1
        fast = clean or typed.clean(bytes(line))
        if not (fast and typed.read(out, line)):
            try:
                _slow(out, line)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
                out.corrupt += 1
        if out.rows() >= FREEZE_ROWS:
            out.freeze()
    return out


def _lines(block: bytes) -> Iterator[memoryview]:
    """The lines of ``block`` with their newlines, as views (no copies)."""
    view = memoryview(block)
    start = 0
    while start < len(block):
        end = block.find(b"\n", start) + 1 or len(block)
        yield view[start:end]
        start = end


# -- the dict walk --------------------------------------------------------------------


def _slow(out: Flattened, line: bytes | memoryview) -> None:
    """Flatten ``line`` by walking its dicts; raise if it is not an export request."""
    request = orjson.loads(line)
    for key, handler in _HANDLERS:
        if key in request:
            # Keep the lengths so a line that breaks half way adds nothing.
            before = out.lengths()
            try:
                handler(out, request)
            except (KeyError, TypeError, AttributeError, ValueError):
                out.truncate(before)
                raise
            return
    raise ValueError("not an OTLP export request")


def _service_name(resource: Any) -> str | None:
    if not isinstance(resource, dict):
        return None
    for kv in resource.get("attributes") or ():
        if kv.get("key") == "service.name":
            return (kv.get("value") or {}).get("stringValue")
    return None


def _keyed(attributes: Any, c: Columns, row: int) -> bytes:
    """The attribute list as JSON text (as written: ``[{"key": k, "value": v}, ...]``),
    recording the promoted attributes' values for row ``row``.

    The list is not turned into a dict: that alone was a quarter of the reader's time.
    """
    for kv in attributes:
        position = c.index.get(kv["key"])
        if position is not None:
            for scalar in kv["value"].values():  # an AnyValue has one key: its kind
                text = orjson.dumps(scalar).decode() if type(scalar) is dict else scalar
                c.promote(row, position, text)
    return orjson.dumps(attributes)


def _scoped(
    out_columns: Columns, request: dict[str, Any], groups: str, scopes: str, items: str
) -> Iterator[tuple[int, dict[str, Any], str | None, str | None]]:
    """(row, item, service, scope) for every item of the request, rows numbered on."""
    row = len(out_columns)
    for group in request[groups]:
        service = _service_name(group.get("resource"))
        for scoped in group.get(scopes) or ():
            scope = (scoped.get("scope") or {}).get("name")
            for item in scoped.get(items) or ():
                yield row, item, service, scope
                row += 1


def _add_spans(out: Flattened, request: dict[str, Any]) -> None:
    c = out.spans
    p = c.plain
    for row, span, service, scope in _scoped(c, request, "resourceSpans", "scopeSpans", "spans"):
        get = span.get
        p["trace_id"].append(span["traceId"])
        p["span_id"].append(span["spanId"])
        p["parent_span_id"].append(get("parentSpanId"))
        p["name"].append(get("name"))
        p["kind"].append(get("kind", 0))
        p["start"].append(span["startTimeUnixNano"])
        p["end"].append(get("endTimeUnixNano"))
        status = get("status") or {}
        p["status_code"].append(status.get("code", 0))
        p["status_message"].append(status.get("message"))
        p["scope_name"].append(scope)
        attributes = get("attributes")
        p["attributes"].append(_keyed(attributes, c, row) if attributes else b"")
        events = get("events")
        p["events"].append(orjson.dumps(events) if events else b"")
        p["service_name"].append(service)  # last: it counts the rows


def _body(body: Any) -> str | None:
    if not body:
        return None
    text = body.get("stringValue")
    return text if text is not None else orjson.dumps(body).decode()


def _add_logs(out: Flattened, request: dict[str, Any]) -> None:
    c = out.logs
    p = c.plain
    for row, record, service, scope in _scoped(
        c, request, "resourceLogs", "scopeLogs", "logRecords"
    ):
        get = record.get
        p["time"].append(get("timeUnixNano"))
        p["observed_time"].append(get("observedTimeUnixNano"))
        p["severity_number"].append(get("severityNumber", 0))
        p["severity_text"].append(get("severityText"))
        p["body"].append(_body(get("body")))
        p["trace_id"].append(get("traceId"))
        p["span_id"].append(get("spanId"))
        p["scope_name"].append(scope)
        attributes = get("attributes")
        p["attributes"].append(_keyed(attributes, c, row) if attributes else b"")
        p["service_name"].append(service)  # last: it counts the rows


def _number(point: dict[str, Any]) -> float | None:
    value = point.get("asDouble")
    if value is None:
        value = point.get("asInt")
    return None if value is None else float(value)


_METRIC_KINDS = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")


def _add_metrics(out: Flattened, request: dict[str, Any]) -> None:
    p = out.metrics.plain
    for resource_metrics in request["resourceMetrics"]:
        svc = _service_name(resource_metrics.get("resource"))
        for scope_metrics in resource_metrics.get("scopeMetrics") or ():
            for metric in scope_metrics.get("metrics") or ():
                kind = next((k for k in _METRIC_KINDS if metric.get(k) is not None), None)
                if kind is None:
                    continue
                for point in metric[kind].get("dataPoints") or ():
                    p["name"].append(metric.get("name"))
                    p["unit"].append(metric.get("unit"))
                    p["type"].append(kind)
                    p["time"].append(point.get("timeUnixNano"))
                    p["value"].append(_number(point))
                    count = point.get("count")
                    p["count"].append(None if count is None else int(count))
                    p["sum"].append(point.get("sum"))
                    p["max"].append(point.get("max"))
                    attributes = point.get("attributes")
                    p["attributes"].append(orjson.dumps(attributes) if attributes else b"")
                    p["service_name"].append(svc)  # last: it counts the rows


_HANDLERS: tuple[tuple[str, Callable[[Flattened, dict[str, Any]], None]], ...] = (
    ("resourceSpans", _add_spans),
    ("resourceLogs", _add_logs),
    ("resourceMetrics", _add_metrics),
)
