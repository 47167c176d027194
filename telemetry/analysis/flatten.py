"""Turn OTLP/JSON export lines into flat columns, one row per span or log record.

This is the only place that walks the nested OTLP structure, and it runs once per
line: the result goes into the analysis cache and every report afterwards scans
flat columns. The walk is deliberately thin: it copies the scalar fields, pulls out
the attributes the reports use (``schema.py``) and keeps the attribute list as
JSON text. Letting DuckDB read the nested lines directly measured several times
slower than orjson, so DuckDB only ever scans what this writes.

Lines are dispatched by their top-level key, not by file name, so a collector
writing every signal into one file is read as well as the package's three files.
A line that is not JSON, or is JSON of another shape, is counted as corrupt and
skipped.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

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
from telemetry.analysis.sources import open_bytes

# Promoted attributes become columns ``p_<column>`` holding the value's text.
_SPAN_INDEX = {key: i for i, key in enumerate(SPAN_PROMOTED.values())}
_LOG_INDEX = {key: i for i, key in enumerate(LOG_PROMOTED.values())}
_SPAN_COLUMNS = (*SPAN_FIELDS, *(f"p_{c}" for c in SPAN_PROMOTED))
_LOG_COLUMNS = (*LOG_FIELDS, *(f"p_{c}" for c in LOG_PROMOTED))


@dataclass
class Flattened:
    """Columns of the rows read from one stretch of a file, per signal."""

    spans: dict[str, list[Any]] = field(default_factory=lambda: _columns(_SPAN_COLUMNS))
    logs: dict[str, list[Any]] = field(default_factory=lambda: _columns(_LOG_COLUMNS))
    metrics: dict[str, list[Any]] = field(default_factory=lambda: _columns(METRIC_FIELDS))
    lines: int = 0
    corrupt: int = 0
    bytes_read: int = 0
    frozen: dict[str, list[pa.Table]] = field(default_factory=dict)

    def freeze(self) -> None:
        """Move the rows so far into Arrow tables and empty the Python lists.

        Done every few thousand rows: the parsed requests are then freed whole,
        instead of leaving millions of small strings scattered over the heap
        (which made flattening twice as slow as parsing on its own).
        """
        for signal in ("spans", "logs", "metrics"):
            columns: dict[str, list[Any]] = getattr(self, signal)
            if columns["service_name"]:
                table = pa.table({k: _array(k, v) for k, v in columns.items()})
                self.frozen.setdefault(signal, []).append(table)
                for values in columns.values():
                    values.clear()

    def rows(self) -> int:
        return len(self.spans["name"]) + len(self.logs["time"]) + len(self.metrics["name"])

    def tables(self) -> dict[str, pa.Table]:
        """The non-empty signals as Arrow tables (cheap to pickle and to scan)."""
        self.freeze()
        return {signal: pa.concat_tables(parts) for signal, parts in self.frozen.items()}


@dataclass
class Chunk:
    """The Arrow tables and counts produced from one stretch of one file."""

    tables: dict[str, pa.Table]
    lines: int
    corrupt: int
    bytes_read: int


_FREEZE_ROWS = 4096


def _columns(names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [] for name in names}


def _array(name: str, values: list[Any]) -> pa.Array:
    if name in INT_COLUMNS:
        return pa.array(values, type=pa.int64())
    if name in TEXT_INT_COLUMNS:
        return _integers(values)
    if name in FLOAT_COLUMNS:
        return pa.array(values, type=pa.float64())
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A writer that used JSON numbers for 64-bit fields (allowed by protojson).
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _integers(values: list[Any]) -> pa.Array:
    """Integers written as text (``"1796233904034360199"``) as an int64 column."""
    try:
        return pc.cast(pa.array(values, type=pa.string()), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([_integer(v) for v in values], type=pa.int64())


def _integer(value: Any) -> int | None:
    """One value of a column that did not cast at once: numbers, "12.0", junk (None)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None


def _service_name(resource: Any) -> str | None:
    if not isinstance(resource, dict):
        return None
    for kv in resource.get("attributes") or ():
        if kv.get("key") == "service.name":
            return (kv.get("value") or {}).get("stringValue")
    return None


def _keyed(attributes: Any, index: dict[str, int], promoted: list[list[Any]], row: int) -> str:
    """The attribute list as JSON text (as written: ``[{"key": k, "value": v}, ...]``),
    storing the promoted attributes' values in row ``row`` of their columns.

    The list is not turned into a dict: that alone was a quarter of the reader's time.
    """
    for kv in attributes:
        position = index.get(kv["key"])
        if position is not None:
            for scalar in kv["value"].values():  # an AnyValue has one key: its kind
                promoted[position][row] = (
                    orjson.dumps(scalar).decode() if type(scalar) is dict else scalar
                )
    return orjson.dumps(attributes).decode()


def _promoted_columns(
    columns: dict[str, list[Any]], names: dict[str, str], n: int
) -> list[list[Any]]:
    """The promoted columns, each grown by ``n`` empty rows for a batch about to be read."""
    out = []
    for name in names:
        column = columns[f"p_{name}"]
        column.extend([None] * n)
        out.append(column)
    return out


def _add_spans(out: Flattened, request: dict[str, Any]) -> None:
    c = out.spans
    trace_id, span_id, parent = c["trace_id"], c["span_id"], c["parent_span_id"]
    name, kind, start, end = c["name"], c["kind"], c["start"], c["end"]
    code, message, service, scope = (
        c["status_code"], c["status_message"], c["service_name"], c["scope_name"],
    )  # fmt: skip
    attrs, events = c["attributes"], c["events"]
    for resource_spans in request["resourceSpans"]:
        svc = _service_name(resource_spans.get("resource"))
        for scope_spans in resource_spans.get("scopeSpans") or ():
            scope_name = (scope_spans.get("scope") or {}).get("name")
            batch = scope_spans.get("spans") or ()
            first = len(trace_id)
            promoted = _promoted_columns(c, SPAN_PROMOTED, len(batch))
            for row, span in enumerate(batch, first):
                get = span.get
                trace_id.append(span["traceId"])
                span_id.append(span["spanId"])
                parent.append(get("parentSpanId") or None)
                name.append(get("name"))
                kind.append(get("kind", 0))
                start.append(span["startTimeUnixNano"])
                end.append(get("endTimeUnixNano"))
                status = get("status")
                if status:
                    code.append(status.get("code", 0))
                    message.append(status.get("message"))
                else:
                    code.append(0)
                    message.append(None)
                service.append(svc)
                scope.append(scope_name)
                attributes = get("attributes")
                attrs.append(_keyed(attributes, _SPAN_INDEX, promoted, row) if attributes else None)
                span_events = get("events")
                events.append(orjson.dumps(span_events).decode() if span_events else None)


def _body(body: Any) -> str | None:
    if not body:
        return None
    text = body.get("stringValue")
    return text if text is not None else orjson.dumps(body).decode()


def _add_logs(out: Flattened, request: dict[str, Any]) -> None:
    c = out.logs
    for resource_logs in request["resourceLogs"]:
        svc = _service_name(resource_logs.get("resource"))
        for scope_logs in resource_logs.get("scopeLogs") or ():
            scope_name = (scope_logs.get("scope") or {}).get("name")
            batch = scope_logs.get("logRecords") or ()
            first = len(c["time"])
            promoted = _promoted_columns(c, LOG_PROMOTED, len(batch))
            for row, record in enumerate(batch, first):
                get = record.get
                c["time"].append(get("timeUnixNano"))
                c["observed_time"].append(get("observedTimeUnixNano"))
                c["severity_number"].append(get("severityNumber", 0))
                c["severity_text"].append(get("severityText"))
                c["body"].append(_body(get("body")))
                c["trace_id"].append(get("traceId") or None)
                c["span_id"].append(get("spanId") or None)
                c["service_name"].append(svc)
                c["scope_name"].append(scope_name)
                attributes = get("attributes")
                c["attributes"].append(
                    _keyed(attributes, _LOG_INDEX, promoted, row) if attributes else None
                )


def _number(point: dict[str, Any]) -> float | None:
    value = point.get("asDouble")
    if value is None:
        value = point.get("asInt")
    return None if value is None else float(value)


def _add_metrics(out: Flattened, request: dict[str, Any]) -> None:
    c = out.metrics
    for resource_metrics in request["resourceMetrics"]:
        svc = _service_name(resource_metrics.get("resource"))
        for scope_metrics in resource_metrics.get("scopeMetrics") or ():
            for metric in scope_metrics.get("metrics") or ():
                for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                    data = metric.get(kind)
                    if data is not None:
                        break
                else:
                    continue
                for point in data.get("dataPoints") or ():
                    c["name"].append(metric.get("name"))
                    c["unit"].append(metric.get("unit"))
                    c["type"].append(kind)
                    c["time"].append(point.get("timeUnixNano"))
                    c["value"].append(_number(point))
                    count = point.get("count")
                    c["count"].append(None if count is None else int(count))
                    c["sum"].append(point.get("sum"))
                    c["max"].append(point.get("max"))
                    c["service_name"].append(svc)
                    attributes = point.get("attributes")
                    text = orjson.dumps(attributes).decode() if attributes else None
                    c["attributes"].append(text)


# -- the fast path: typed decoding of the usual shape ------------------------------------
#
# msgspec decodes a line straight into these classes, skipping every field no column
# needs and keeping attribute lists and events as their raw JSON text, which measured
# several times faster than building the whole dict tree with orjson and walking it.
# The types are strict: a line of any other shape (numbers where OTLP/JSON writes
# text, nulls, non-ASCII or escaped text that msgspec would not validate when it skips
# a field) falls back to the dict walk below, so what is read and what counts as
# corrupt is exactly the same either way.


class _KeyValue(msgspec.Struct):
    key: str
    value: msgspec.Raw


class _Attribute(msgspec.Struct):
    key: str
    value: dict[str, Any]


class _Resource(msgspec.Struct):
    attributes: list[_KeyValue] = []


class _Scope(msgspec.Struct):
    name: str | None = None


class _Status(msgspec.Struct):
    code: int = 0
    message: str | None = None


class _Span(msgspec.Struct):
    traceId: str
    spanId: str
    startTimeUnixNano: str
    parentSpanId: str | None = None
    name: str | None = None
    kind: int = 0
    endTimeUnixNano: str | None = None
    status: _Status | None = None
    attributes: msgspec.Raw = msgspec.Raw()
    events: msgspec.Raw = msgspec.Raw()


class _ScopeSpans(msgspec.Struct):
    scope: _Scope | None = None
    spans: list[_Span] = []


class _ResourceSpans(msgspec.Struct):
    resource: _Resource | None = None
    scopeSpans: list[_ScopeSpans] = []


class _LogRecord(msgspec.Struct):
    timeUnixNano: str | None = None
    observedTimeUnixNano: str | None = None
    severityNumber: int = 0
    severityText: str | None = None
    body: msgspec.Raw = msgspec.Raw()
    traceId: str | None = None
    spanId: str | None = None
    attributes: msgspec.Raw = msgspec.Raw()


class _ScopeLogs(msgspec.Struct):
    scope: _Scope | None = None
    logRecords: list[_LogRecord] = []


class _ResourceLogs(msgspec.Struct):
    resource: _Resource | None = None
    scopeLogs: list[_ScopeLogs] = []


class _Request(msgspec.Struct):
    resourceSpans: list[_ResourceSpans] | msgspec.UnsetType = msgspec.UNSET
    resourceLogs: list[_ResourceLogs] | msgspec.UnsetType = msgspec.UNSET


class _StringBody(msgspec.Struct):
    stringValue: str | None = None


_decode_request = msgspec.json.Decoder(_Request).decode
_decode_attributes = msgspec.json.Decoder(list[_Attribute]).decode
_decode_body = msgspec.json.Decoder(_StringBody).decode
_decode_any = msgspec.json.Decoder().decode


def _fast_service_name(resource: _Resource | None) -> str | None:
    if resource is None:
        return None
    for kv in resource.attributes:
        if kv.key == "service.name":
            return (_decode_any(kv.value) or {}).get("stringValue")
    return None


def _fast_keyed(
    raw: msgspec.Raw, index: dict[str, int], promoted: list[list[Any]], row: int
) -> str | None:
    """``_keyed`` over an attribute list still in its raw JSON text, which is kept as is."""
    if not raw:
        return None
    attributes = _decode_attributes(raw)
    if not attributes:
        return None
    for kv in attributes:
        position = index.get(kv.key)
        if position is not None:
            for scalar in kv.value.values():
                promoted[position][row] = (
                    orjson.dumps(scalar).decode() if type(scalar) is dict else scalar
                )
    return bytes(raw).decode()


def _fast_events(raw: msgspec.Raw) -> str | None:
    if not raw:
        return None
    text = bytes(raw).decode()
    if text[0] == "[" and text[1] not in " \t\r\n]":
        return text  # a list that is not empty
    events = _decode_any(raw)
    return orjson.dumps(events).decode() if events else None


def _fast_spans(out: Flattened, request: list[_ResourceSpans]) -> None:
    c = out.spans
    trace_id, span_id, parent = c["trace_id"], c["span_id"], c["parent_span_id"]
    name, kind, start, end = c["name"], c["kind"], c["start"], c["end"]
    code, message, service, scope = (
        c["status_code"], c["status_message"], c["service_name"], c["scope_name"],
    )  # fmt: skip
    attrs, events = c["attributes"], c["events"]
    for resource_spans in request:
        svc = _fast_service_name(resource_spans.resource)
        for scope_spans in resource_spans.scopeSpans:
            scope_name = scope_spans.scope.name if scope_spans.scope is not None else None
            batch = scope_spans.spans
            n = len(batch)
            first = len(trace_id)
            promoted = _promoted_columns(c, SPAN_PROMOTED, n)
            service.extend([svc] * n)
            scope.extend([scope_name] * n)
            for row, span in enumerate(batch, first):
                trace_id.append(span.traceId)
                span_id.append(span.spanId)
                parent.append(span.parentSpanId or None)
                name.append(span.name)
                kind.append(span.kind)
                start.append(span.startTimeUnixNano)
                end.append(span.endTimeUnixNano)
                status = span.status
                if status is None:
                    code.append(0)
                    message.append(None)
                else:
                    code.append(status.code)
                    message.append(status.message)
                attrs.append(_fast_keyed(span.attributes, _SPAN_INDEX, promoted, row))
                events.append(_fast_events(span.events))


def _fast_body(raw: msgspec.Raw) -> str | None:
    if not raw:
        return None
    text = _decode_body(raw).stringValue
    return text if text is not None else _body(_decode_any(raw))


def _fast_logs(out: Flattened, request: list[_ResourceLogs]) -> None:
    c = out.logs
    time, observed, number, severity = (
        c["time"], c["observed_time"], c["severity_number"], c["severity_text"],
    )  # fmt: skip
    body, trace_id, span_id = c["body"], c["trace_id"], c["span_id"]
    service, scope, attrs = c["service_name"], c["scope_name"], c["attributes"]
    for resource_logs in request:
        svc = _fast_service_name(resource_logs.resource)
        for scope_logs in resource_logs.scopeLogs:
            scope_name = scope_logs.scope.name if scope_logs.scope is not None else None
            batch = scope_logs.logRecords
            n = len(batch)
            first = len(time)
            promoted = _promoted_columns(c, LOG_PROMOTED, n)
            service.extend([svc] * n)
            scope.extend([scope_name] * n)
            for row, record in enumerate(batch, first):
                time.append(record.timeUnixNano)
                observed.append(record.observedTimeUnixNano)
                number.append(record.severityNumber)
                severity.append(record.severityText)
                body.append(_fast_body(record.body))
                trace_id.append(record.traceId or None)
                span_id.append(record.spanId or None)
                attrs.append(_fast_keyed(record.attributes, _LOG_INDEX, promoted, row))


def _fast(out: Flattened, line: bytes) -> bool:
    """Flatten ``line`` by the fast path; False (nothing added) if it must take the slow one."""
    if not line.isascii() or b"\\u" in line:
        return False
    try:
        request = _decode_request(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    before = _lengths(out)
    try:
        if request.resourceSpans is not msgspec.UNSET:
            _fast_spans(out, request.resourceSpans)
        elif request.resourceLogs is not msgspec.UNSET:
            _fast_logs(out, request.resourceLogs)
        else:
            return False
    except (
        msgspec.DecodeError, msgspec.ValidationError, orjson.JSONDecodeError,
        KeyError, TypeError, AttributeError, ValueError, IndexError,
    ):  # fmt: skip
        _truncate(out, before)
        return False
    return True


_HANDLERS = (
    ("resourceSpans", _add_spans),
    ("resourceLogs", _add_logs),
    ("resourceMetrics", _add_metrics),
)


def flatten_lines(lines: Iterable[bytes], out: Flattened | None = None) -> Flattened:
    """Flatten complete lines (each one export request); count what cannot be read."""
    out = out if out is not None else Flattened()
    for line in lines:
        out.bytes_read += len(line)
        if not line.strip():
            continue
        out.lines += 1
        if not _fast(out, line):
            try:
                _slow(out, line)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
                out.corrupt += 1
        if out.rows() >= _FREEZE_ROWS:
            out.freeze()
    return out


def _slow(out: Flattened, line: bytes) -> None:
    """Flatten ``line`` by walking its dicts; raise if it is not an export request."""
    request = orjson.loads(line)
    for key, handler in _HANDLERS:
        if key in request:
            # Copy the lengths so a line that breaks half way adds nothing.
            before = _lengths(out)
            try:
                handler(out, request)
            except (KeyError, TypeError, AttributeError, ValueError):
                _truncate(out, before)
                raise
            return
    raise ValueError("not an OTLP export request")


def _lengths(out: Flattened) -> tuple[int, int, int]:
    return (len(out.spans["name"]), len(out.logs["time"]), len(out.metrics["name"]))


def _truncate(out: Flattened, lengths: tuple[int, int, int]) -> None:
    for columns, n in zip((out.spans, out.logs, out.metrics), lengths, strict=True):
        for values in columns.values():
            del values[n:]


def read_chunk(path: str, start: int, end: int | None) -> Chunk:
    """Flatten the complete lines of ``path`` between content offsets ``start`` and ``end``.

    ``end`` is None to read to the end of a finished (rotated) file, where a last
    line without its newline is a truncated write and counts as corrupt. Runs in
    worker processes, hence plain arguments and an Arrow result.
    """
    out = Flattened()
    # Every parsed line allocates thousands of dicts that die at once; the cyclic
    # collector would scan the growing columns over and over (measured 1.7x slower).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open_bytes(Path(path)) as stream:
            if start:
                stream.seek(start)
            if end is None:
                flatten_lines(stream, out)
            else:
                data = stream.read(end - start)
                flatten_lines(data.splitlines(keepends=True), out)
        return Chunk(out.tables(), out.lines, out.corrupt, out.bytes_read)
    finally:
        if collecting:
            gc.enable()
