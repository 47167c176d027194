"""psycopg 3 instrumentation: contrib spans, query metrics, slow-query events.

The OpenTelemetry contrib ``PsycopgInstrumentor`` makes the spans (sync, async,
and pool connections, which connect through ``Connection.connect``), on the
stable database semantic conventions: ``db.system.name``, ``db.query.text``
(never parameter values). This module adds what the contrib does not: the
``db.client.operation.duration`` histogram by ``db.operation.name`` *and*
``db.collection.name``, and a ``db.slow_query`` log event above a threshold.
Both come from one span processor that looks at finished psycopg spans, so a
query costs one extra histogram record and nothing else.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from telemetry import _diagnostics

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram

    from telemetry.pipeline import Telemetry

PSYCOPG_SCOPE = "opentelemetry.instrumentation.psycopg"
_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"

_LEADING_COMMENTS = re.compile(r"^\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/))*\s*", re.DOTALL)
_TARGET = re.compile(
    r"\b(?:from|into|update|join|table|truncate(?:\s+table)?)\s+"
    r"(?:only\s+)?(?:if\s+(?:not\s+)?exists\s+)?"
    r"((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)",
    re.IGNORECASE,
)
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER_LITERAL = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", re.IGNORECASE)
_DOLLAR_PARAM = re.compile(r"\$\d+")


@lru_cache(maxsize=2048)
def describe_query(text: str) -> tuple[str, str]:
    """``(operation, collection)`` of a SQL statement, e.g. ``("SELECT", "posts")``.

    Cached per statement text: the blog runs the same parameterised statements
    over and over, so each is parsed once.
    """
    body = _LEADING_COMMENTS.sub("", text, count=1)
    words = body.split(None, 1)
    operation = words[0].upper() if words else ""
    if operation == "WITH":
        match = re.search(r"\)\s*(select|insert|update|delete)\b", body, re.IGNORECASE)
        operation = match.group(1).upper() if match else operation
    target = _TARGET.search(body)
    collection = target.group(1).replace('"', "") if target else ""
    return operation, collection


@lru_cache(maxsize=2048)
def sanitize_query(text: str) -> str:
    """``text`` with inline literal values replaced by ``?``.

    Parameterised statements (``%s``, ``$1``) pass unchanged; a statement
    written with literals in it loses them, so no value is ever recorded.
    """
    if "'" not in text and not any(ch.isdigit() for ch in text):
        return text
    without_strings = _STRING_LITERAL.sub("?", text)
    placeholders = _DOLLAR_PARAM.findall(without_strings)
    sanitized = _NUMBER_LITERAL.sub("?", _DOLLAR_PARAM.sub("\0", without_strings))
    for placeholder in placeholders:
        sanitized = sanitized.replace("\0", placeholder, 1)
    return sanitized


class QueryMetricsProcessor(SpanProcessor):
    """Turns each finished psycopg span into a duration record and maybe a slow-query event."""

    def __init__(self, duration: Histogram, slow_threshold_s: float) -> None:
        self._duration = duration
        self._slow_threshold_ns = int(slow_threshold_s * 1e9)
        from telemetry.logs import get_logger

        self._log = get_logger("telemetry.db")

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if scope is None or scope.name != PSYCOPG_SCOPE:
            return
        try:
            self._record(span)
        except Exception as exc:
            _diagnostics.warn("db-metrics", f"could not record query metrics: {exc!r}")

    def _record(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        text = str(attributes.get("db.query.text") or attributes.get("db.statement") or "")
        operation, collection = describe_query(text)
        metric_attributes: dict[str, Any] = {
            "db.system.name": str(attributes.get("db.system.name", "postgresql")),
            "db.operation.name": operation or "UNKNOWN",
        }
        if collection:
            metric_attributes["db.collection.name"] = collection
        failed = span.status.status_code is StatusCode.ERROR
        if failed:
            metric_attributes["error.type"] = _error_type(span)
        duration_ns = (span.end_time or 0) - (span.start_time or 0)
        self._duration.record(duration_ns / 1e9, metric_attributes)
        if duration_ns >= self._slow_threshold_ns:
            self._log.warning(
                "db.slow_query",
                **{
                    "db.query.text": sanitize_query(text),
                    "db.operation.name": operation,
                    "db.collection.name": collection,
                    "duration_s": round(duration_ns / 1e9, 6),
                    "threshold_s": self._slow_threshold_ns / 1e9,
                    "trace_id": f"{span.context.trace_id:032x}" if span.context else "",
                },
            )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _error_type(span: ReadableSpan) -> str:
    for event in span.events:
        if event.name == "exception" and event.attributes:
            return str(event.attributes.get("exception.type", "_OTHER"))
    return "_OTHER"


def _opt_in_stable_db_conventions() -> None:
    """Ask the contrib for the stable database conventions (db.query.text, db.system.name)."""
    current = [v.strip() for v in os.environ.get(_OPT_IN, "").split(",") if v.strip()]
    if not any(v.startswith("database") for v in current):
        os.environ[_OPT_IN] = ",".join([*current, "database"])
    from opentelemetry.instrumentation._semconv import (
        _OpenTelemetrySemanticConventionStability,
        _OpenTelemetryStabilitySignalType,
        _StabilityMode,
    )

    _OpenTelemetrySemanticConventionStability._initialize()
    mode = _OpenTelemetrySemanticConventionStability._get_opentelemetry_stability_opt_in_mode(
        _OpenTelemetryStabilitySignalType.DATABASE
    )
    if mode == _StabilityMode.DEFAULT:
        _diagnostics.warn(
            "db-semconv",
            "the contrib instrumentation was initialised before telemetry.setup() without "
            f"{_OPT_IN}=database; psycopg spans use the old attribute names",
        )


def install(handle: Telemetry) -> None:
    """Instrument psycopg for ``handle``'s providers; undone at shutdown."""
    try:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    except ImportError:  # psycopg not installed: nothing to instrument
        return
    from telemetry import pipeline

    assert handle.tracer_provider is not None and handle.meter_provider is not None
    _opt_in_stable_db_conventions()
    duration = pipeline.meter().create_histogram(
        "db.client.operation.duration",
        unit="s",
        description="Duration of database client operations.",
    )
    handle.tracer_provider.add_span_processor(
        QueryMetricsProcessor(duration, handle.settings.slow_query_threshold_s)
    )
    instrumentor = PsycopgInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(
        tracer_provider=handle.tracer_provider,
        meter_provider=handle.meter_provider,
        enable_commenter=False,
        capture_parameters=False,
    )
    handle.add_closer(instrumentor.uninstrument)
