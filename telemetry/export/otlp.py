"""OTLP exporters (gRPC or HTTP/protobuf) built from :class:`Settings`.

The SDK's exporters do the work; this module only picks the protocol, derives
per-signal URLs the way the OTLP specification says (``/v1/traces`` etc. for
HTTP), and bounds every export by the configured timeout so a dead collector
cannot hold the process. Exporter modules are imported on first use, so a
process that writes only files never loads gRPC.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    from telemetry.config import Settings

_BASE = "opentelemetry.exporter.otlp.proto"
# signal -> (module under grpc/ and http/, class name, HTTP path)
_EXPORTERS = {
    "traces": ("trace_exporter", "OTLPSpanExporter", "v1/traces"),
    "logs": ("_log_exporter", "OTLPLogExporter", "v1/logs"),
    "metrics": ("metric_exporter", "OTLPMetricExporter", "v1/metrics"),
}


def _insecure(settings: Settings, endpoint: str) -> bool:
    if settings.otlp_insecure is not None:
        return settings.otlp_insecure
    return endpoint.startswith("http://")


def _http_url(settings: Settings, signal: str, http_path: str) -> str:
    specific: str | None = getattr(settings, f"otlp_{signal}_endpoint")
    if specific:
        return specific
    return f"{(settings.otlp_endpoint or '').rstrip('/')}/{http_path}"


def _exporter(settings: Settings, signal: str) -> Any:
    module_name, class_name, http_path = _EXPORTERS[signal]
    endpoint = settings.otlp_endpoint_for(signal) or ""
    common: dict[str, Any] = {
        "headers": dict(settings.otlp_headers),
        "timeout": settings.otlp_timeout_s,
    }
    if settings.otlp_protocol == "grpc":
        module = importlib.import_module(f"{_BASE}.grpc.{module_name}")
        return getattr(module, class_name)(
            endpoint=endpoint, insecure=_insecure(settings, endpoint), **common
        )
    module = importlib.import_module(f"{_BASE}.http.{module_name}")
    return getattr(module, class_name)(endpoint=_http_url(settings, signal, http_path), **common)


def span_exporter(settings: Settings) -> SpanExporter:
    """The OTLP span exporter for ``settings.otlp_protocol``."""
    exporter: SpanExporter = _exporter(settings, "traces")
    return exporter


def log_exporter(settings: Settings) -> LogRecordExporter:
    """The OTLP log-record exporter for ``settings.otlp_protocol``."""
    exporter: LogRecordExporter = _exporter(settings, "logs")
    return exporter


def metric_exporter(settings: Settings) -> MetricExporter:
    """The OTLP metric exporter for ``settings.otlp_protocol``."""
    exporter: MetricExporter = _exporter(settings, "metrics")
    return exporter
