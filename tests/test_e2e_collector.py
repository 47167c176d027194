"""The example blog exporting live to a real collector (rotel), over gRPC and HTTP.

The blog runs as users run it (``python -m examples.blog``) against a real
PostgreSQL, with ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``
pointing at rotel. What rotel printed is what a collector received: the stage,
DB and LLM spans with their parent links and workflow keys, log records with
trace ids and ``post_id``, and the package's metrics. It must also be exactly
the set of spans the blog wrote to its own files at the same time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.collector import RotelCollector
from tests.support import otlp_files
from tests.support.rotel_output import Received, ReceivedSpan
from tests.support.runs import run_blog

STAGES = {"research", "outline", "draft", "edit", "publish"}
METRICS = {
    "blog.stage.duration",
    "blog.stage.active",
    "db.client.operation.duration",
    "gen_ai.client.operation.duration",
    "gen_ai.client.token.usage",
}
POSTS = 3


def _stage_spans(received: Received) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in received.spans if s.name.startswith("stage ")}


def _complete(received: Received) -> bool:
    stages = {s.attributes.get("stage_id") for s in _stage_spans(received).values()}
    return stages >= STAGES and received.metric_names() >= METRICS and bool(received.logs)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_the_blog_delivers_spans_logs_and_metrics_to_a_collector(
    rotel: RotelCollector, pg_url: str, tmp_path: Path, protocol: str
) -> None:
    endpoint = rotel.grpc_endpoint if protocol == "grpc" else rotel.http_endpoint
    data_dir = tmp_path / "telemetry-data"
    run = run_blog(
        "--posts", str(POSTS), "--failure-rate", "0", "--data-dir", str(data_dir),
        DATABASE_URL=pg_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()

    received = rotel.wait_for(_complete)
    stages = _stage_spans(received)
    for span in stages.values():
        assert span.kind == "SPAN_KIND_INTERNAL"
        assert span.name == f"stage {span.attributes['stage_id']}"
        assert span.attributes["blog.stage.outcome"] == "ok"
        assert span.resource["service.name"] == "blog"
    assert len({s.attributes["post_id"] for s in stages.values()}) == POSTS

    queries = [s for s in received.spans if s.attributes.get("db.system.name") == "postgresql"]
    in_stages = [q for q in queries if q.parent_span_id in stages]
    assert {stages[q.parent_span_id].attributes["stage_id"] for q in in_stages} == STAGES
    for query in in_stages:
        stage = stages[query.parent_span_id]
        assert query.kind == "SPAN_KIND_CLIENT"
        assert query.trace_id == stage.trace_id
        assert query.attributes["post_id"] == stage.attributes["post_id"]
        assert query.attributes["stage_id"] == stage.attributes["stage_id"]
        assert query.attributes["db.query.text"]

    calls = [s for s in received.spans if "gen_ai.operation.name" in s.attributes]
    assert calls
    for call in calls:
        assert call.kind == "SPAN_KIND_CLIENT"
        model = call.attributes["gen_ai.request.model"]
        assert call.name == f"{call.attributes['gen_ai.operation.name']} {model}"
        assert call.attributes["blog.llm.action"]
        assert call.attributes["blog.llm.prompt_chars"] > 0
        assert call.attributes["post_id"] == stages[call.parent_span_id].attributes["post_id"]

    started = [r for r in received.logs if r.body == "stage.started"]
    assert len(started) == len(stages)
    for record in started:
        assert record.trace_id in {s.trace_id for s in stages.values()}
        assert record.attributes["post_id"]
        assert record.severity_number == 9  # INFO

    files_spans = {(s.trace_id, s.span_id) for s in otlp_files.spans(data_dir)}
    assert {(s.trace_id, s.span_id) for s in received.spans} == files_spans
