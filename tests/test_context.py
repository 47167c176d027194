"""Workflow keys follow the work: nested blocks, threads, asyncio tasks, other processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import baggage, trace

import telemetry
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files


def test_bind_as_a_block_restores_the_previous_keys() -> None:
    with telemetry.bind(post_id="p1"):
        with telemetry.bind(stage_id="draft"):
            assert telemetry.current_context() == {"post_id": "p1", "stage_id": "draft"}
        assert telemetry.current_context() == {"post_id": "p1"}
    assert telemetry.current_context() == {}


def test_bind_without_a_block_lasts_until_unbound() -> None:
    binding = telemetry.bind(post_id="p2")
    assert telemetry.current_context() == {"post_id": "p2"}
    binding.unbind()
    assert telemetry.current_context() == {}


def test_keys_are_mirrored_into_baggage() -> None:
    with telemetry.bind(post_id="p3", stage_id="edit"):
        assert baggage.get_baggage("post_id") == "p3"
        assert baggage.get_baggage("stage_id") == "edit"


def test_the_package_thread_carries_the_keys_a_plain_thread_does_not() -> None:
    seen: dict[str, dict[str, object]] = {}
    with telemetry.bind(post_id="p4"):
        helper = telemetry.Thread(target=lambda: seen.update(helper=telemetry.current_context()))
        helper.start()
        helper.join()
    assert seen["helper"] == {"post_id": "p4"}


def test_wrap_carries_the_keys_into_an_executor() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool, telemetry.bind(post_id="p5"):
        assert pool.submit(telemetry.wrap(telemetry.current_context)).result() == {"post_id": "p5"}
        assert pool.submit(telemetry.current_context).result() == {}


def test_asyncio_tasks_each_keep_their_own_post() -> None:
    async def work(post_id: str) -> list[object]:
        with telemetry.bind(post_id=post_id):
            seen = []
            for _ in range(5):
                await asyncio.sleep(0)
                seen.append(telemetry.current_context()["post_id"])
            return seen

    async def main() -> list[list[object]]:
        return await asyncio.gather(*(work(f"p{n}") for n in range(20)))

    for n, seen in enumerate(asyncio.run(main())):
        assert seen == [f"p{n}"] * 5


def test_inject_and_extract_carry_trace_and_workflow_across_a_process_boundary(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    run = telemetry_files()
    headers: dict[str, str] = {}
    with telemetry.stage("publish", post_id="p6"):
        telemetry.inject(headers)
    assert "traceparent" in headers and "post_id=p6" in headers["baggage"]
    # ... the receiving process:
    with telemetry.extract(headers) as carried:
        assert carried == {"post_id": "p6", "stage_id": "publish"}
        with trace.get_tracer("remote").start_as_current_span("remote work"):
            pass
    spans = {s.name: s for s in otlp_files.spans(run.finish())}
    remote, stage = spans["remote work"], spans["stage publish"]
    assert remote.trace_id == stage.trace_id and remote.parent_span_id == stage.span_id
    assert remote.attributes["post_id"] == "p6"
