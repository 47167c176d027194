"""``python -m examples.blog``: run the blog workflow, instrumented by one ``setup()``.

Telemetry reads its own settings (``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_PROTOCOL``, ``TELEMETRY_*``); the blog reads
``DATABASE_URL`` (default: an embedded PostgreSQL), ``REDIS_URL`` (default: an
in-process cache) and ``BLOG_LLM_BASE_URL`` (default: the local generator).

Exit status: 0 when the run completes, failed posts included (failures are part
of the demo); 2 for a configuration the run cannot use or a dependency it
cannot reach, with a one-line reason on stderr; 1 for anything else (a crash).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import telemetry
from examples.blog import report
from examples.blog.app import WorkflowConfig, run_workflow
from examples.blog.cache import Cache, open_cache
from examples.blog.database import Database, DatabaseUnavailable
from examples.blog.llm import LLMClient, OpenAICompatibleClient, client_from_env
from telemetry import health

T = TypeVar("T")

EXIT_OK, EXIT_CRASH, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


class SetupProblem(Exception):
    """The run cannot start: bad configuration or an unreachable dependency."""


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 for any free port), got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.blog",
        description="Take N blog posts through research, outline, draft, edit and publish, "
        "with every query, stage, LLM call and log event recorded by blog-telemetry.",
    )
    parser.add_argument("--posts", type=_positive, default=8, help="posts to write (default 8)")
    parser.add_argument(
        "--concurrency", type=_positive, default=4, help="posts in progress at once (default 4)"
    )
    parser.add_argument(
        "--mode",
        choices=("threads", "asyncio"),
        default="threads",
        help="run posts on a thread pool or as asyncio tasks (default threads)",
    )
    parser.add_argument(
        "--failure-rate",
        type=_fraction,
        default=0.1,
        help="probability that a local LLM call fails (default 0.1)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive,
        default=3,
        help="attempts per stage before the post fails (default 3)",
    )
    parser.add_argument(
        "--slow-query-rate",
        type=_fraction,
        default=0.1,
        help="fraction of posts whose related-posts query is slower than the "
        "slow-query threshold (default 0.1)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed for topics, LLM output and failures (default 7)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where telemetry files go (default TELEMETRY_DATA_DIR or ./telemetry-data)",
    )
    parser.add_argument(
        "--console",
        action="store_true",
        default=None,
        help="also print spans and log records to the terminal",
    )
    parser.add_argument(
        "--health-port",
        type=_port,
        default=0,
        help="port of the /health endpoint on 127.0.0.1 (default: a free one)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        handle = telemetry.setup(data_dir=args.data_dir, console=args.console)
    except (telemetry.ConfigError, telemetry.DataDirError) as exc:
        print(f"blog: telemetry cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        summary = run(args, handle)
        # printed once the database and the rest are stopped: the last line comes
        # just before telemetry's own (bounded) shutdown
        report.print_summary(summary, handle, sys.stdout)
        return EXIT_OK
    except SetupProblem as exc:
        print(f"blog: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("blog: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        handle.shutdown()


def run(args: argparse.Namespace, handle: telemetry.Telemetry) -> report.RunSummary:
    """Start the dependencies, process the posts, check health; stop the dependencies."""
    config = WorkflowConfig(
        posts=args.posts,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        slow_query_rate=args.slow_query_rate,
        slow_query_s=handle.settings.slow_query_threshold_s + 0.1,
        seed=args.seed,
    )
    with contextlib.ExitStack() as stack:
        llm = _start(
            "the LLM client",
            lambda: client_from_env(os.environ, seed=args.seed, failure_rate=args.failure_rate),
        )
        redis_url = os.environ.get("REDIS_URL") or None
        cache = _start("the cache", lambda: open_cache(redis_url))
        stack.callback(cache.close)
        db = _start(
            "the database",
            lambda: stack.enter_context(
                Database(os.environ.get("DATABASE_URL") or None, pool_size=config.concurrency)
            ),
        )
        _register_health_checks(db, cache, redis_url, llm)
        server = _start("the health endpoint", lambda: health.serve(port=args.health_port))
        stack.callback(server.close)

        out = sys.stdout
        failures = f" (failure rate {args.failure_rate:g})" if llm.provider == "local" else ""
        out.write(
            f"blog: {config.posts} posts, {args.mode} x{config.concurrency}, "
            f"LLM {llm.provider}/{llm.model}{failures}, {cache.describe()}\n"
            f"      database {db.describe()}\n"
            f"      health   {server.url}\n\n"
        )
        out.flush()
        started = time.perf_counter()
        results = run_workflow(
            args.mode, config, db, cache, llm, lambda result: report.print_post(result, out)
        )
        elapsed = time.perf_counter() - started
        return report.RunSummary(
            results=results,
            outcomes=db.store().outcomes([r.post_id for r in results]),
            elapsed_s=elapsed,
            health=health.check(),
        )


def _register_health_checks(
    db: Database, cache: Cache, redis_url: str | None, llm: LLMClient
) -> None:
    """The blog's dependencies join the built-in disk and memory checks; the LLM is not
    critical (posts wait and retry), the database and the cache are."""
    health.register("database", health.database_check(db.pool))
    health.register(
        "cache", health.redis_check(redis_url) if redis_url else health.cache_check(cache)
    )
    if isinstance(llm, OpenAICompatibleClient):
        llm_check = health.llm_check(models_url=llm.models_url(), headers=llm.auth_headers())
    else:
        llm_check = health.llm_check(llm.probe)
    health.register("llm", llm_check, critical=False)


def _start(what: str, start: Callable[[], T]) -> T:
    """Run ``start``; a dependency that cannot start becomes a :class:`SetupProblem`."""
    try:
        return start()
    except (DatabaseUnavailable, ConnectionError, OSError, ValueError) as exc:
        raise SetupProblem(f"cannot start {what}: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
