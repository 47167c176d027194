"""Read the package's files (collector ``file`` exporter format) back in tests.

Each line of ``traces.jsonl`` / ``logs.jsonl`` / ``metrics.jsonl`` is one
OTLP/JSON export request. These helpers flatten them into the items the tests
look at, decoding ``AnyValue`` attributes into Python values. They read the
format as the OTLP/JSON specification defines it, independently of the code
that wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Attributes = dict[str, Any]


@dataclass
class FileSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: Attributes
    status_code: int
    resource: Attributes
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FileLogRecord:
    body: Any
    severity_number: int
    severity_text: str
    trace_id: str
    span_id: str
    attributes: Attributes
    resource: Attributes


@dataclass
class FileMetricPoint:
    name: str
    kind: str
    """The OTLP/JSON data field: ``sum``, ``gauge``, ``histogram``, ..."""
    attributes: Attributes
    resource: Attributes
    point: dict[str, Any]


# OTLP span kinds, as the integers the JSON encoding uses.
SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_CODE_ERROR = 2
METRIC_KINDS = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")


def read_lines(path: Path) -> list[str]:
    """The lines of one file (an absent file has none).

    Split on ``\\n`` only: JSON leaves U+2028 and other separators that
    ``str.splitlines`` would break on unescaped inside strings.
    """
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def read_requests(path: Path) -> list[dict[str, Any]]:
    """Each line parsed as JSON; a line that is not valid JSON fails the test here."""
    return [json.loads(line) for line in read_lines(path)]


def any_value(value: dict[str, Any]) -> Any:
    """Decode an OTLP/JSON ``AnyValue`` (64-bit integers arrive as decimal strings)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(pairs: list[dict[str, Any]]) -> Attributes:
    return {pair["key"]: any_value(pair.get("value", {})) for pair in pairs}


def spans(data_dir: Path) -> list[FileSpan]:
    """Every span in ``traces.jsonl``, in file order."""
    found: list[FileSpan] = []
    for request in read_requests(data_dir / "traces.jsonl"):
        for resource_spans in request.get("resourceSpans", []):
            resource = attributes(resource_spans.get("resource", {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    found.append(
                        FileSpan(
                            name=span["name"],
                            trace_id=span["traceId"],
                            span_id=span["spanId"],
                            parent_span_id=span.get("parentSpanId", ""),
                            kind=span.get("kind", 0),
                            attributes=attributes(span.get("attributes", [])),
                            status_code=span.get("status", {}).get("code", 0),
                            resource=resource,
                            events=span.get("events", []),
                        )
                    )
    return found


def log_records(data_dir: Path) -> list[FileLogRecord]:
    """Every log record in ``logs.jsonl``, in file order."""
    found: list[FileLogRecord] = []
    for request in read_requests(data_dir / "logs.jsonl"):
        for resource_logs in request.get("resourceLogs", []):
            resource = attributes(resource_logs.get("resource", {}).get("attributes", []))
            for scope_logs in resource_logs.get("scopeLogs", []):
                for record in scope_logs.get("logRecords", []):
                    found.append(
                        FileLogRecord(
                            body=any_value(record.get("body", {})),
                            severity_number=record.get("severityNumber", 0),
                            severity_text=record.get("severityText", ""),
                            trace_id=record.get("traceId", ""),
                            span_id=record.get("spanId", ""),
                            attributes=attributes(record.get("attributes", [])),
                            resource=resource,
                        )
                    )
    return found


def metric_points(data_dir: Path) -> list[FileMetricPoint]:
    """Every data point in ``metrics.jsonl`` (all collections), in file order."""
    found: list[FileMetricPoint] = []
    for request in read_requests(data_dir / "metrics.jsonl"):
        for resource_metrics in request.get("resourceMetrics", []):
            resource = attributes(resource_metrics.get("resource", {}).get("attributes", []))
            for scope_metrics in resource_metrics.get("scopeMetrics", []):
                for metric in scope_metrics.get("metrics", []):
                    for kind in METRIC_KINDS:
                        for point in metric.get(kind, {}).get("dataPoints", []):
                            found.append(
                                FileMetricPoint(
                                    name=metric["name"],
                                    kind=kind,
                                    attributes=attributes(point.get("attributes", [])),
                                    resource=resource,
                                    point=point,
                                )
                            )
    return found


def metrics(data_dir: Path) -> list[tuple[str, str]]:
    """``(name, kind)`` of every metric in every collection of ``metrics.jsonl``."""
    return [
        (metric["name"], next((k for k in METRIC_KINDS if k in metric), ""))
        for request in read_requests(data_dir / "metrics.jsonl")
        for resource_metrics in request.get("resourceMetrics", [])
        for scope_metrics in resource_metrics.get("scopeMetrics", [])
        for metric in scope_metrics.get("metrics", [])
    ]
