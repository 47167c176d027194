"""End to end with a real PostgreSQL: psycopg spans inside stages, and no parameter leaks.

Each test sets the package up in-process with files only, runs real SQL
through psycopg 3 (sync, async and a psycopg_pool pool) inside
``telemetry.stage()``, shuts down, and reads what landed in the data directory.
"""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import psycopg_pool
import pytest

import telemetry
from tests.fixtures.postgres import database_name
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.otlp_files import SPAN_KIND_CLIENT, FileSpan


@pytest.fixture
def files_only(telemetry_files: Callable[..., FilesPipeline]) -> Callable[[], Path]:
    """Files only; every query is also a slow-query event; call it to flush and read."""
    return telemetry_files(slow_query_threshold_s=0.0).finish


def _secret() -> str:
    """A parameter value that must never leave the process."""
    return f"secret-param-{uuid.uuid4().hex}"


def _run_sync(pg_url: str, secret: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE drafts (post_id text, body text)")
        conn.execute("INSERT INTO drafts (post_id, body) VALUES (%s, %s)", ("p-7", secret))
        conn.execute("SELECT body FROM drafts WHERE body = %s", (secret,)).fetchall()


def _run_async(pg_url: str, secret: str) -> None:
    async def work() -> None:
        async with telemetry.stage(post_id="p-7", stage_id="draft"):
            conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
            async with conn:
                await conn.execute("CREATE TABLE drafts (post_id text, body text)")
                await conn.execute(
                    "INSERT INTO drafts (post_id, body) VALUES (%s, %s)", ("p-7", secret)
                )
                cursor = await conn.execute("SELECT body FROM drafts WHERE body = %s", (secret,))
                await cursor.fetchall()

    asyncio.run(work())


def _run_pool(pg_url: str, secret: str) -> None:
    with (
        psycopg_pool.ConnectionPool(pg_url, min_size=1, max_size=2, open=True) as pool,
        pool.connection() as conn,
    ):
        conn.execute("CREATE TABLE drafts (post_id text, body text)")
        conn.execute("INSERT INTO drafts (post_id, body) VALUES (%s, %s)", ("p-7", secret))
        conn.execute("SELECT body FROM drafts WHERE body = %s", (secret,)).fetchall()


def _in_sync_stage(run: Callable[[str, str], None]) -> Callable[[str, str], None]:
    def staged(pg_url: str, secret: str) -> None:
        with telemetry.stage(post_id="p-7", stage_id="draft"):
            run(pg_url, secret)

    return staged


CONNECTIONS = {
    "sync": _in_sync_stage(_run_sync),
    "async": _run_async,
    "pool": _in_sync_stage(_run_pool),
}


def _db_spans(spans: list[FileSpan], pg_url: str) -> list[FileSpan]:
    """The psycopg spans of queries on the test's own database (not the fixture's set-up)."""
    database = database_name(pg_url)
    return [
        span
        for span in spans
        if span.attributes.get("db.system.name") == "postgresql"
        and span.attributes.get("db.namespace") == database
    ]


@pytest.mark.parametrize("connection", sorted(CONNECTIONS))
def test_psycopg_spans_are_children_of_their_stage_span(
    files_only: Callable[[], Path], pg_url: str, connection: str
) -> None:
    CONNECTIONS[connection](pg_url, _secret())
    telemetry_spans = otlp_files.spans(files_only())

    (stage,) = [span for span in telemetry_spans if span.name == "stage draft"]
    queries = _db_spans(telemetry_spans, pg_url)
    assert {span.name.split()[0] for span in queries} >= {"CREATE", "INSERT", "SELECT"}
    for query in queries:
        assert query.kind == SPAN_KIND_CLIENT
        assert (query.trace_id, query.parent_span_id) == (stage.trace_id, stage.span_id)
        assert query.attributes["post_id"] == "p-7"
        assert query.attributes["stage_id"] == "draft"
    texts = {span.attributes["db.query.text"] for span in queries}
    assert "INSERT INTO drafts (post_id, body) VALUES (%s, %s)" in texts


def test_db_spans_name_their_operation_and_table(
    files_only: Callable[[], Path], pg_url: str
) -> None:
    _in_sync_stage(_run_sync)(pg_url, _secret())
    queries = _db_spans(otlp_files.spans(files_only()), pg_url)

    described = {
        (span.attributes.get("db.operation.name"), span.attributes.get("db.collection.name"))
        for span in queries
    }
    assert {("CREATE", "drafts"), ("INSERT", "drafts"), ("SELECT", "drafts")} <= described


@pytest.mark.parametrize("connection", sorted(CONNECTIONS))
def test_no_parameter_value_appears_in_any_file(
    files_only: Callable[[], Path], pg_url: str, connection: str
) -> None:
    secret = _secret()
    CONNECTIONS[connection](pg_url, secret)
    data_dir = files_only()

    assert _db_spans(otlp_files.spans(data_dir), pg_url), "the queries were not recorded at all"
    slow = [r for r in otlp_files.log_records(data_dir) if r.body == "db.slow_query"]
    assert slow, "with a zero threshold every query is a slow query event"
    assert _files_mentioning(data_dir, secret) == []


def test_a_failing_query_does_not_leak_its_parameters(
    files_only: Callable[[], Path], pg_url: str
) -> None:
    secret = _secret()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE posts (slug text PRIMARY KEY)")
        conn.execute("INSERT INTO posts (slug) VALUES (%s)", (secret,))
        # PostgreSQL's error detail quotes the duplicate key: "Key (slug)=(...) already exists"
        with (
            telemetry.stage(post_id="p-8", stage_id="publish"),
            pytest.raises(psycopg.errors.UniqueViolation),
        ):
            conn.execute("INSERT INTO posts (slug) VALUES (%s)", (secret,))
    data_dir = files_only()

    (failed,) = [
        span
        for span in _db_spans(otlp_files.spans(data_dir), pg_url)
        if span.attributes.get("stage_id") == "publish"
    ]
    assert failed.status_code == otlp_files.STATUS_CODE_ERROR
    assert _files_mentioning(data_dir, secret) == []


def _files_mentioning(data_dir: Path, text: str) -> list[str]:
    """Names of the files under ``data_dir`` (plain or gzip) whose bytes contain ``text``."""
    needle = text.encode()
    found = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.suffix == ".gz":
            content = gzip.decompress(content)
        if needle in content:
            found.append(path.name)
    return found
