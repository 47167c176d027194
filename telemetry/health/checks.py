"""The built-in health checks: database, cache, LLM provider, disk and memory.

Each function validates its arguments at once (a bad argument is a clear error
at start-up, not a failing check later) and returns a check for
``HealthChecker.register``. A check returns its details, with ``"status"`` when
it can be degraded, and raises when the dependency does not answer.
"""

from __future__ import annotations

import inspect
import json
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from telemetry.health.checker import (
    DEFAULT_TIMEOUT_S,
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    CheckFn,
    Status,
)


def without_password(url: str) -> str:
    """``url`` with any password replaced by ``[REDACTED]`` (``redis://:pw@host`` too)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    netloc = f"{user}:[REDACTED]@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def database_check(
    pool: Any = None, *, url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> CheckFn:
    """``SELECT 1`` through a psycopg_pool pool (with its figures) or a new connection."""
    if (pool is None) == (url is None):
        raise ValueError("database_check() needs exactly one of a pool or a url")
    if pool is not None and inspect.iscoroutinefunction(getattr(pool, "getconn", None)):
        raise TypeError(
            "database_check() runs in a thread: give it a psycopg_pool.ConnectionPool "
            "or a url, not an AsyncConnectionPool"
        )

    def check() -> Mapping[str, Any]:
        import psycopg

        if pool is not None:
            with pool.connection(timeout=timeout_s) as conn:
                query_s = _timed_select_one(conn)
            stats = pool.get_stats()
            size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
            return {
                "query_s": query_s,
                "pool": {
                    "size": size,
                    "idle": idle,
                    "used": max(size - idle, 0),
                    "max": stats.get("pool_max"),
                    "waiting": stats.get("requests_waiting", 0),
                },
            }
        assert url is not None
        with psycopg.connect(url, connect_timeout=max(2, round(timeout_s))) as conn:
            query_s = _timed_select_one(conn)
            return {"query_s": query_s, "server_version": conn.info.server_version}

    return check


def _timed_select_one(conn: Any) -> float:
    started = time.perf_counter()
    conn.execute("SELECT 1").fetchone()
    return round(time.perf_counter() - started, 6)


def cache_check(cache: Any) -> CheckFn:
    """Check a cache: Redis-like clients by ``ping()``, in-process caches by their ``stats()``."""
    if not callable(getattr(cache, "ping", None)) and not callable(getattr(cache, "stats", None)):
        raise TypeError(
            f"cache_check() needs a client with ping() or a cache with stats(), "
            f"got {type(cache).__name__}"
        )

    def check() -> Mapping[str, Any] | None:
        if callable(getattr(cache, "ping", None)):
            if not cache.ping():
                raise ConnectionError("PING was not answered")
            return {"backend": type(cache).__name__}
        report = cache.stats()
        return dict(report) if isinstance(report, Mapping) else None

    return check


def redis_check(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckFn:
    """``PING`` the Redis at ``url`` (needs the ``redis`` extra)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    ping = cache_check(client)

    def check() -> Mapping[str, Any]:
        ping()
        return {"backend": "redis", "server": without_password(url)}

    return check


def llm_check(
    probe: Callable[[], Mapping[str, Any] | bool | None] | None = None,
    *,
    models_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CheckFn:
    """Check the LLM provider with its own ``probe``, or by listing models at ``models_url``.

    ``headers`` (e.g. the API key) are sent but never reported.
    """
    if (probe is None) == (models_url is None):
        raise ValueError("llm_check() needs exactly one of probe or models_url")

    def check() -> Mapping[str, Any] | None:
        if probe is not None:
            outcome = probe()
            if outcome is False:
                raise ConnectionError("the LLM provider probe reported failure")
            return outcome if isinstance(outcome, Mapping) else None
        assert models_url is not None
        request = urllib.request.Request(models_url, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read() or b"{}")
        models = body.get("data") if isinstance(body, Mapping) else None
        return {"models": len(models)} if isinstance(models, list) else {}

    return check


def _threshold_status(used: float, warning: float, critical: float) -> Status:
    if used >= critical:
        return UNHEALTHY
    return DEGRADED if used >= warning else HEALTHY


def _check_thresholds(what: str, warning: float, critical: float) -> None:
    if not 0.0 < warning <= critical <= 1.0:
        raise ValueError(
            f"{what} thresholds must satisfy 0 < warning <= critical <= 1 "
            f"(fractions used), got warning={warning!r}, critical={critical!r}"
        )


def disk_check(
    path: str | os.PathLike[str] = ".", *, warning: float = 0.85, critical: float = 0.95
) -> CheckFn:
    """Used fraction of the filesystem holding ``path`` against warning/critical thresholds."""
    _check_thresholds("disk", warning, critical)
    target = Path(path)

    def check() -> Mapping[str, Any]:
        usage = psutil.disk_usage(str(_existing(target)))
        used = usage.used / (usage.used + usage.free)
        return {
            "status": _threshold_status(used, warning, critical),
            "path": str(target),
            "used_ratio": round(used, 4),
            "free_bytes": usage.free,
            "warning_ratio": warning,
            "critical_ratio": critical,
        }

    return check


def memory_check(*, warning: float = 0.9, critical: float = 0.97) -> CheckFn:
    """Used fraction of system memory against warning/critical thresholds."""
    _check_thresholds("memory", warning, critical)

    def check() -> Mapping[str, Any]:
        vm = psutil.virtual_memory()
        used = (vm.total - vm.available) / vm.total
        return {
            "status": _threshold_status(used, warning, critical),
            "used_ratio": round(used, 4),
            "available_bytes": vm.available,
            "warning_ratio": warning,
            "critical_ratio": critical,
        }

    return check


def _existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
