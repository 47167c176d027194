"""An optional Prometheus scrape endpoint on the application.

For teams that scrape rather than receive OTLP: the standard OTel
``PrometheusMetricReader`` turns each scrape into a collection, and
prometheus_client's own HTTP server serves ``/metrics`` in the exposition
format. The server lives and dies with the reader, so the MeterProvider's
shutdown closes the port. Needs the ``prometheus`` extra.
"""

from __future__ import annotations

from typing import Any

from telemetry.config import ConfigError

try:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY, start_http_server
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Prometheus endpoint needs the 'prometheus' extra: "
        "pip install 'blog-telemetry[prometheus]'"
    ) from exc


class PrometheusEndpointReader(PrometheusMetricReader):
    """A Prometheus reader that also serves ``/metrics`` on ``host:port`` (0: a free port).

    ``registry`` defaults to prometheus_client's global one, so any other
    Prometheus metrics of the process are served alongside.
    """

    def __init__(self, port: int = 0, host: str = "0.0.0.0", *, registry: Any = None) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"prometheus_port must be an integer from 0 to 65535, got {port!r}")
        registry = REGISTRY if registry is None else registry
        super().__init__(registry=registry)
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            registry.unregister(self._collector)
            raise ConfigError(
                f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or exc}); "
                "choose another prometheus_port"
            ) from exc
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop answering scrapes and release the port."""
        super().shutdown(timeout_millis=timeout_millis, **kwargs)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=timeout_millis / 1000)
