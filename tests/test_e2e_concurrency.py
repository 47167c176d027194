"""Fifty posts at once, in threads and in asyncio tasks: no post's id leaks into another's.

First in-process, through the API directly: each post runs a stage that queries
a real PostgreSQL through a shared pool, logs, opens its own span, calls the LLM
helper and hands work to a child thread or task, with random small pauses so the
posts interleave. Every record the
worker makes also names its post explicitly (``worker``), independent of the
workflow context. Then every span and log record in the files is checked: the
context-stamped ``post_id`` matches the explicit one, and each trace belongs to
exactly one post.

Then the example blog itself, 50 posts all in flight at once on threads and on
asyncio tasks: every span and log record in a post's trace carries that post's
id, and nothing outside the posts' traces claims one.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psycopg_pool
import pytest
from opentelemetry import trace

import telemetry
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.runs import run_blog

POSTS = [f"post-{n:02d}" for n in range(50)]

log = telemetry.get_logger("tests.concurrency")


def _tracer() -> trace.Tracer:
    # Looked up per use: each test sets up (and shuts down) its own provider.
    return trace.get_tracer("tests.concurrency")


def _pause(rng: random.Random) -> float:
    return rng.uniform(0, 0.004)


def _sync_post(post: str, pool: psycopg_pool.ConnectionPool, seen: dict[str, object]) -> None:
    rng = random.Random(post)
    with telemetry.stage(post_id=post, stage_id="research"):
        log.info("research.started", worker=post)

        def child() -> None:
            seen[post] = telemetry.current_context().get("post_id")
            with _tracer().start_as_current_span("child work", attributes={"worker": post}):
                threading.Event().wait(_pause(rng))
                log.info("child.step", worker=post)
                with pool.connection() as conn:
                    conn.execute("SELECT %s::text", (post,)).fetchone()

        worker = telemetry.Thread(target=child, name=f"child-{post}")
        worker.start()
        threading.Event().wait(_pause(rng))
        with telemetry.llm_call(action="summarise", model="local-test", prompt=f"about {post}"):
            log.info("llm.asked", worker=post)
        worker.join()
        log.info("research.done", worker=post)


async def _async_post(
    post: str, pool: psycopg_pool.AsyncConnectionPool, seen: dict[str, object]
) -> None:
    rng = random.Random(post)
    async with telemetry.stage(post_id=post, stage_id="draft"):
        log.info("draft.started", worker=post)

        async def child() -> None:
            seen[post] = telemetry.current_context().get("post_id")
            with _tracer().start_as_current_span("child work", attributes={"worker": post}):
                await asyncio.sleep(_pause(rng))
                log.info("child.step", worker=post)
                async with pool.connection() as conn:
                    await (await conn.execute("SELECT %s::text", (post,))).fetchone()

        task = asyncio.create_task(child())
        await asyncio.sleep(_pause(rng))
        with telemetry.llm_call(action="draft", model="local-test", prompt=f"about {post}"):
            log.info("llm.asked", worker=post)
        await task
        log.info("draft.done", worker=post)


def test_fifty_posts_in_threads_keep_their_own_ids(
    telemetry_files: Callable[..., FilesPipeline], pg_url: str
) -> None:
    pipeline = telemetry_files()
    seen: dict[str, object] = {}
    with psycopg_pool.ConnectionPool(pg_url, min_size=2, max_size=4) as pool:
        posts = [
            threading.Thread(target=_sync_post, args=(post, pool, seen), name=post)
            for post in POSTS
        ]
        for thread in posts:
            thread.start()
        for thread in posts:
            thread.join()
    data_dir = pipeline.finish()

    assert seen == {post: post for post in POSTS}
    _assert_each_record_carries_only_its_own_post(data_dir, stage_id="research")


def test_fifty_posts_in_asyncio_tasks_keep_their_own_ids(
    telemetry_files: Callable[..., FilesPipeline], pg_url: str
) -> None:
    pipeline = telemetry_files()
    seen: dict[str, object] = {}

    async def main() -> None:
        async with psycopg_pool.AsyncConnectionPool(pg_url, min_size=2, max_size=4) as pool:
            await asyncio.gather(*(_async_post(post, pool, seen) for post in POSTS))

    asyncio.run(main())
    data_dir = pipeline.finish()

    assert seen == {post: post for post in POSTS}
    _assert_each_record_carries_only_its_own_post(data_dir, stage_id="draft")


@pytest.mark.parametrize("mode", ["threads", "asyncio"])
def test_the_example_blog_with_fifty_posts_at_once_keeps_them_apart(
    pg_url: str, tmp_path: Path, mode: str
) -> None:
    data_dir = tmp_path / "telemetry-data"
    run = run_blog(
        "--posts", str(len(POSTS)), "--concurrency", str(len(POSTS)), "--mode", mode,
        "--data-dir", str(data_dir),
        DATABASE_URL=pg_url,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()

    spans = otlp_files.spans(data_dir)
    records = otlp_files.log_records(data_dir)
    post_of_trace = {
        s.trace_id: s.attributes["post_id"]
        for s in spans
        if not s.parent_span_id and "post_id" in s.attributes
    }
    assert len(set(post_of_trace.values())) == len(POSTS)
    items = [(s.trace_id, s.attributes, f"span {s.name!r}") for s in spans] + [
        (r.trace_id, r.attributes, f"log record {r.body!r}") for r in records
    ]
    checked = 0
    for trace_id, attributes, what in items:
        if trace_id in post_of_trace:
            assert attributes.get("post_id") == post_of_trace[trace_id], what
            checked += 1
        else:
            assert "post_id" not in attributes, f"{what} outside any post's trace names a post"
    assert checked > 10 * len(POSTS)


def _assert_each_record_carries_only_its_own_post(data_dir: Path, stage_id: str) -> None:
    spans = otlp_files.spans(data_dir)
    records = otlp_files.log_records(data_dir)
    items = [(s.trace_id, s.attributes, f"span {s.name!r}") for s in spans] + [
        (r.trace_id, r.attributes, f"log record {r.body!r}") for r in records
    ]
    posts_by_trace: dict[str, set[object]] = defaultdict(set)
    for trace_id, attributes, what in items:
        post = attributes.get("post_id")
        if "worker" in attributes:
            assert post == attributes["worker"], f"{what} of {attributes['worker']} says {post}"
        if post is not None:
            assert attributes.get("stage_id") == stage_id, f"{what} has the wrong stage"
            posts_by_trace[trace_id].add(post)
    assert all(len(posts) == 1 for posts in posts_by_trace.values()), posts_by_trace
    for trace_id, attributes, what in items:
        if trace_id in posts_by_trace:
            assert attributes.get("post_id") is not None, f"{what} in a post's trace lacks post_id"

    stages = [s for s in spans if s.name == f"stage {stage_id}"]
    assert sorted(s.attributes["post_id"] for s in stages) == POSTS
    kinds_per_post: dict[object, set[str]] = defaultdict(set)
    for span in spans:
        if span.attributes.get("db.system.name") == "postgresql":
            kinds_per_post[span.attributes.get("post_id")].add("db")
        elif "gen_ai.operation.name" in span.attributes:
            kinds_per_post[span.attributes.get("post_id")].add("llm")
        elif span.name == "child work":
            kinds_per_post[span.attributes.get("post_id")].add("child")
    assert kinds_per_post == {post: {"db", "llm", "child"} for post in POSTS}
    logged = {r.attributes.get("post_id") for r in records if "worker" in r.attributes}
    assert logged == set(POSTS)
