"""An optional Prometheus scrape endpoint on the application.

For teams that scrape rather than receive OTLP: the standard OTel
``PrometheusMetricReader`` turns each scrape into a collection, and
prometheus_client's own HTTP server serves ``/metrics`` in the exposition
format. Needs the ``prometheus`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader


@dataclass
class PrometheusEndpoint:
    """The reader to give the MeterProvider, and the server that exposes it."""

    reader: MetricReader
    host: str
    port: int
    _server: Any
    _thread: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (the reader is shut down with its MeterProvider)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_prometheus_endpoint(
    port: int, host: str = "0.0.0.0", *, registry: Any = None
) -> PrometheusEndpoint:
    """Serve ``/metrics`` on ``host:port`` (0: a free port) for a new Prometheus reader.

    ``registry`` defaults to prometheus_client's global one, so the process's
    other Prometheus metrics (if any) are served alongside.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"prometheus_port must be an integer from 0 to 65535, got {port!r}")
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import REGISTRY, start_http_server
    except ImportError as exc:
        raise ImportError(
            "the Prometheus endpoint needs the 'prometheus' extra: "
            "pip install 'blog-telemetry[prometheus]'"
        ) from exc
    registry = REGISTRY if registry is None else registry
    reader = PrometheusMetricReader(registry=registry)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return PrometheusEndpoint(reader, host, int(server.server_address[1]), server, thread)
