"""Health checks for the blog and their HTTP endpoint.

The process-wide checker starts with ``memory`` and ``disk`` checks; the
application adds its dependencies::

    from telemetry import health

    health.register("database", health.database_check(pool))
    health.register("cache", health.cache_check(redis_client))
    health.register("llm", health.llm_check(probe), critical=False)
    server = health.serve(port=8081)   # /health, /health/ready, /health/live
    report = health.check()            # {"status", "checks", "timestamp"}

``telemetry health`` on the command line checks what ``DATABASE_URL``,
``REDIS_URL`` and its arguments name.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from telemetry.health.checker import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    CheckFn,
    HealthChecker,
    Status,
)
from telemetry.health.checks import (
    cache_check,
    database_check,
    disk_check,
    llm_check,
    memory_check,
    redis_check,
    without_password,
)
from telemetry.health.cli import add_parser
from telemetry.health.http import HealthServer, WSGIApp
from telemetry.health.http import serve as _serve
from telemetry.health.http import wsgi_app as _wsgi_app

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from telemetry.config import Settings

__all__ = [
    "DEGRADED",
    "HEALTHY",
    "UNHEALTHY",
    "CheckFn",
    "HealthChecker",
    "HealthServer",
    "Status",
    "add_parser",
    "cache_check",
    "check",
    "checker",
    "database_check",
    "disk_check",
    "install",
    "llm_check",
    "memory_check",
    "redis_check",
    "register",
    "serve",
    "unregister",
    "without_password",
    "wsgi_app",
]

_lock = threading.Lock()
_checker: HealthChecker | None = None


def checker() -> HealthChecker:
    """The process-wide checker (created with ``memory`` and ``disk`` checks on first use)."""
    global _checker
    with _lock:
        if _checker is None:
            _checker = HealthChecker()
            _checker.register("memory", memory_check())
            _checker.register("disk", disk_check("."))
        return _checker


def install(settings: Settings, *, meter_provider: MeterProvider | None = None) -> HealthChecker:
    """Report to ``meter_provider`` and check the data directory's disk; ``setup()`` calls this."""
    health = checker()
    if meter_provider is not None:
        health.use_meter_provider(meter_provider)
    health.register("disk", disk_check(settings.data_dir))
    return health


def register(
    name: str, check: CheckFn, *, critical: bool = True, timeout_s: float | None = None
) -> None:
    """Add (or replace) a check on the process-wide checker."""
    checker().register(name, check, critical=critical, timeout_s=timeout_s)


def unregister(name: str) -> None:
    """Remove a check from the process-wide checker."""
    checker().unregister(name)


def check() -> dict[str, Any]:
    """Run every check now and return the report (never raises)."""
    return checker().check()


def serve(host: str = "127.0.0.1", port: int = 0, *, max_age_s: float = 1.0) -> HealthServer:
    """Serve ``/health`` on ``host:port`` (0: a free port) in a daemon thread."""
    return _serve(checker(), host=host, port=port, max_age_s=max_age_s)


def wsgi_app(*, max_age_s: float = 1.0) -> WSGIApp:
    """The health endpoint as a WSGI app, to mount in the application's own server."""
    return _wsgi_app(checker(), max_age_s=max_age_s)
