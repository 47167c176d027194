"""OTLP exporters (gRPC or HTTP/protobuf) built from :class:`Settings`.

The SDK's exporters do the work; this module only picks the protocol, derives
per-signal URLs the way the OTLP specification says (``/v1/traces`` etc. for
HTTP), and bounds every export by the configured timeout so a dead collector
cannot hold the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    from telemetry.config import Settings

_HTTP_PATHS = {"traces": "v1/traces", "logs": "v1/logs", "metrics": "v1/metrics"}


def _http_url(endpoint: str, signal: str) -> str:
    return f"{endpoint.rstrip('/')}/{_HTTP_PATHS[signal]}"


def _insecure(settings: Settings) -> bool:
    if settings.otlp_insecure is not None:
        return settings.otlp_insecure
    return (settings.otlp_endpoint or "").startswith("http://")


def span_exporter(settings: Settings) -> SpanExporter:
    """The OTLP span exporter for ``settings.otlp_protocol``."""
    endpoint = settings.otlp_endpoint or ""
    headers = dict(settings.otlp_headers)
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(
            endpoint=endpoint,
            insecure=_insecure(settings),
            headers=headers,
            timeout=settings.otlp_timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(
        endpoint=_http_url(endpoint, "traces"), headers=headers, timeout=settings.otlp_timeout_s
    )


def log_exporter(settings: Settings) -> LogRecordExporter:
    """The OTLP log-record exporter for ``settings.otlp_protocol``."""
    endpoint = settings.otlp_endpoint or ""
    headers = dict(settings.otlp_headers)
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(
            endpoint=endpoint,
            insecure=_insecure(settings),
            headers=headers,
            timeout=settings.otlp_timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HTTPLogExporter,
    )

    return HTTPLogExporter(
        endpoint=_http_url(endpoint, "logs"), headers=headers, timeout=settings.otlp_timeout_s
    )


def metric_exporter(settings: Settings) -> MetricExporter:
    """The OTLP metric exporter for ``settings.otlp_protocol``."""
    endpoint = settings.otlp_endpoint or ""
    headers = dict(settings.otlp_headers)
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(
            endpoint=endpoint,
            insecure=_insecure(settings),
            headers=headers,
            timeout=settings.otlp_timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HTTPMetricExporter,
    )

    return HTTPMetricExporter(
        endpoint=_http_url(endpoint, "metrics"), headers=headers, timeout=settings.otlp_timeout_s
    )
