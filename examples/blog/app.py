"""The blog workflow: queue posts, then take each through research -> publish.

Every post runs inside ``telemetry.workflow(post_id)`` and every stage attempt
inside ``telemetry.stage(stage_id, attempt=n)``, with its own ``stage_runs`` row.
The SQL, cache lookups and LLM calls made in a stage therefore carry the post's
and stage's ids without passing them around. A stage whose LLM call fails is
run again (a new attempt, a new row) up to ``max_attempts`` times; after that
the post is marked failed and the workflow moves on to the next post.

Posts run concurrently, on a thread pool (``telemetry.wrap`` carries the
context into each worker) or as asyncio tasks. The two runners share the
content (``stages.py``) and the queries (``database.py``); only the waiting differs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import telemetry
from examples.blog.cache import Cache
from examples.blog.database import AsyncPostStore, Database, PostStore, PostUpdate
from examples.blog.llm import LLMClient, LLMError
from examples.blog.stages import (
    MAX_TOKENS,
    STAGES,
    Article,
    PostPlan,
    plan_post,
    research_cache_key,
)
from telemetry import resources

log = telemetry.get_logger("examples.blog")

RETRY_BACKOFF_S = 0.01


@dataclass(frozen=True)
class WorkflowConfig:
    """The run's knobs (validated by ``__main__``)."""

    posts: int = 8
    concurrency: int = 4
    max_attempts: int = 3
    slow_query_rate: float = 0.1
    slow_query_s: float = 0.6
    seed: int = 7


@dataclass(frozen=True)
class PostResult:
    """How one post's workflow ended."""

    post_id: int
    title: str
    published: bool
    stage_runs: int
    duration_s: float
    failed_stage: str | None = None
    error: str | None = None


class StageFailed(Exception):
    """A stage failed on every attempt; the post cannot be published."""

    def __init__(self, stage_id: str, attempts: int, cause: LLMError) -> None:
        super().__init__(f"{stage_id} failed {attempts} time(s): {type(cause).__name__}: {cause}")
        self.stage_id = stage_id
        self.cause = cause


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def backoff_s(attempt: int) -> float:
    """The pause before attempt ``attempt + 1``: short, doubling."""
    return RETRY_BACKOFF_S * 2 ** (attempt - 1)


class _Queue:
    """Counts posts not yet started, for the ``blog.workflow.pending_tasks`` gauge."""

    def __init__(self, total: int) -> None:
        self._pending = total
        self._lock = threading.Lock()

    def start_one(self) -> None:
        with self._lock:
            self._pending -= 1

    def pending(self) -> int:
        with self._lock:
            return self._pending


class _Runner:
    """What both runners share: configuration, clients and bookkeeping."""

    def __init__(self, config: WorkflowConfig, cache: Cache, llm: LLMClient) -> None:
        self.config = config
        self.cache = cache
        self.llm = llm
        self.queue = _Queue(config.posts)
        # the blog.workflow.pending_tasks gauge reads the queue at each collection
        resources.set_pending_tasks_callback(self.queue.pending)

    def plans(self) -> list[PostPlan]:
        """The run's posts, decided up front from the seed."""
        return [
            plan_post(self.config.seed, index, self.config.slow_query_rate)
            for index in range(self.config.posts)
        ]

    def lookup_delay_s(self, article: Article) -> float:
        """How long the database stalls this post's related-posts lookup (usually 0)."""
        return self.config.slow_query_s if article.plan.slow_lookup else 0.0

    def llm_key(self, article: Article, stage_id: str, attempt: int) -> str:
        """The request's place in the run, from which the local generator draws its luck."""
        return f"{article.plan.index}:{stage_id}:{attempt}"

    def wrap_up(self, results: list[PostResult], started: float) -> list[PostResult]:
        published = sum(1 for r in results if r.published)
        log.info(
            "workflow.finished",
            posts=len(results),
            published=published,
            failed=len(results) - published,
            duration_s=round(time.perf_counter() - started, 4),
        )
        return results

    def finished(self, article: Article, started: float, runs: int) -> PostResult:
        duration = time.perf_counter() - started
        log.info(
            "post.published",
            title=article.title,
            words=len(article.body.split()),
            stage_runs=runs,
            duration_s=round(duration, 4),
        )
        return PostResult(article.post_id, article.title, True, runs, duration)

    def failed(self, article: Article, started: float, runs: int, exc: StageFailed) -> PostResult:
        duration = time.perf_counter() - started
        log.error(
            "post.failed",
            failed_stage=exc.stage_id,
            stage_runs=runs,
            **{"error.type": type(exc.cause).__name__},
        )
        return PostResult(
            article.post_id,
            article.title,
            False,
            runs,
            duration,
            exc.stage_id,
            describe_error(exc.cause),
        )

    def retrying(self, attempt: int, exc: LLMError) -> float:
        """Log the retry of the current stage; return how long to back off first."""
        delay = backoff_s(attempt)
        log.warning(
            "stage.retrying",
            failed_attempt=attempt,
            next_attempt=attempt + 1,
            delay_s=delay,
            **{"error.type": type(exc).__name__},
        )
        return delay


class ThreadedWorkflow(_Runner):
    """Posts on a thread pool; blocking psycopg and LLM calls."""

    def __init__(
        self, config: WorkflowConfig, store: PostStore, cache: Cache, llm: LLMClient
    ) -> None:
        super().__init__(config, cache, llm)
        self.store = store

    def run(self, on_result: Callable[[PostResult], None]) -> list[PostResult]:
        articles = [self.queue_post(plan) for plan in self.plans()]
        log.info(
            "workflow.started",
            posts=len(articles),
            mode="threads",
            concurrency=self.config.concurrency,
        )
        started, results = time.perf_counter(), list[PostResult]()
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="blog") as pool:
            futures = [pool.submit(telemetry.wrap(self.run_post), a) for a in articles]
            for future in as_completed(futures):
                results.append(future.result())
                on_result(results[-1])
        return self.wrap_up(results, started)

    def queue_post(self, plan: PostPlan) -> Article:
        post_id = self.store.create_post(plan.title, plan.topic)
        return Article(post_id, plan, plan.title)

    def run_post(self, article: Article) -> PostResult:
        self.queue.start_one()
        started, runs = time.perf_counter(), 0
        with telemetry.workflow(article.post_id) as span:
            try:
                for stage_id in STAGES:
                    runs += self.run_stage(article, stage_id)
            except StageFailed as exc:
                runs += self.config.max_attempts
                self.store.mark_post_failed(article.post_id)
                span.set_attribute("blog.post.outcome", "failed")
                return self.failed(article, started, runs, exc)
            span.set_attribute("blog.post.outcome", "published")
            return self.finished(article, started, runs)

    def run_stage(self, article: Article, stage_id: str) -> int:
        """Run ``stage_id`` until it succeeds; return how many attempts it took."""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                with telemetry.stage(stage_id, article.post_id, attempt=attempt):
                    self.attempt_stage(article, stage_id, attempt)
                return attempt
            except LLMError as exc:
                if attempt == self.config.max_attempts:
                    raise StageFailed(stage_id, attempt, exc) from exc
                time.sleep(self.retrying(attempt, exc))
        raise AssertionError("max_attempts must be at least 1")

    def attempt_stage(self, article: Article, stage_id: str, attempt: int) -> None:
        run_id = self.store.start_stage(article.post_id, stage_id, attempt)
        try:
            update = self.produce(article, stage_id, attempt)
        except LLMError as exc:
            self.store.fail_stage(run_id, describe_error(exc))
            raise
        self.store.complete_stage(run_id, article.post_id, update)

    def produce(self, article: Article, stage_id: str, attempt: int) -> PostUpdate:
        """The stage's work between opening and closing its run: lookups and the LLM."""
        cache_key = research_cache_key(article.plan.topic)
        if stage_id == "research":
            related = self.store.related_posts(
                article.post_id, article.plan.topic, self.lookup_delay_s(article)
            )
            article.related = [title for _, title in related]
            notes = self.cache.get(cache_key)
            if notes is not None:
                log.info("research.cache_hit", topic=article.plan.topic)
                return article.apply(stage_id, notes)
        completion = self.llm.complete(
            stage_id,
            article.prompt(stage_id),
            key=self.llm_key(article, stage_id, attempt),
            max_tokens=MAX_TOKENS[stage_id],
        )
        if stage_id == "research":
            self.cache.set(cache_key, completion.text)
        return article.apply(stage_id, completion.text)


class AsyncWorkflow(_Runner):
    """Posts as asyncio tasks on one event loop; async psycopg and LLM calls."""

    def __init__(
        self, config: WorkflowConfig, store: AsyncPostStore, cache: Cache, llm: LLMClient
    ) -> None:
        super().__init__(config, cache, llm)
        self.store = store

    async def run(self, on_result: Callable[[PostResult], None]) -> list[PostResult]:
        articles = [await self.queue_post(plan) for plan in self.plans()]
        log.info(
            "workflow.started",
            posts=len(articles),
            mode="asyncio",
            concurrency=self.config.concurrency,
        )
        slots = asyncio.Semaphore(self.config.concurrency)
        started, results = time.perf_counter(), list[PostResult]()

        async def one(article: Article) -> None:
            async with slots:
                result = await self.run_post(article)
            results.append(result)
            on_result(result)

        async with asyncio.TaskGroup() as group:
            for article in articles:
                group.create_task(one(article), name=f"post-{article.post_id}")
        return self.wrap_up(results, started)

    async def queue_post(self, plan: PostPlan) -> Article:
        post_id = await self.store.create_post(plan.title, plan.topic)
        return Article(post_id, plan, plan.title)

    async def run_post(self, article: Article) -> PostResult:
        self.queue.start_one()
        started, runs = time.perf_counter(), 0
        async with telemetry.workflow(article.post_id) as span:
            try:
                for stage_id in STAGES:
                    runs += await self.run_stage(article, stage_id)
            except StageFailed as exc:
                runs += self.config.max_attempts
                await self.store.mark_post_failed(article.post_id)
                span.set_attribute("blog.post.outcome", "failed")
                return self.failed(article, started, runs, exc)
            span.set_attribute("blog.post.outcome", "published")
            return self.finished(article, started, runs)

    async def run_stage(self, article: Article, stage_id: str) -> int:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                async with telemetry.stage(stage_id, article.post_id, attempt=attempt):
                    await self.attempt_stage(article, stage_id, attempt)
                return attempt
            except LLMError as exc:
                if attempt == self.config.max_attempts:
                    raise StageFailed(stage_id, attempt, exc) from exc
                await asyncio.sleep(self.retrying(attempt, exc))
        raise AssertionError("max_attempts must be at least 1")

    async def attempt_stage(self, article: Article, stage_id: str, attempt: int) -> None:
        run_id = await self.store.start_stage(article.post_id, stage_id, attempt)
        try:
            update = await self.produce(article, stage_id, attempt)
        except LLMError as exc:
            await self.store.fail_stage(run_id, describe_error(exc))
            raise
        await self.store.complete_stage(run_id, article.post_id, update)

    async def produce(self, article: Article, stage_id: str, attempt: int) -> PostUpdate:
        cache_key = research_cache_key(article.plan.topic)
        if stage_id == "research":
            related = await self.store.related_posts(
                article.post_id, article.plan.topic, self.lookup_delay_s(article)
            )
            article.related = [title for _, title in related]
            notes = await self.cache.aget(cache_key)
            if notes is not None:
                log.info("research.cache_hit", topic=article.plan.topic)
                return article.apply(stage_id, notes)
        completion = await self.llm.acomplete(
            stage_id,
            article.prompt(stage_id),
            key=self.llm_key(article, stage_id, attempt),
            max_tokens=MAX_TOKENS[stage_id],
        )
        if stage_id == "research":
            await self.cache.aset(cache_key, completion.text)
        return article.apply(stage_id, completion.text)


def run_workflow(
    mode: str,
    config: WorkflowConfig,
    db: Database,
    cache: Cache,
    llm: LLMClient,
    on_result: Callable[[PostResult], None],
) -> list[PostResult]:
    """Process ``config.posts`` posts in ``mode`` (``threads`` or ``asyncio``); return outcomes."""
    if mode == "threads":
        return ThreadedWorkflow(config, db.store(), cache, llm).run(on_result)
    if mode == "asyncio":
        return asyncio.run(_run_async(config, db, cache, llm, on_result))
    raise ValueError(f"unknown mode {mode!r}; use threads or asyncio")


async def _run_async(
    config: WorkflowConfig,
    db: Database,
    cache: Cache,
    llm: LLMClient,
    on_result: Callable[[PostResult], None],
) -> list[PostResult]:
    store = await db.open_async_store()
    try:
        return await AsyncWorkflow(config, store, cache, llm).run(on_result)
    finally:
        await db.close_async()
