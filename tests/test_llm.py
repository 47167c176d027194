"""llm_call(): GenAI client spans and metrics; content only when asked for."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import telemetry
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.otlp_files import SPAN_KIND_CLIENT, STATUS_CODE_ERROR

Start = Callable[..., FilesPipeline]


class RateLimited(Exception):
    pass


def test_a_call_is_a_client_span_with_the_genai_attributes(telemetry_files: Start) -> None:
    run = telemetry_files()
    with (
        telemetry.stage("draft", post_id="p1"),
        telemetry.llm_call(
            action="draft",
            model="gpt-4o",
            prompt="Write about tracing",
            provider="openai",
            temperature=0.2,
        ) as call,
    ):
        call.record(
            input_tokens=812,
            output_tokens=455,
            response_model="gpt-4o-2024-08-06",
            finish_reason="stop",
        )
    span = next(s for s in otlp_files.spans(run.finish()) if s.name == "chat gpt-4o")
    assert span.kind == SPAN_KIND_CLIENT
    assert span.attributes | {} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.2,
        "blog.llm.action": "draft",
        "blog.llm.prompt_chars": len("Write about tracing"),
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 455,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ["stop"],
        "post_id": "p1",
        "stage_id": "draft",
    }


def test_prompt_and_completion_are_not_recorded_by_default(telemetry_files: Start) -> None:
    run = telemetry_files()
    with telemetry.llm_call(action="edit", model="m", prompt="SECRET PLAN") as call:
        call.record(completion="SECRET ANSWER")
    data_dir = run.finish()
    everything = "".join(p.read_text() for p in data_dir.iterdir())
    assert "SECRET" not in everything


def test_content_capture_is_opt_in_and_bounded(
    telemetry_files: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    run = telemetry_files(max_content_chars=100)
    prompt = "p" * 1_000_000
    with telemetry.llm_call(action="draft", model="m", prompt=prompt) as call:
        call.record(completion="the answer")
    span = otlp_files.spans(run.finish())[0]
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    content = messages[0]["parts"][0]["content"]
    assert content.startswith("p" * 100) and content.endswith("[truncated 999900 chars]")
    assert span.attributes["blog.llm.prompt_chars"] == 1_000_000
    output = json.loads(span.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == "the answer"


def test_a_failure_carries_error_type_and_is_re_raised(telemetry_files: Start) -> None:
    run = telemetry_files()
    with pytest.raises(RateLimited), telemetry.llm_call(action="draft", model="m"):
        raise RateLimited("429")
    data_dir = run.finish()
    span = otlp_files.spans(data_dir)[0]
    assert span.status_code == STATUS_CODE_ERROR and span.attributes["error.type"] == "RateLimited"
    durations = [
        p
        for p in otlp_files.metric_points(data_dir)
        if p.name == "gen_ai.client.operation.duration"
    ]
    assert durations[0].attributes["error.type"] == "RateLimited"


def test_token_usage_metrics_by_type(telemetry_files: Start) -> None:
    run = telemetry_files()
    for tokens in (100, 300):
        with telemetry.llm_call(action="outline", model="m") as call:
            call.record(input_tokens=tokens, output_tokens=tokens // 10)
    points = [
        p for p in otlp_files.metric_points(run.finish()) if p.name == "gen_ai.client.token.usage"
    ]
    sums = {p.attributes["gen_ai.token.type"]: float(p.point["sum"]) for p in points}
    assert sums == {"input": 400.0, "output": 40.0}


def test_the_decorator_records_usage_from_the_result(telemetry_files: Start) -> None:
    run = telemetry_files()

    @telemetry.llm_call(action="summarise", model="m", provider="local")
    def summarise(prompt: str) -> dict[str, object]:
        return {"text": prompt[:5], "input_tokens": 7, "output_tokens": 3, "finish_reason": "stop"}

    assert summarise("hello world")["text"] == "hello"
    span = otlp_files.spans(run.finish())[0]
    assert span.attributes["gen_ai.usage.input_tokens"] == 7
    assert span.attributes["blog.llm.prompt_chars"] == len("hello world")
