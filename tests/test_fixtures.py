"""The test fixtures themselves: real PostgreSQL and a real rotel collector.

The collector's parser is checked against data sent by the OpenTelemetry SDK's
own OTLP exporters (gRPC and HTTP/protobuf) and by a hand-made OTLP/JSON POST,
so every other test can trust what ``rotel.received()`` says.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator

import psycopg
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from tests.fixtures.collector import RotelCollector
from tests.fixtures.postgres import PostgresServer, database_name
from tests.support.waiting import wait_for

RESOURCE = Resource.create({"service.name": "fixture-check", "deployment.environment.name": "test"})


# --- PostgreSQL -------------------------------------------------------------


def test_pg_conn_is_a_real_postgresql(pg_conn: psycopg.Connection[tuple[object, ...]]) -> None:
    row = pg_conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    assert isinstance(row[0], int)
    assert row[0] >= 160000


def test_each_test_gets_its_own_empty_database(pg_server: PostgresServer, pg_url: str) -> None:
    assert database_name(pg_url) != database_name(pg_server.uri)
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_the_test_database_is_dropped_afterwards(pg_server: PostgresServer) -> None:
    uri = pg_server.create_database()
    pg_server.drop_database(uri)
    with psycopg.connect(pg_server.uri) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database_name(uri),)
        ).fetchone()
    assert found == (0,)


def test_fresh_pg_can_be_stopped_and_restarted(fresh_pg: Callable[[], PostgresServer]) -> None:
    server = fresh_pg()
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int)")

    server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.uri, connect_timeout=2)

    server.start()
    with psycopg.connect(server.uri) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)


# --- rotel: spans, logs and metrics through the SDK's exporters --------------


def _send_spans(exporter: SpanExporter) -> tuple[str, str, str]:
    """A stage span with a DB child span; returns (trace id, parent id, child id)."""
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fixture-check")
    attributes: dict[str, AttributeValue] = {
        "post_id": "p-1",
        "words": 3,
        "ratio": 0.5,
        "final": True,
        "tags": ["a", "b"],
    }
    with (
        tracer.start_as_current_span("stage draft", attributes=attributes) as parent,
        tracer.start_as_current_span("SELECT posts", kind=SpanKind.CLIENT) as child,
    ):
        child.set_attribute("db.query.text", "SELECT title\nFROM posts WHERE id = %s")
    provider.shutdown()
    return (
        format(parent.get_span_context().trace_id, "032x"),
        format(parent.get_span_context().span_id, "016x"),
        format(child.get_span_context().span_id, "016x"),
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_rotel_reports_spans_with_ids_kinds_and_typed_attributes(
    rotel: RotelCollector, protocol: str
) -> None:
    exporter: SpanExporter = (
        GrpcSpans(endpoint=rotel.grpc_endpoint, insecure=True)
        if protocol == "grpc"
        else HttpSpans(endpoint=f"{rotel.http_endpoint}/v1/traces")
    )
    trace_id, parent_id, child_id = _send_spans(exporter)

    received = rotel.wait_for(lambda r: len(r.spans) == 2)
    spans = {span.name: span for span in received.spans}
    stage, query = spans["stage draft"], spans["SELECT posts"]
    assert (stage.trace_id, stage.span_id, stage.parent_span_id) == (trace_id, parent_id, "")
    assert (query.trace_id, query.span_id, query.parent_span_id) == (trace_id, child_id, parent_id)
    assert (stage.kind, query.kind) == ("SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT")
    assert stage.attributes == {
        "post_id": "p-1",
        "words": 3,
        "ratio": 0.5,
        "final": True,
        "tags": ["a", "b"],
    }
    assert query.attributes["db.query.text"] == "SELECT title\nFROM posts WHERE id = %s"
    assert stage.resource["service.name"] == "fixture-check"
    assert stage.scope == "fixture-check"


def test_rotel_reports_exception_events_with_multi_line_stack_traces(
    rotel: RotelCollector,
) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(
        SimpleSpanProcessor(GrpcSpans(endpoint=rotel.grpc_endpoint, insecure=True))
    )
    tracer = provider.get_tracer("fixture-check")
    with tracer.start_as_current_span("stage edit") as span:
        try:
            raise ValueError("draft too short")
        except ValueError as exc:
            span.record_exception(exc)
        span.set_attribute("after", "the stack trace")
    provider.shutdown()

    (received,) = rotel.wait_for(lambda r: r.spans).spans
    (event,) = received.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "draft too short"
    stacktrace = event.attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):\n")
    assert stacktrace.rstrip().endswith("ValueError: draft too short")
    assert received.attributes == {"after": "the stack trace"}


def test_rotel_reports_log_records_with_body_severity_and_trace_id(rotel: RotelCollector) -> None:
    tracer_provider = TracerProvider(resource=RESOURCE)
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(GrpcLogs(endpoint=rotel.grpc_endpoint, insecure=True))
    )
    logger = logger_provider.get_logger("fixture-check")
    with tracer_provider.get_tracer("t").start_as_current_span("stage edit") as span:
        logger.emit(
            body="line one\nline (two)\x01",
            severity_number=SeverityNumber.WARN,
            severity_text="warning",
            attributes={"post_id": "p-2", "stage_id": "edit"},
        )
    logger.emit(body="outside", severity_number=SeverityNumber.INFO, severity_text="info")
    logger_provider.shutdown()

    received = rotel.wait_for(lambda r: len(r.logs) == 2)
    outside, inside = sorted(received.logs, key=lambda record: record.body != "outside")
    assert inside.body == "line one\nline (two)\x01"
    assert (inside.severity_number, inside.severity_text) == (13, "warning")
    assert inside.trace_id == format(span.get_span_context().trace_id, "032x")
    assert inside.span_id == format(span.get_span_context().span_id, "016x")
    assert inside.attributes == {"post_id": "p-2", "stage_id": "edit"}
    assert (outside.body, outside.trace_id, outside.severity_number) == ("outside", "", 9)


def test_rotel_reports_metric_points(rotel: RotelCollector) -> None:
    exporter = HttpMetrics(endpoint=f"{rotel.http_endpoint}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("fixture-check")
    durations = meter.create_histogram("blog.stage.duration", unit="s")
    durations.record(0.25, {"stage_id": "draft", "blog.stage.outcome": "ok"})
    durations.record(1.5, {"stage_id": "draft", "blog.stage.outcome": "ok"})
    meter.create_up_down_counter("blog.stage.active").add(2, {"stage_id": "edit"})
    provider.shutdown()

    received = rotel.wait_for(
        lambda r: {"blog.stage.duration", "blog.stage.active"} <= r.metric_names()
    )
    (histogram,) = [p for p in received.metrics if p.name == "blog.stage.duration"]
    assert (histogram.type, histogram.unit, histogram.count, histogram.sum) == (
        "Histogram", "s", 2, 1.75,
    )  # fmt: skip
    assert histogram.attributes == {"stage_id": "draft", "blog.stage.outcome": "ok"}
    (active,) = [p for p in received.metrics if p.name == "blog.stage.active"]
    assert (active.type, active.value, active.attributes) == ("Sum", 2.0, {"stage_id": "edit"})


def test_rotel_accepts_otlp_json_posts(rotel: RotelCollector) -> None:
    request = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json"}}]},
            "scopeSpans": [{
                "scope": {"name": "hand-made"},
                "spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "parentSpanId": "eee19b7ec3c1b173",
                    "name": "posted",
                    "kind": 3,
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": "1544712661000000000",
                    "attributes": [{"key": "n", "value": {"intValue": "5"}}],
                }],
            }],
        }]
    }  # fmt: skip
    post = urllib.request.Request(
        f"{rotel.http_endpoint}/v1/traces",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(post, timeout=5) as response:
        assert response.status == 200

    (span,) = rotel.wait_for(lambda r: r.spans).spans
    assert (span.trace_id, span.span_id, span.parent_span_id) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173",
    )  # fmt: skip
    assert (span.name, span.kind, span.attributes, span.resource) == (
        "posted", "SPAN_KIND_CLIENT", {"n": 5}, {"service.name": "json"},
    )  # fmt: skip


def test_received_since_a_mark_holds_only_later_data(rotel: RotelCollector) -> None:
    for name in ("before", "after"):
        since = rotel.mark()
        _send_one_span(rotel, name)
        received = rotel.wait_for(lambda r: r.spans, since=since)
    assert [span.name for span in received.spans] == ["after"]


def _send_one_span(collector: RotelCollector, name: str) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(
        SimpleSpanProcessor(GrpcSpans(endpoint=collector.grpc_endpoint, insecure=True))
    )
    provider.get_tracer("t").start_span(name).end()
    provider.shutdown()


# --- wait_for ---------------------------------------------------------------


def test_wait_for_returns_the_first_truthy_value() -> None:
    values: Iterator[int] = iter([0, 0, 7, 9])
    assert wait_for(lambda: next(values), timeout=5, interval=0.001) == 7


def test_wait_for_fails_with_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="metrics to appear"):
        wait_for(list, timeout=0.05, interval=0.01, message="metrics to appear")
