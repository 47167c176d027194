"""structlog events become OTel log records; stdlib logging is bridged; nothing loops back."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace

import telemetry
from telemetry import _diagnostics
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files

Start = Callable[..., FilesPipeline]


def test_an_event_becomes_a_log_record_with_level_body_attributes_and_ids(
    telemetry_files: Start,
) -> None:
    run = telemetry_files()
    log = telemetry.get_logger("blog.drafts", component="writer")
    with telemetry.stage("draft", post_id="p1") as span:
        log.warning("draft.too_long", words=4200, limit=3000)
        ids = (
            f"{span.get_span_context().trace_id:032x}",
            f"{span.get_span_context().span_id:016x}",
        )
    record = next(r for r in otlp_files.log_records(run.finish()) if r.body == "draft.too_long")
    assert (record.severity_number, record.severity_text) == (13, "WARN")
    assert (record.trace_id, record.span_id) == ids
    assert record.attributes == {
        "post_id": "p1",
        "stage_id": "draft",
        "component": "writer",
        "words": 4200,
        "limit": 3000,
    }


def test_levels_below_the_configured_one_are_dropped(telemetry_files: Start) -> None:
    run = telemetry_files(log_level="warning")
    log = telemetry.get_logger("t")
    log.info("quiet")
    log.error("loud")
    assert [r.body for r in otlp_files.log_records(run.finish())] == ["loud"]


def test_exceptions_keep_type_message_and_stack_trace(telemetry_files: Start) -> None:
    run = telemetry_files()
    try:
        {}["missing"]
    except KeyError:
        telemetry.get_logger("t").exception("lookup.failed")
    record = otlp_files.log_records(run.finish())[0]
    assert record.severity_text == "ERROR"
    assert record.attributes["exception.type"] == "KeyError"
    assert record.attributes["exception.message"] == "'missing'"
    assert (
        "test_exceptions_keep_type_message_and_stack_trace"
        in record.attributes["exception.stacktrace"]
    )


def test_bad_input_is_recorded_bounded_and_never_raises(telemetry_files: Start) -> None:
    run = telemetry_files(max_attribute_chars=1000)

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    log = telemetry.get_logger("t")
    log.info("weird", obj=object(), bad=Unprintable(), huge="x" * 1_000_000)
    log.info("line one\nline two\x00\x1b[31m red")
    weird, multiline = otlp_files.log_records(run.finish())
    assert weird.attributes["obj"].startswith("<object object at")
    assert weird.attributes["bad"] == "<unrepresentable Unprintable: RuntimeError>"
    assert weird.attributes["huge"].endswith("…[truncated 999000 chars]")
    assert len(weird.attributes["huge"]) < 1100
    assert multiline.body == "line one\nline two\x00\x1b[31m red"


def test_secrets_in_events_are_redacted(telemetry_files: Start) -> None:
    run = telemetry_files()
    telemetry.get_logger("t").info(
        "connecting to postgresql://blog:hunter2@db/blog", password="hunter2", token="abc"
    )
    record = otlp_files.log_records(run.finish())[0]
    assert "hunter2" not in str(record.body)
    assert record.attributes["password"] == record.attributes["token"] == "[REDACTED]"


def test_stdlib_records_from_libraries_reach_the_same_pipeline(telemetry_files: Start) -> None:
    run = telemetry_files()
    with telemetry.bind(post_id="p7"), trace.get_tracer("t").start_as_current_span("s"):
        logging.getLogger("some.library").warning("pool exhausted: %d waiting", 3)
    record = otlp_files.log_records(run.finish())[0]
    assert record.body == "pool exhausted: 3 waiting"
    assert record.severity_text == "WARN"
    assert record.attributes["post_id"] == "p7"
    assert record.attributes["logger.name"] == "some.library"
    assert record.trace_id


def test_the_sdk_and_the_package_never_log_into_their_own_pipeline(
    telemetry_files: Start,
) -> None:
    run = telemetry_files()
    logging.getLogger("opentelemetry.sdk.trace").warning("sdk complaint")
    _diagnostics.reset()
    _diagnostics.warn("test-key", "package complaint")
    assert otlp_files.log_records(run.finish()) == []
