"""The health report over HTTP, for load balancers and orchestrators.

``wsgi_app(checker)`` mounts into any WSGI application; ``serve(port=...)``
runs the same app on the standard library's HTTP server in a daemon thread.

- ``/health``: the full report as JSON; 200 when healthy or degraded, 503 when
  unhealthy.
- ``/health/ready``: the same verdict with only ``{"status": ...}``.
- ``/health/live``: 200 whenever the process answers at all (no checks run).

Reports are reused for ``max_age_s`` so a burst of probes runs the checks once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from telemetry.health.checker import UNHEALTHY, HealthChecker

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REASONS = {
    200: "200 OK",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    503: "503 Service Unavailable",
}


def wsgi_app(checker: HealthChecker, *, max_age_s: float = 1.0) -> WSGIApp:
    """A WSGI application answering ``/health``, ``/health/ready`` and ``/health/live``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = (environ.get("PATH_INFO") or "/").rstrip("/") or "/"
        if path not in ("/health", "/health/ready", "/health/live"):
            return _respond(start_response, 404, {"error": f"no such path {path!r}"}, method)
        if method not in ("GET", "HEAD"):
            return _respond(start_response, 405, {"error": "use GET"}, method)
        if path == "/health/live":
            return _respond(start_response, 200, {"status": "alive"}, method)
        report = checker.check(max_age_s=max_age_s)
        code = 503 if report["status"] == UNHEALTHY else 200
        body = report if path == "/health" else {"status": report["status"]}
        return _respond(start_response, code, body, method)

    return app


def _respond(
    start_response: Callable[..., Any], code: int, body: dict[str, Any], method: str
) -> list[bytes]:
    payload = json.dumps(body, default=str).encode()
    start_response(
        _REASONS[code],
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [] if method == "HEAD" else [payload]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes arrive every few seconds: no access log on stderr."""


class HealthServer:
    """A running health endpoint; ``close()`` stops it."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    checker: HealthChecker, *, host: str = "127.0.0.1", port: int = 0, max_age_s: float = 1.0
) -> HealthServer:
    """Serve the health endpoint on ``host:port`` (0 picks a free port) in a daemon thread."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    server = make_server(
        host,
        port,
        wsgi_app(checker, max_age_s=max_age_s),
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    assert isinstance(server, _Server)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.5},
        name="telemetry:health-http",
        daemon=True,
    )
    thread.start()
    return HealthServer(server, thread)
