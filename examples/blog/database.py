"""The blog's PostgreSQL: the server, the schema, the pools and every query.

The database is ``DATABASE_URL`` when set; otherwise a real PostgreSQL started
by ``pgserver`` in a temporary folder, stopped and removed at the end. Queries
go through psycopg_pool pools (a sync one always, for the thread workers and
the health check; an async one for asyncio mode), which ``telemetry.setup()``
has already instrumented. Every statement is parameterised: values travel as
parameters, never in the SQL text, so traces only ever show placeholders.

A connection is held for one short transaction at a time, never across an LLM
call, as a production workflow would do.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from telemetry import resources

POST_STATUSES = ("queued", "researched", "outlined", "drafted", "edited", "published", "failed")
RUN_STATUSES = ("running", "succeeded", "failed")
CONNECT_TIMEOUT_S = 10.0

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS posts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title        text NOT NULL,
    topic        text NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ({", ".join(f"'{s}'" for s in POST_STATUSES)})),
    body         text,
    word_count   integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS posts_topic_idx ON posts (topic, published_at DESC);
CREATE TABLE IF NOT EXISTS stage_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id     bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    stage_id    text NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ({", ".join(f"'{s}'" for s in RUN_STATUSES)})),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    error       text,
    UNIQUE (post_id, stage_id, attempt)
);
"""
# Serialises schema creation when several demo processes share one DATABASE_URL.
SCHEMA_LOCK_KEY = 0x626C6F67  # "blog"

INSERT_POST = "INSERT INTO posts (title, topic) VALUES (%s, %s) RETURNING id"
START_STAGE = "INSERT INTO stage_runs (post_id, stage_id, attempt) VALUES (%s, %s, %s) RETURNING id"
RELATED_POSTS = (
    "SELECT id, title FROM posts WHERE topic = %s AND id <> %s AND status = 'published' "
    "ORDER BY published_at DESC LIMIT 5"
)
# The same lookup when the server is slow (a lock wait, a cold cache): pg_sleep makes
# the delay real, so the query's span and the db.slow_query event show it.
RELATED_POSTS_SLOW = (
    "WITH pause AS (SELECT pg_sleep(%s)) SELECT p.id, p.title FROM posts p, pause "
    "WHERE p.topic = %s AND p.id <> %s AND p.status = 'published' "
    "ORDER BY p.published_at DESC LIMIT 5"
)
UPDATE_POST = (
    "UPDATE posts SET status = %(status)s, title = COALESCE(%(title)s, title), "
    "body = COALESCE(%(body)s, body), word_count = COALESCE(%(word_count)s, word_count), "
    "published_at = CASE WHEN %(status)s = 'published' THEN now() ELSE published_at END "
    "WHERE id = %(post_id)s"
)
FINISH_STAGE = "UPDATE stage_runs SET status = %s, error = %s, finished_at = now() WHERE id = %s"
MARK_POST_FAILED = "UPDATE posts SET status = 'failed' WHERE id = %s"
POST_OUTCOMES = "SELECT status, count(*) FROM posts WHERE id = ANY(%s) GROUP BY status"
STAGE_RUNS = (
    "SELECT post_id, stage_id, attempt, status, error FROM stage_runs "
    "WHERE post_id = ANY(%s) ORDER BY post_id, started_at, attempt"
)


class DatabaseUnavailable(RuntimeError):
    """The database could not be started or reached; the message says which and why."""


@dataclass(frozen=True)
class StageRun:
    """One row of ``stage_runs``, as the report and the tests read it."""

    post_id: int
    stage_id: str
    attempt: int
    status: str
    error: str | None


@dataclass(frozen=True)
class PostUpdate:
    """What a finished stage changes on its post (``None``: leave as it is)."""

    status: str
    title: str | None = None
    body: str | None = None

    def parameters(self, post_id: int) -> dict[str, Any]:
        return {
            "status": self.status,
            "title": self.title,
            "body": self.body,
            "word_count": None if self.body is None else len(self.body.split()),
            "post_id": post_id,
        }


def _related_query(post_id: int, topic: str, delay_s: float) -> tuple[str, Sequence[Any]]:
    if delay_s > 0:
        return RELATED_POSTS_SLOW, (delay_s, topic, post_id)
    return RELATED_POSTS, (topic, post_id)


@contextlib.contextmanager
def _quiet_platformdirs() -> Iterator[None]:
    """pgserver asks platformdirs for a runtime folder, which warns when XDG_RUNTIME_DIR
    is unset (containers, CI) and then copes: keep that noise out of the demo's output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        yield


class PostStore:
    """The workflow's queries, on the sync pool (thread mode, reports, health)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create_post(self, title: str, topic: str) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(INSERT_POST, (title, topic)).fetchone()
        assert row is not None
        return int(row[0])

    def start_stage(self, post_id: int, stage_id: str, attempt: int) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(START_STAGE, (post_id, stage_id, attempt)).fetchone()
        assert row is not None
        return int(row[0])

    def related_posts(
        self, post_id: int, topic: str, delay_s: float = 0.0
    ) -> list[tuple[int, str]]:
        query, params = _related_query(post_id, topic, delay_s)
        with self.pool.connection() as conn:
            return [(int(r[0]), str(r[1])) for r in conn.execute(query, params)]

    def complete_stage(self, run_id: int, post_id: int, update: PostUpdate) -> None:
        """Save the stage's result and close its run, in one transaction."""
        with self.pool.connection() as conn:
            conn.execute(UPDATE_POST, update.parameters(post_id))
            conn.execute(FINISH_STAGE, ("succeeded", None, run_id))

    def fail_stage(self, run_id: int, error: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(FINISH_STAGE, ("failed", error, run_id))

    def mark_post_failed(self, post_id: int) -> None:
        with self.pool.connection() as conn:
            conn.execute(MARK_POST_FAILED, (post_id,))

    def outcomes(self, post_ids: Sequence[int]) -> dict[str, int]:
        """How many of ``post_ids`` are in each status."""
        with self.pool.connection() as conn:
            rows = conn.execute(POST_OUTCOMES, (list(post_ids),)).fetchall()
        return {str(status): int(count) for status, count in rows}

    def stage_runs(self, post_ids: Sequence[int]) -> list[StageRun]:
        with self.pool.connection() as conn:
            rows = conn.execute(STAGE_RUNS, (list(post_ids),)).fetchall()
        return [StageRun(int(p), str(s), int(a), str(st), e) for p, s, a, st, e in rows]


class AsyncPostStore:
    """The same queries as :class:`PostStore`, on the async pool (asyncio mode)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def create_post(self, title: str, topic: str) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(INSERT_POST, (title, topic))).fetchone()
        assert row is not None
        return int(row[0])

    async def start_stage(self, post_id: int, stage_id: str, attempt: int) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(START_STAGE, (post_id, stage_id, attempt))
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def related_posts(
        self, post_id: int, topic: str, delay_s: float = 0.0
    ) -> list[tuple[int, str]]:
        query, params = _related_query(post_id, topic, delay_s)
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(query, params)).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    async def complete_stage(self, run_id: int, post_id: int, update: PostUpdate) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(UPDATE_POST, update.parameters(post_id))
            await conn.execute(FINISH_STAGE, ("succeeded", None, run_id))

    async def fail_stage(self, run_id: int, error: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(FINISH_STAGE, ("failed", error, run_id))

    async def mark_post_failed(self, post_id: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(MARK_POST_FAILED, (post_id,))


class Database:
    """The server (``DATABASE_URL`` or a temporary pgserver), its schema and its pools.

    Use as a context manager: everything started is stopped on exit, in order.
    """

    def __init__(self, url: str | None = None, *, pool_size: int = 4) -> None:
        self._given_url = url
        self.pool_size = max(1, pool_size)
        self.url = ""
        self.embedded = url is None
        self._stack = contextlib.ExitStack()
        self._pool: ConnectionPool[Any] | None = None
        self._async_pool: AsyncConnectionPool[Any] | None = None

    def __enter__(self) -> Database:
        try:
            self.url = self._given_url or self._start_embedded()
            self._create_schema()
            self._pool = self._open_pool()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def pool(self) -> ConnectionPool[Any]:
        if self._pool is None:
            raise RuntimeError("the database is not open (use it as a context manager)")
        return self._pool

    def store(self) -> PostStore:
        return PostStore(self.pool)

    def describe(self) -> str:
        """Where the data lives, without any password."""
        from telemetry.health import without_password

        where = "embedded PostgreSQL (pgserver)" if self.embedded else "DATABASE_URL"
        return f"{where}: {without_password(self.url)}"

    async def open_async_store(self) -> AsyncPostStore:
        """Open the async pool (in the running event loop) and return a store on it."""
        if self._async_pool is None:
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self.url, min_size=1, max_size=self.pool_size, open=False, name="blog-async"
            )
            try:
                await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            except PoolTimeout as exc:
                raise DatabaseUnavailable(f"cannot connect to {self.describe()}") from exc
            resources.instrument_pool(pool, "blog-async")
            self._async_pool = pool
        return AsyncPostStore(self._async_pool)

    async def close_async(self) -> None:
        """Close the async pool (from the event loop that opened it)."""
        if self._async_pool is not None:
            await self._async_pool.close()
            self._async_pool = None

    # --- start-up ---------------------------------------------------------------------

    def _start_embedded(self) -> str:
        try:
            with _quiet_platformdirs():
                import pgserver
        except ImportError:
            raise DatabaseUnavailable(
                "DATABASE_URL is not set and pgserver is missing: set DATABASE_URL or "
                "pip install 'blog-telemetry[demo]'"
            ) from None
        folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="blog-pg-")))
        with _quiet_platformdirs():
            try:
                server = pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
            except Exception as exc:
                raise DatabaseUnavailable(f"pgserver could not start PostgreSQL: {exc}") from exc

        def stop() -> None:
            with _quiet_platformdirs():
                server.cleanup()

        self._stack.callback(stop)
        return str(server.get_uri())

    def _create_schema(self) -> None:
        try:
            conn = psycopg.connect(self.url, connect_timeout=int(CONNECT_TIMEOUT_S))
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to {self.describe()}: {exc}") from exc
        with conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(SCHEMA)

    def _open_pool(self) -> ConnectionPool[Any]:
        # the health check and the report need a connection besides the workers
        pool: ConnectionPool[Any] = ConnectionPool(
            self.url, min_size=1, max_size=self.pool_size + 1, open=False, name="blog"
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"cannot connect to {self.describe()}") from exc
        self._stack.callback(pool.close)
        resources.instrument_pool(pool, "blog")
        return pool
