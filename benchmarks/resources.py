"""Cost of one metrics collection with every resource callback, and of one full health check.

Run alone with ``.venv/bin/python -m benchmarks.resources``. A real PostgreSQL
(pgserver, in a temporary folder) backs the instrumented pool and the database
check; the cache check uses Redis when ``REDIS_URL`` is set, else an in-process
cache's own report. Figures are medians over repeated runs; the collection is
timed as a reader sees it (the SDK calling every callback and aggregating).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader


def _median_ms(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up: imports, first connections
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


class _LocalCache:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {"post:1": "draft"}

    def stats(self) -> Mapping[str, Any]:
        return {"entries": len(self.entries)}


def run(repeats: int) -> dict[str, float]:
    """Measure both costs; return name -> median milliseconds."""
    import pgserver
    from psycopg_pool import ConnectionPool

    from telemetry import health, resources

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            with ConnectionPool(server.get_uri(), min_size=2, max_size=4, open=True) as pool:
                pool.wait()

                reader = InMemoryMetricReader()
                provider = MeterProvider(metric_readers=[reader])
                installed = resources.install(meter_provider=provider, paths=[tmp])
                installed.instrument_pool(pool, "blog")
                for hit in (True, False, True):
                    installed.record_cache(hit)
                results["collection, built-in callbacks"] = _median_ms(
                    reader.get_metrics_data, repeats
                )

                installed.set_pending_tasks_callback(lambda: 3)
                installed.add_gauge("app.queue.depth", lambda: 5)
                installed.add_gauge("app.by_stage", lambda: [Observation(1, {"stage_id": "draft"})])
                results["collection, + 3 app callbacks"] = _median_ms(
                    reader.get_metrics_data, repeats
                )
                provider.shutdown()

                checker = health.HealthChecker(log_changes=False)
                checker.register("database", health.database_check(pool))
                redis_url = os.environ.get("REDIS_URL")
                checker.register(
                    "cache",
                    health.redis_check(redis_url)
                    if redis_url
                    else health.cache_check(_LocalCache()),
                )
                checker.register("disk", health.disk_check(tmp))
                checker.register("memory", health.memory_check())
                checker.register("llm", health.llm_check(lambda: {"models": 1}), critical=False)
                results["health check, 5 checks"] = _median_ms(checker.check, repeats)
        finally:
            server.cleanup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    for name, ms in run(args.repeats).items():
        print(f"{name:<36} {ms:8.3f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
