"""Resource metrics, read the way a backend sees them: collected through real readers.

Each test installs the instruments on its own MeterProvider; figures are
compared with what psutil, a real PostgreSQL pool and a real Redis say at the
same moment, never with fixed numbers.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

import telemetry
from telemetry import _diagnostics, resources
from telemetry.config import ConfigError
from telemetry.export.prometheus import PrometheusEndpointReader
from tests.fixtures.collector import RotelCollector, free_port
from tests.fixtures.redis import RedisServer
from tests.support import otlp_files
from tests.support.runs import clean_env, python, run_timed

Points = dict[str, list[tuple[dict[str, Any], Any]]]


@dataclass
class Metrics:
    """A MeterProvider with an in-memory reader, as a backend would collect from it."""

    provider: MeterProvider
    reader: InMemoryMetricReader

    def collect(self) -> Points:
        """One collection: metric name -> [(attributes, value)]."""
        points: Points = {}
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points[metric.name] = [
                        (dict(point.attributes or {}), getattr(point, "value", None))
                        for point in metric.data.data_points
                    ]
        return points


def value(points: Points, name: str, **attributes: Any) -> Any:
    """The value of the one point of ``name`` whose attributes include ``attributes``."""
    matching = [v for attrs, v in points.get(name, []) if attributes.items() <= attrs.items()]
    assert len(matching) == 1, f"{name} {attributes}: {points.get(name)}"
    return matching[0]


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield Metrics(provider, reader)
    provider.shutdown()


@pytest.fixture
def installed(metrics: Metrics, tmp_path: Path) -> resources.ResourceMetrics:
    return resources.install(meter_provider=metrics.provider, paths=[tmp_path])


@pytest.fixture
def diagnostics() -> Iterator[list[str]]:
    """The package's diagnostic messages written during the test."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(_diagnostics.LOGGER_NAME)
    _diagnostics.reset()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    _diagnostics.reset()


def _burn_cpu(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_system_and_process_figures_are_real_from_the_first_collection(
    metrics: Metrics, installed: resources.ResourceMetrics, tmp_path: Path
) -> None:
    _burn_cpu(0.3)
    points = metrics.collect()

    # CPU: busy since install, so neither figure is psutil's meaningless first 0.0
    assert 0.0 < value(points, "process.cpu.utilization") <= 1.0
    assert 0.0 < value(points, "system.cpu.utilization") <= 1.0

    memory = psutil.virtual_memory()
    used = value(points, "system.memory.usage", **{"system.memory.state": "used"})
    free = value(points, "system.memory.usage", **{"system.memory.state": "free"})
    assert used + free == memory.total
    utilization = value(points, "system.memory.utilization", **{"system.memory.state": "used"})
    assert utilization == pytest.approx(used / memory.total, abs=0.01)  # read moments apart

    disk = psutil.disk_usage(str(tmp_path))
    fs_used = value(points, "system.filesystem.usage", **{"system.filesystem.state": "used"})
    fs_free = value(points, "system.filesystem.usage", **{"system.filesystem.state": "free"})
    assert fs_used + fs_free == pytest.approx(disk.used + disk.free, rel=0.01)
    assert value(points, "system.filesystem.utilization") == pytest.approx(
        disk.used / (disk.used + disk.free), abs=0.01
    )
    [(fs_attributes, _)] = points["system.filesystem.utilization"]
    assert Path(tmp_path).resolve().is_relative_to(fs_attributes["system.filesystem.mountpoint"])

    process = psutil.Process()
    rss = value(points, "process.memory.usage")
    assert 0.5 * process.memory_info().rss < rss < 2 * process.memory_info().rss
    assert value(points, "process.thread.count") >= threading.active_count()
    assert value(points, "process.unix.file_descriptor.count") >= 3  # stdin, stdout, stderr


def test_paths_on_one_filesystem_report_it_once(
    metrics: Metrics, installed: resources.ResourceMetrics, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    installed.add_paths([tmp_path / "a", tmp_path / "not-created-yet" / "b"])
    points = metrics.collect()
    assert len(points["system.filesystem.utilization"]) == 1


def test_pool_connections_by_state_and_pending_requests(
    metrics: Metrics, installed: resources.ResourceMetrics, pg_url: str
) -> None:
    with ConnectionPool(pg_url, min_size=2, max_size=3, name="blog", open=True) as pool:
        pool.wait()
        installed.instrument_pool(pool)
        with pool.connection(), pool.connection():
            points = metrics.collect()
            state = {"db.client.connection.pool.name": "blog"}
            assert (
                value(
                    points,
                    "db.client.connection.count",
                    **state,
                    **{"db.client.connection.state": "used"},
                )
                == 2
            )
            assert (
                value(
                    points,
                    "db.client.connection.count",
                    **state,
                    **{"db.client.connection.state": "idle"},
                )
                == (pool.get_stats()["pool_available"])
            )
            assert value(points, "db.client.connection.max", **state) == 3
            assert value(points, "db.client.connection.idle.min", **state) == 2

            with pool.connection():  # the pool is now exhausted: the next request waits
                waiter = threading.Thread(target=_borrow_briefly, args=(pool,))
                waiter.start()
                _wait_until(lambda: pool.get_stats().get("requests_waiting", 0) == 1)
                points = metrics.collect()
                assert value(points, "db.client.connection.pending_requests", **state) == 1
        waiter.join(timeout=10)
        points = metrics.collect()
        assert value(points, "db.client.connection.pending_requests", **state) == 0


def _borrow_briefly(pool: ConnectionPool) -> None:
    with pool.connection(timeout=10):
        pass


def _wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class CountingCache:
    """A read-through cache over real Redis, as the blog's would be, reporting each lookup."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, key: str) -> bytes | None:
        found: bytes | None = self.client.get(key)
        resources.record_cache(hit=found is not None)
        return found


def test_cache_hits_and_misses_match_the_redis_operations(
    metrics: Metrics, installed: resources.ResourceMetrics, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.mset({"post:1": b"draft", "post:2": b"outline"})
    cache = CountingCache(client)
    lookups = ["post:1", "post:2", "post:3", "post:1", "post:4", "post:2", "post:1"]
    results = [cache.get(key) for key in lookups]
    hits = sum(found is not None for found in results)
    misses = len(lookups) - hits

    points = metrics.collect()
    assert value(points, "blog.cache.requests", **{"blog.cache.result": "hit"}) == hits
    assert value(points, "blog.cache.requests", **{"blog.cache.result": "miss"}) == misses
    assert value(points, "blog.cache.hit_ratio") == pytest.approx(hits / len(lookups))
    info = client.info("stats")
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (hits, misses)


def test_pending_tasks_come_from_the_application_callback(
    metrics: Metrics, installed: resources.ResourceMetrics
) -> None:
    queue = ["post-1/draft", "post-2/edit"]
    installed.set_pending_tasks_callback(lambda: len(queue))
    assert value(metrics.collect(), "blog.workflow.pending_tasks") == 2
    queue.pop()
    assert value(metrics.collect(), "blog.workflow.pending_tasks") == 1


def test_a_raising_or_hanging_gauge_costs_only_itself(
    metrics: Metrics, diagnostics: list[str]
) -> None:
    budget = 0.3
    installed = resources.install(meter_provider=metrics.provider, callback_timeout_s=budget)
    release = threading.Event()
    installed.add_gauge("app.queue.depth", lambda: 7, unit="{item}")
    installed.add_gauge("app.hangs", lambda: release.wait())
    installed.add_gauge("app.raises", lambda: 1 / 0)
    installed.add_gauge(
        "app.by_stage",
        lambda: [Observation(3, {"stage_id": "draft"}), Observation(1, {"stage_id": "edit"})],
    )
    try:
        started = time.monotonic()
        points = metrics.collect()
        first = time.monotonic() - started
        assert first < budget + 1.0
        assert value(points, "app.queue.depth") == 7
        assert value(points, "app.by_stage", stage_id="draft") == 3
        assert "app.hangs" not in points and "app.raises" not in points
        assert "system.memory.usage" in points
        assert any("app.hangs" in m and "did not return" in m for m in diagnostics)
        assert any("app.raises" in m and "ZeroDivisionError" in m for m in diagnostics)

        # still hung: skipped at once, and not reported again within the interval
        started = time.monotonic()
        points = metrics.collect()
        assert time.monotonic() - started < budget
        assert value(points, "app.queue.depth") == 7
        assert sum("app.hangs" in m for m in diagnostics) == 1
    finally:
        release.set()


def test_a_gauge_returning_the_wrong_type_is_reported(
    metrics: Metrics, installed: resources.ResourceMetrics, diagnostics: list[str]
) -> None:
    installed.add_gauge("app.wrong", lambda: "three")  # type: ignore[arg-type, return-value]
    assert "app.wrong" not in metrics.collect()
    assert any("app.wrong" in m and "returned str" in m for m in diagnostics)


def test_bad_gauge_registrations_are_refused_with_a_reason(
    installed: resources.ResourceMetrics,
) -> None:
    with pytest.raises(ValueError, match="not a valid instrument name"):
        installed.add_gauge("9 lives", lambda: 1)
    with pytest.raises(TypeError, match="must be callable"):
        installed.add_gauge("app.x", 5)  # type: ignore[arg-type]
    installed.add_gauge("app.once", lambda: 1)
    with pytest.raises(ValueError, match="already added"):
        installed.add_gauge("app.once", lambda: 2)
    with pytest.raises(TypeError, match="psycopg_pool pool"):
        installed.instrument_pool(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="callback_timeout_s"):
        resources.install(meter_provider=MeterProvider(), callback_timeout_s=0)


def test_installing_twice_on_one_provider_keeps_one_set_of_instruments(
    metrics: Metrics, tmp_path: Path
) -> None:
    first = resources.install(meter_provider=metrics.provider, paths=[tmp_path])
    assert resources.install(meter_provider=metrics.provider) is first
    resources.record_cache(hit=True)  # the module-level API talks to the installed instance
    points = metrics.collect()
    assert value(points, "blog.cache.requests", **{"blog.cache.result": "hit"}) == 1
    assert len(points["system.memory.usage"]) == 2  # used and free, not twice each


def test_gauges_reach_a_real_collector_over_otlp(rotel: RotelCollector, tmp_path: Path) -> None:
    exporter = OTLPMetricExporter(endpoint=rotel.grpc_endpoint, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader])
    try:
        resources.install(meter_provider=provider, paths=[tmp_path])
        resources.record_cache(hit=False)
        _burn_cpu(0.1)
        provider.force_flush()
        names = {
            "system.cpu.utilization",
            "system.memory.usage",
            "system.filesystem.usage",
            "process.memory.usage",
            "process.cpu.utilization",
            "blog.cache.requests",
        }
        received = rotel.wait_for(lambda r: names <= r.metric_names())
    finally:
        provider.shutdown()
    by_name = {point.name: point for point in received.metrics}
    assert 0.0 < by_name["process.cpu.utilization"].value <= 1.0
    assert by_name["process.memory.usage"].value > 0
    assert by_name["blog.cache.requests"].attributes == {"blog.cache.result": "miss"}


def test_prometheus_endpoint_serves_the_exposition_format(tmp_path: Path) -> None:
    reader = PrometheusEndpointReader(0, host="127.0.0.1", registry=CollectorRegistry())
    provider = MeterProvider(metric_readers=[reader])
    try:
        resources.install(meter_provider=provider, paths=[tmp_path])
        resources.record_cache(hit=True)
        with urllib.request.urlopen(reader.url, timeout=10) as response:
            content_type = response.headers["Content-Type"]
            text = response.read().decode()
    finally:
        provider.shutdown()
    assert content_type.startswith("text/plain")
    assert "# TYPE system_memory_usage_bytes gauge" in text
    assert re.search(r'^blog_cache_requests_total\{blog_cache_result="hit",.*\} 1\.0$', text, re.M)
    rss = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("process_memory_usage_bytes")
    )
    assert rss > 0
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run `make system-deps`"
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    # exit 1 is a format error; 3 is naming advice (semconv's *.count names end in _count)
    assert lint.returncode in (0, 3), lint.stdout + lint.stderr

    with pytest.raises(urllib.error.URLError):  # shutting the provider down closed the port
        urllib.request.urlopen(reader.url, timeout=2)


def test_a_taken_prometheus_port_is_a_clear_configuration_error() -> None:
    first = PrometheusEndpointReader(0, host="127.0.0.1", registry=CollectorRegistry())
    try:
        with pytest.raises(ConfigError, match=f"127.0.0.1:{first.port}.*prometheus_port"):
            PrometheusEndpointReader(first.port, host="127.0.0.1", registry=CollectorRegistry())
    finally:
        first.shutdown()
    with pytest.raises(ConfigError, match="0 to 65535"):
        PrometheusEndpointReader(70000)


def test_setup_reports_the_gauges_in_metrics_jsonl_and_on_prometheus(tmp_path: Path) -> None:
    port = free_port()
    handle = telemetry.setup(data_dir=tmp_path, prometheus_port=port, prometheus_host="127.0.0.1")
    try:
        resources.record_cache(hit=False)
        _burn_cpu(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            scraped = response.read().decode()
        handle.flush()
    finally:
        handle.shutdown()
    assert "system_cpu_utilization" in scraped
    points = otlp_files.metric_points(tmp_path)
    first_export = {}
    for point in points:
        first_export.setdefault((point.name, tuple(sorted(point.attributes.items()))), point)
    names = {name for name, _ in first_export}
    assert {
        "system.cpu.utilization",
        "system.memory.utilization",
        "system.filesystem.usage",
        "process.cpu.utilization",
        "process.thread.count",
        "blog.cache.requests",
    } <= names
    filesystem = next(point for point in points if point.name == "system.filesystem.utilization")
    assert tmp_path.resolve().is_relative_to(filesystem.attributes["system.filesystem.mountpoint"])
    assert 0.0 < filesystem.point["asDouble"] < 1.0
    assert first_export[("process.thread.count", ())].resource["service.name"] == "blog"


_COUNTS_BEFORE_AND_AFTER_SETUP = """
import sys, telemetry
from telemetry import resources
resources.record_cache(hit=True)   # an import-time cache, before setup()
handle = telemetry.setup(data_dir=sys.argv[1])
resources.record_cache(hit=False)
handle.shutdown()
"""


def test_cache_counts_made_before_setup_reach_the_files_once(tmp_path: Path) -> None:
    # a fresh interpreter: before setup() the global MeterProvider is the API's proxy
    run = run_timed([python(), "-c", _COUNTS_BEFORE_AND_AFTER_SETUP, str(tmp_path)], clean_env())
    assert run.returncode == 0, run.describe()
    cache = {
        point.attributes["blog.cache.result"]: int(point.point["asInt"])
        for point in otlp_files.metric_points(tmp_path)
        if point.name == "blog.cache.requests"
    }
    assert cache == {"hit": 1, "miss": 1}


def test_a_forked_child_reports_itself_not_its_parent(
    metrics: Metrics, installed: resources.ResourceMetrics
) -> None:
    stop = threading.Event()
    helpers = [threading.Thread(target=stop.wait) for _ in range(10)]  # not inherited by a fork
    for helper in helpers:
        helper.start()
    try:
        parent_threads = value(metrics.collect(), "process.thread.count")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what it sees, then leave without cleanup
            try:
                reported = value(metrics.collect(), "process.thread.count")
                os.write(write_end, f"{reported} {psutil.Process().num_threads()}".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        reported, actual = map(int, os.read(read_end, 64).split())
        os.close(read_end)
        os.waitpid(pid, 0)
    finally:
        stop.set()
        for helper in helpers:
            helper.join()
    # the parent's helpers are not counted (libraries such as gRPC may start or end a
    # thread of their own in the child meanwhile, so the two readings may differ by that)
    assert 1 <= reported < parent_threads - len(helpers) // 2
    assert abs(reported - actual) <= 2
