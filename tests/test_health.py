"""Health checks against the real dependencies, stopped and started under them.

Every check here talks to something real: a private PostgreSQL (``fresh_pg``)
and Redis (``redis_server``) that the test stops and restarts, the machine's
own disk and memory with thresholds set around their current values, and the
HTTP endpoint over a socket.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import psutil
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from psycopg_pool import AsyncConnectionPool, ConnectionPool

import telemetry
from telemetry import health
from telemetry.cli import main as cli_main
from telemetry.health import HealthChecker
from telemetry.health.http import serve, wsgi_app
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.redis import RedisServer
from tests.support import otlp_files
from tests.support.waiting import wait_for


class Gauges:
    """The ``blog.health.*`` gauges as a backend would read them."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def read(self, name: str) -> dict[str, float]:
        """check name -> last value of gauge ``name``."""
        data = self.reader.get_metrics_data()
        values: dict[str, float] = {}
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            check = str((point.attributes or {})["blog.health.check"])
                            values[check] = point.value
        return values


@pytest.fixture
def gauges() -> Iterator[Gauges]:
    gauges = Gauges()
    yield gauges
    gauges.provider.shutdown()


@pytest.fixture
def checker(gauges: Gauges) -> HealthChecker:
    return HealthChecker(meter_provider=gauges.provider, log_changes=False)


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_database_check_follows_a_real_server_down_and_up(
    checker: HealthChecker, gauges: Gauges, fresh_pg: Callable[[], PostgresServer]
) -> None:
    server = fresh_pg()
    timeout_s = 2.0
    with ConnectionPool(server.uri, min_size=1, max_size=3, open=True) as pool:
        pool.wait()
        checker.register(
            "database", health.database_check(pool, timeout_s=1.0), timeout_s=timeout_s
        )

        report = checker.check()
        database = report["checks"]["database"]
        assert report["status"] == database["status"] == "healthy"
        assert 0 < database["query_s"] <= database["latency_s"] < timeout_s
        stats = pool.get_stats()
        assert database["pool"] == {
            "size": stats["pool_size"],
            "idle": stats["pool_available"],
            "used": stats["pool_size"] - stats["pool_available"],
            "max": 3,
            "waiting": 0,
        }
        assert gauges.read("blog.health.status") == {"database": 1.0}
        assert 0 < gauges.read("blog.health.check.duration")["database"] < timeout_s

        server.stop()
        started = time.monotonic()
        report = checker.check()
        assert time.monotonic() - started < timeout_s + 1.0
        assert report["status"] == report["checks"]["database"]["status"] == "unhealthy"
        assert report["checks"]["database"]["error"]
        assert gauges.read("blog.health.status") == {"database": 0.0}

        server.start()
        wait_for(
            lambda: checker.check()["status"] == "healthy",
            timeout=30,
            message="the database check to recover after the restart",
        )
        assert gauges.read("blog.health.status") == {"database": 1.0}


def test_database_check_by_url_reports_the_server_version(
    checker: HealthChecker, pg_url: str
) -> None:
    checker.register("database", health.database_check(url=pg_url))
    database = checker.check()["checks"]["database"]
    assert database["status"] == "healthy"
    assert database["server_version"] >= 160000


def test_redis_check_fails_when_redis_stops(
    checker: HealthChecker, redis_server: RedisServer
) -> None:
    checker.register("cache", health.redis_check(redis_server.url, timeout_s=1.0))
    assert checker.check()["checks"]["cache"]["status"] == "healthy"

    redis_server.stop()
    cache = checker.check()["checks"]["cache"]
    assert cache["status"] == "unhealthy"
    assert "ConnectionError" in cache["error"]

    redis_server.start()
    assert checker.check()["checks"]["cache"]["status"] == "healthy"


def test_an_in_process_cache_reports_its_own_figures(checker: HealthChecker) -> None:
    class LocalCache:
        def __init__(self) -> None:
            self.entries = {"post:1": "draft"}

        def stats(self) -> Mapping[str, Any]:
            return {"entries": len(self.entries), "max_entries": 1024}

    checker.register("cache", health.cache_check(LocalCache()))
    cache = checker.check()["checks"]["cache"]
    assert (cache["status"], cache["entries"], cache["max_entries"]) == ("healthy", 1, 1024)


def test_passwords_never_appear_in_the_report(
    checker: HealthChecker, redis_server: RedisServer, pg_server: PostgresServer
) -> None:
    secret = "s3cret-pw-123"
    # this Redis has no password: redis-py's AUTH is accepted, and the URL is shown redacted
    with_password = redis_server.url.replace("redis://", f"redis://:{secret}@")
    checker.register("cache", health.redis_check(with_password, timeout_s=1.0))
    bad_pg = pg_server.uri.replace("postgresql://postgres:@", f"postgresql://nobody:{secret}@", 1)
    checker.register("database", health.database_check(url=bad_pg))
    with serve(checker) as server:
        status, body = _get(server.url)
    assert status == 503
    assert secret not in json.dumps(body)
    assert body["checks"]["cache"]["server"].startswith("redis://:[REDACTED]@127.0.0.1:")
    assert 'role "nobody" does not exist' in body["checks"]["database"]["error"]


def test_hanging_and_raising_checks_fail_within_their_timeout(checker: HealthChecker) -> None:
    release = threading.Event()

    def hangs() -> None:
        release.wait()

    def raises() -> None:
        raise RuntimeError("the LLM provider said no")

    checker.register("llm", hangs, timeout_s=0.5)
    checker.register("search", raises, critical=False)
    checker.register("ok", lambda: {"answer": 42})
    try:
        started = time.monotonic()
        report = checker.check()
        elapsed = time.monotonic() - started
        assert elapsed < 0.5 + 1.0
        assert report["status"] == "unhealthy"
        assert report["checks"]["llm"]["status"] == "unhealthy"
        assert report["checks"]["llm"]["error"] == "TimeoutError: did not return within 0.5s"
        assert report["checks"]["search"] == {
            "status": "unhealthy",
            "critical": False,
            "latency_s": report["checks"]["search"]["latency_s"],
            "error": "RuntimeError: the LLM provider said no",
        }
        assert report["checks"]["ok"]["answer"] == 42

        # the hung check is still running: the next report does not wait for it again
        started = time.monotonic()
        report = checker.check()
        assert time.monotonic() - started < 0.5
        assert "still running" in report["checks"]["llm"]["error"]

        with serve(checker) as server:
            status, body = _get(server.url)
            assert status == 503
            assert body["status"] == "unhealthy"
            assert set(body["checks"]) == {"llm", "search", "ok"}
            assert _get(server.url + "/ready") == (503, {"status": "unhealthy"})
            assert _get(server.url + "/live") == (200, {"status": "alive"})
    finally:
        release.set()
    report = wait_for(lambda: (r := checker.check())["checks"]["llm"]["status"] == "healthy" and r)
    assert report["status"] == "degraded"  # only the non-critical check still fails


def test_degraded_is_still_served_with_200(checker: HealthChecker) -> None:
    checker.register("search", lambda: {"status": "degraded", "lag_s": 12})
    with serve(checker) as server:
        status, body = _get(server.url)
    assert (status, body["status"], body["checks"]["search"]["lag_s"]) == (200, "degraded", 12)


def _around(current: float) -> dict[str, dict[str, float]]:
    """Thresholds putting ``current`` (a used fraction) in each state."""
    low, high = max(current - 0.02, 0.001), min(current + 0.02, 1.0)
    return {
        "healthy": {"warning": high, "critical": high},
        "degraded": {"warning": low, "critical": high},
        "unhealthy": {"warning": low, "critical": low},
    }


def test_disk_thresholds_around_the_current_value_drive_each_state(
    checker: HealthChecker, tmp_path: Path
) -> None:
    usage = psutil.disk_usage(str(tmp_path))
    for expected, thresholds in _around(usage.used / (usage.used + usage.free)).items():
        checker.register("disk", health.disk_check(tmp_path, **thresholds))
        disk = checker.check()["checks"]["disk"]
        assert disk["status"] == expected, (thresholds, disk)
        assert disk["free_bytes"] == pytest.approx(usage.free, rel=0.05)


def test_memory_thresholds_around_the_current_value_drive_each_state(
    checker: HealthChecker,
) -> None:
    memory = psutil.virtual_memory()
    for expected, thresholds in _around(1 - memory.available / memory.total).items():
        checker.register("memory", health.memory_check(**thresholds))
        assert checker.check()["checks"]["memory"]["status"] == expected, thresholds


def test_bad_checks_and_arguments_are_refused_or_reported(checker: HealthChecker) -> None:
    with pytest.raises(TypeError, match="expected a callable"):
        checker.register("x", "SELECT 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        checker.register("", lambda: None)
    with pytest.raises(ValueError, match="positive"):
        checker.register("x", lambda: None, timeout_s=0)
    with pytest.raises(ValueError, match="warning <= critical"):
        health.disk_check(".", warning=0.9, critical=0.8)
    with pytest.raises(ValueError, match="exactly one"):
        health.database_check()
    with pytest.raises(TypeError, match="not an AsyncConnectionPool"):
        health.database_check(AsyncConnectionPool("postgresql://unused", open=False))
    with pytest.raises(TypeError, match=r"ping\(\) or a cache with stats\(\)"):
        health.cache_check(object())

    checker.register("returns_text", lambda: "fine")  # type: ignore[arg-type,return-value]
    checker.register("bad_status", lambda: {"status": "green"})
    checks = checker.check()["checks"]
    assert "return a mapping or None" in checks["returns_text"]["error"]
    assert "use healthy, degraded or unhealthy" in checks["bad_status"]["error"]


def test_the_wsgi_app_mounts_in_any_server(checker: HealthChecker) -> None:
    checker.register("ok", lambda: None)
    app = wsgi_app(checker)

    def call(path: str, method: str = "GET") -> tuple[str, bytes]:
        environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
        setup_testing_defaults(environ)
        seen: list[str] = []
        body = b"".join(app(environ, lambda status, headers: seen.append(status)))
        return seen[0], body

    status, body = call("/health")
    assert status == "200 OK" and json.loads(body)["checks"]["ok"]["status"] == "healthy"
    assert call("/health", "HEAD") == ("200 OK", b"")
    assert call("/health", "POST")[0] == "405 Method Not Allowed"
    assert call("/metrics")[0] == "404 Not Found"


def test_state_changes_are_logged_once_each(tmp_path: Path) -> None:
    handle = telemetry.setup(data_dir=tmp_path)
    try:
        up = threading.Event()
        up.set()

        def flaky() -> None:
            if not up.is_set():
                raise ConnectionError("provider unreachable")

        checker = HealthChecker()
        checker.register("llm", flaky)
        for state in (True, True, False, False, False, True, True):
            (up.set if state else up.clear)()
            checker.check()
        handle.flush()
    finally:
        handle.shutdown()
    changes = [r for r in otlp_files.log_records(tmp_path) if r.body == "health.check.changed"]
    assert [
        (r.attributes["blog.health.status"], r.attributes["blog.health.previous_status"])
        for r in changes
    ] == [("unhealthy", "healthy"), ("healthy", "unhealthy")]
    assert changes[0].severity_text.lower().startswith("warn")
    assert "provider unreachable" in changes[0].attributes["error.message"]


def test_cli_exit_codes_follow_the_verdict(
    pg_url: str, redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "health",
        "--database-url",
        pg_url,
        "--redis-url",
        redis_server.url,
        "--disk",
        str(tmp_path),
        "--timeout",
        "2",
    ]
    assert cli_main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["checks"]) == {"database", "cache", "disk", "memory"}

    usage = psutil.disk_usage(str(tmp_path))
    below = f"{max(usage.used / (usage.used + usage.free) - 0.02, 0.001):.4f}"
    assert cli_main([*args, "--disk-warning", below]) == 1
    table = capsys.readouterr().out
    assert "degraded" in table and "database" in table

    redis_server.stop()
    assert cli_main([*args, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["checks"]["cache"]["status"] == "unhealthy"
