"""A human-readable view of spans and log records on stderr, for development.

One short line per item: time, level or duration, name, then ``key=value``
attributes. Opt-in (``console=True`` / ``TELEMETRY_CONSOLE=true``); the files and
OTLP carry the full records.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

_MAX_VALUE_CHARS = 120


def _clock(ns: int | None) -> str:
    if not ns:
        return "--:--:--.---"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]


def _pairs(attributes: Mapping[str, Any] | None) -> str:
    if not attributes:
        return ""
    parts = []
    for key, value in attributes.items():
        text = str(value).replace("\n", "\\n")
        if len(text) > _MAX_VALUE_CHARS:
            text = text[: _MAX_VALUE_CHARS - 1] + "…"
        parts.append(f"{key}={text}")
    return " ".join(parts)


def format_span(span: ReadableSpan) -> str:
    """One line for a finished span."""
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    status = "ERROR" if span.status.status_code is StatusCode.ERROR else "ok"
    trace_id = f"{span.context.trace_id:032x}"[:8] if span.context else "-"
    return (
        f"{_clock(span.start_time)} span  {span.name:<32} {duration_ms:9.1f} ms {status:<5} "
        f"trace={trace_id} {_pairs(span.attributes)}"
    ).rstrip()


def format_log(item: ReadableLogRecord) -> str:
    """One line for a log record."""
    record = item.log_record
    level = (record.severity_text or "").lower() or "-"
    return (
        f"{_clock(record.timestamp)} {level:<5} {record.body!s:<32} {_pairs(record.attributes)}"
    ).rstrip()


class _Writer:
    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, lines: list[str]) -> bool:
        stream = self._stream or sys.stderr
        try:
            with self._lock:
                stream.write("\n".join(lines) + "\n")
                stream.flush()
        except (OSError, ValueError):
            return False
        return True


class ConsoleSpanExporter(SpanExporter):
    """Prints each span as one line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._writer = _Writer(stream)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._writer.write([format_span(span) for span in spans])
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None


class ConsoleLogExporter(LogRecordExporter):
    """Prints each log record as one line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._writer = _Writer(stream)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._writer.write([format_log(item) for item in batch])
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
