"""setup(): one Resource, three providers, files by default, idempotent, disable-able."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry import trace

import telemetry
from telemetry.export.files import DataDirError
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files

Start = Callable[..., FilesPipeline]


def test_spans_logs_and_metrics_land_in_three_files_with_one_resource(
    telemetry_files: Start,
) -> None:
    run = telemetry_files(service_name="blog", service_version="1.2.3", environment="staging")
    with telemetry.stage("draft", post_id="p1"):
        telemetry.get_logger("test").info("draft.saved", words=900)
    data_dir = run.finish()
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "logs.jsonl",
        "metrics.jsonl",
        "traces.jsonl",
    ]
    resources = [s.resource for s in otlp_files.spans(data_dir)]
    resources += [r.resource for r in otlp_files.log_records(data_dir)]
    resources += [m.resource for m in otlp_files.metric_points(data_dir)]
    assert resources and all(r == resources[0] for r in resources)
    resource = resources[0]
    assert resource["service.name"] == "blog"
    assert resource["service.version"] == "1.2.3"
    assert resource["deployment.environment.name"] == "staging"
    assert {"host.name", "process.pid", "process.runtime.version"} <= set(resource)


def test_otel_resource_attributes_reach_the_resource(
    telemetry_files: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=content,service.namespace=blog")
    run = telemetry_files()
    with trace.get_tracer("t").start_as_current_span("x"):
        pass
    resource = otlp_files.spans(run.finish())[0].resource
    assert resource["team"] == "content" and resource["service.namespace"] == "blog"


def test_a_second_setup_returns_the_same_handle_and_does_not_double_export(
    telemetry_files: Start,
) -> None:
    run = telemetry_files()
    assert telemetry.setup() is run.handle
    with trace.get_tracer("t").start_as_current_span("once"):
        pass
    assert [s.name for s in otlp_files.spans(run.finish())] == ["once"]


def test_setup_after_shutdown_builds_a_fresh_pipeline(tmp_path: Path) -> None:
    first = telemetry.setup(data_dir=tmp_path / "one")
    first.shutdown()
    second = telemetry.setup(data_dir=tmp_path / "two")
    try:
        assert second is not first
        with trace.get_tracer("t").start_as_current_span("in-two"):
            pass
    finally:
        second.shutdown()
    assert [s.name for s in otlp_files.spans(tmp_path / "two")] == ["in-two"]


def test_sdk_disabled_makes_everything_a_no_op_while_the_api_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    handle = telemetry.setup(data_dir=tmp_path / "data")
    try:
        assert not handle.enabled and handle.data_dir is None
        with telemetry.stage("draft", post_id="p1"):
            with telemetry.llm_call(action="draft", model="m", prompt="hi") as call:
                call.record(input_tokens=1, output_tokens=2)
            telemetry.get_logger("t").info("still.works")
        assert handle.flush()
    finally:
        handle.shutdown()
    assert not (tmp_path / "data").exists()


def test_an_unwritable_data_dir_fails_at_setup_with_the_path_in_the_message(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataDirError, match=str(blocker)):
        telemetry.setup(data_dir=blocker / "telemetry")
    assert telemetry.active() is None


def test_secrets_and_inline_sql_literals_are_taken_out_of_span_attributes(
    telemetry_files: Start,
) -> None:
    run = telemetry_files()
    with trace.get_tracer("t").start_as_current_span(
        "q",
        attributes={
            "api_key": "sk-abcdefghijklmnopqrstuvwx",
            "db.query.text": "SELECT * FROM users WHERE email = 'a@b.c' AND id = 42",
            "url": "postgresql://blog:hunter2@db/blog",
        },
    ):
        pass
    attributes = otlp_files.spans(run.finish())[0].attributes
    assert attributes["api_key"] == "[REDACTED]"
    assert attributes["db.query.text"] == "SELECT * FROM users WHERE email = ? AND id = ?"
    assert "hunter2" not in attributes["url"]


def test_flush_writes_buffered_spans_without_shutting_down(telemetry_files: Start) -> None:
    run = telemetry_files()
    with trace.get_tracer("t").start_as_current_span("buffered"):
        pass
    assert run.handle.flush()
    assert [s.name for s in otlp_files.spans(run.data_dir)] == ["buffered"]


def _child_work(post_id: str) -> None:
    with telemetry.stage("draft", post_id=post_id):
        telemetry.get_logger("child").info("child.done")


def test_forked_workers_keep_writing_whole_lines_and_flush_when_they_end(
    telemetry_files: Start,
) -> None:
    import multiprocessing

    run = telemetry_files()
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_child_work, args=(f"child-{n}",)) for n in range(3)]
    for worker in workers:
        worker.start()
    _child_work("parent")
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    data_dir = run.finish()
    posts = sorted(s.attributes["post_id"] for s in otlp_files.spans(data_dir))
    assert posts == ["child-0", "child-1", "child-2", "parent"]
    assert len([r for r in otlp_files.log_records(data_dir) if r.body == "child.done"]) == 4
