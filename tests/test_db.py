"""psycopg 3 on a real PostgreSQL: spans under the stage, query metrics, slow-query events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

import telemetry
from telemetry.db import describe_query, sanitize_query
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.otlp_files import SPAN_KIND_CLIENT

Start = Callable[..., FilesPipeline]
SECRET_TITLE = "Unpublished-title-7f3a9"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM posts WHERE id = %s", ("SELECT", "posts")),
        ("insert into stage_runs (post_id) values (%s)", ("INSERT", "stage_runs")),
        ("UPDATE public.posts SET status = %s", ("UPDATE", "public.posts")),
        ('/* job */ DELETE FROM "Posts" WHERE id = $1', ("DELETE", "Posts")),
        ("WITH recent AS (SELECT 1) SELECT * FROM recent", ("SELECT", "recent")),
        ("SELECT 1", ("SELECT", "")),
    ],
)
def test_describe_query_finds_operation_and_collection(sql: str, expected: tuple[str, str]) -> None:
    assert describe_query(sql) == expected


def test_sanitize_query_removes_inline_literals_and_keeps_placeholders() -> None:
    assert sanitize_query("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = $1") == (
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = $1"
    )
    assert sanitize_query("SELECT * FROM t2 WHERE a = %s") == "SELECT * FROM t2 WHERE a = %s"


def _schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS posts (id text PRIMARY KEY, title text)")


def test_queries_are_client_spans_under_their_stage_without_parameter_values(
    telemetry_files: Start, pg_url: str
) -> None:
    _schema(pg_url)
    run = telemetry_files()
    with telemetry.stage("draft", post_id="p1"), psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO posts (id, title) VALUES (%s, %s)", ("p1", SECRET_TITLE))
        conn.execute("SELECT title FROM posts WHERE id = %s", ("p1",)).fetchone()
    data_dir = run.finish()
    spans = otlp_files.spans(data_dir)
    stage = next(s for s in spans if s.name == "stage draft")
    queries = [s for s in spans if s.kind == SPAN_KIND_CLIENT]
    assert len(queries) >= 2
    for span in queries:
        assert span.parent_span_id == stage.span_id
        assert span.attributes["post_id"] == "p1" and span.attributes["stage_id"] == "draft"
        assert span.attributes["db.system.name"] == "postgresql"
        assert span.attributes["server.port"] == 5432 and "net.peer.port" not in span.attributes
    texts = {s.attributes["db.query.text"] for s in queries}
    assert "INSERT INTO posts (id, title) VALUES (%s, %s)" in texts
    everything = "".join(p.read_text() for p in data_dir.iterdir())
    assert SECRET_TITLE not in everything


def test_duration_histogram_by_operation_and_collection(
    telemetry_files: Start, pg_url: str
) -> None:
    _schema(pg_url)
    run = telemetry_files()
    with psycopg.connect(pg_url) as conn:
        for n in range(3):
            conn.execute("SELECT title FROM posts WHERE id = %s", (f"p{n}",))
    points = [
        p
        for p in otlp_files.metric_points(run.finish())
        if p.name == "db.client.operation.duration"
    ]
    selects = [p for p in points if p.attributes.get("db.collection.name") == "posts"]
    assert len(selects) == 1, points  # one stream: the contrib's own histogram is replaced
    assert selects[0].attributes["db.operation.name"] == "SELECT"
    assert int(selects[0].point["count"]) == 3


def test_a_query_over_the_threshold_logs_a_slow_query_event(
    telemetry_files: Start, pg_url: str
) -> None:
    run = telemetry_files(slow_query_threshold_s=0.05)
    with telemetry.stage("edit", post_id="p3"), psycopg.connect(pg_url) as conn:
        conn.execute("SELECT pg_sleep(%s)", (0.1,))
        conn.execute("SELECT 1")
    slow = [r for r in otlp_files.log_records(run.finish()) if r.body == "db.slow_query"]
    assert len(slow) == 1
    event = slow[0]
    assert event.attributes["db.query.text"] == "SELECT pg_sleep(%s)"
    assert event.attributes["duration_s"] >= 0.1
    assert event.attributes["post_id"] == "p3"
    assert event.severity_text == "WARN"


def test_pool_and_async_connections_are_instrumented(telemetry_files: Start, pg_url: str) -> None:
    run = telemetry_files()
    with ConnectionPool(pg_url, min_size=1, max_size=2, open=True) as pool:
        with telemetry.stage("research", post_id="pool"), pool.connection() as conn:
            conn.execute("SELECT now() AS from_pool")

    async def use_async() -> None:
        async with AsyncConnectionPool(pg_url, min_size=1, max_size=2, open=False) as apool:
            async with telemetry.stage("research", post_id="async"), apool.connection() as conn:
                await conn.execute("SELECT now() AS from_async")

    asyncio.run(use_async())
    queries = {s.attributes.get("db.query.text"): s for s in otlp_files.spans(run.finish())}
    assert queries["SELECT now() AS from_pool"].attributes["post_id"] == "pool"
    assert queries["SELECT now() AS from_async"].attributes["post_id"] == "async"
