"""stage() and workflow(): spans, events and metrics for each stage of a post."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from opentelemetry import trace

import telemetry
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.otlp_files import STATUS_CODE_ERROR

Start = Callable[..., FilesPipeline]


class DraftTooShort(Exception):
    pass


def test_a_stage_is_a_span_whose_children_carry_the_workflow_keys(telemetry_files: Start) -> None:
    run = telemetry_files()
    with telemetry.workflow("p1"):
        with telemetry.stage("outline"):
            with trace.get_tracer("app").start_as_current_span("my own work"):
                pass
    spans = {s.name: s for s in otlp_files.spans(run.finish())}
    workflow, stage, child = spans["workflow"], spans["stage outline"], spans["my own work"]
    assert stage.parent_span_id == workflow.span_id and child.parent_span_id == stage.span_id
    assert child.attributes["post_id"] == "p1" and child.attributes["stage_id"] == "outline"
    assert stage.attributes["blog.stage.outcome"] == "ok"
    assert stage.attributes["blog.stage.attempt"] == 1


def test_an_exception_is_recorded_and_re_raised_unchanged(telemetry_files: Start) -> None:
    run = telemetry_files()
    error = DraftTooShort("only 12 words")
    with pytest.raises(DraftTooShort) as raised, telemetry.stage("draft", post_id="p2", attempt=2):
        raise error
    assert raised.value is error
    data_dir = run.finish()
    stage = otlp_files.spans(data_dir)[0]
    assert stage.status_code == STATUS_CODE_ERROR
    assert stage.attributes["error.type"] == "DraftTooShort"
    assert stage.attributes["blog.stage.outcome"] == "error"
    assert stage.events[0]["name"] == "exception"
    failed = next(r for r in otlp_files.log_records(data_dir) if r.body == "stage.failed")
    assert failed.attributes["exception.message"] == "only 12 words"
    assert failed.attributes["attempt"] == 2


def test_stage_events_and_metrics(telemetry_files: Start) -> None:
    run = telemetry_files()
    for post in ("p1", "p2"):
        with telemetry.stage("edit", post_id=post):
            pass
    with pytest.raises(ValueError), telemetry.stage("edit", post_id="p3"):
        raise ValueError("x")
    data_dir = run.finish()
    bodies = [r.body for r in otlp_files.log_records(data_dir)]
    assert bodies.count("stage.started") == 3
    assert bodies.count("stage.completed") == 2 and bodies.count("stage.failed") == 1
    points = otlp_files.metric_points(data_dir)
    durations = {
        p.attributes["blog.stage.outcome"]: int(p.point["count"])
        for p in points
        if p.name == "blog.stage.duration"
    }
    assert durations == {"ok": 2, "error": 1}
    active = [p for p in points if p.name == "blog.stage.active"]
    assert active and int(active[-1].point["asInt"]) == 0
    buckets = next(p for p in points if p.name == "blog.stage.duration").point["explicitBounds"]
    assert buckets[0] == 0.001 and 1.0 in buckets


def test_the_decorator_picks_post_id_from_the_arguments(telemetry_files: Start) -> None:
    run = telemetry_files()

    @telemetry.stage("research")
    def research(post_id: str, topic: str) -> str:
        return f"{post_id}:{topic}:{telemetry.current_context()['stage_id']}"

    assert research("p9", topic="otel") == "p9:otel:research"
    assert otlp_files.spans(run.finish())[0].attributes["post_id"] == "p9"


def test_async_stages_in_concurrent_tasks_keep_their_own_post(telemetry_files: Start) -> None:
    run = telemetry_files()

    @telemetry.stage("draft")
    async def draft(post_id: str) -> None:
        await asyncio.sleep(0.001)
        async with telemetry.stage("draft-review"):
            await asyncio.sleep(0.001)

    async def main() -> None:
        await asyncio.gather(*(draft(f"p{n}") for n in range(10)))

    asyncio.run(main())
    spans = otlp_files.spans(run.finish())
    by_id = {s.span_id: s for s in spans}
    reviews = [s for s in spans if s.name == "stage draft-review"]
    assert len(reviews) == 10
    for review in reviews:
        parent = by_id[review.parent_span_id]
        assert review.attributes["post_id"] == parent.attributes["post_id"]
