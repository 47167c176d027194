"""A blog workflow with a known mix of stages, queries, LLM calls and errors.

``make_mix()`` decides, with a seeded RNG, what a small blog did: which stages
each post ran (with retries and failures), which queries each stage made and how
long each took, which LLM calls with how many tokens, which errors. The tests
compute the expected report numbers from this plain list, and write the same
mix to disk two ways: through the OpenTelemetry SDK and its OTLP/JSON encoders
(the package's own files) and as hand-written dicts in the collector's file
exporter layout, with rotated and compressed backups.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.json.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

STAGES = ("research", "outline", "draft", "edit", "publish")
QUERIES = (
    "SELECT id, body FROM posts WHERE id = %s",
    "UPDATE posts SET body = %s WHERE id = %s",
    "INSERT INTO stage_runs (post_id, stage_id) VALUES (%s, %s)",
)
MODELS = ("gpt-4o-mini", "claude-3-5-haiku")


@dataclass
class Call:
    """A query or LLM call made inside a stage run."""

    kind: str  # "db" or "llm"
    start_ns: int
    duration_ns: int
    query: str | None = None
    model: str | None = None
    action: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    prompt_chars: int = 0
    error: str | None = None

    def span(self) -> tuple[str, dict[str, object]]:
        """The call's span name and attributes, as the blog's instrumentation sets them."""
        if self.kind == "db":
            return "SELECT", {"db.system.name": "postgresql", "db.query.text": self.query or ""}
        return f"chat {self.model}", {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self.model or "",
            "gen_ai.usage.input_tokens": self.input_tokens,
            "gen_ai.usage.output_tokens": self.output_tokens,
            "blog.llm.action": self.action or "",
            "blog.llm.prompt_chars": self.prompt_chars,
        }


@dataclass
class StageRun:
    post_id: str
    stage_id: str
    trace_id: int
    start_ns: int
    duration_ns: int
    error: str | None
    calls: list[Call] = field(default_factory=list)


@dataclass
class ErrorLog:
    time_ns: int
    post_id: str
    stage_id: str
    error_type: str
    message: str
    fingerprint: str
    count: int  # occurrences this record stands for (de-duplicated repeats)


@dataclass
class Mix:
    runs: list[StageRun]
    errors: list[ErrorLog]


def make_mix(posts: int = 12, seed: int = 3, start_ns: int = 1_700_000_000 * 10**9) -> Mix:
    rng = random.Random(seed)
    runs: list[StageRun] = []
    errors: list[ErrorLog] = []
    t = start_ns
    for p in range(posts):
        post_id = f"post-{p}"
        trace_id = rng.getrandbits(128)
        for stage_id in STAGES:
            attempts = 2 if rng.random() < 0.2 else 1  # a retried stage fails first
            for attempt in range(attempts):
                failed = attempt < attempts - 1 or rng.random() < 0.1
                run = StageRun(post_id, stage_id, trace_id, t, 0, None)
                c = t + 1_000
                for _ in range(rng.randrange(1, 4)):
                    d = rng.randrange(200_000, 30_000_000)
                    run.calls.append(Call("db", c, d, query=QUERIES[rng.randrange(3)]))
                    c += d + 1_000
                d = rng.randrange(100_000_000, 2_000_000_000)
                llm_error = "TimeoutError" if failed and rng.random() < 0.5 else None
                run.calls.append(
                    Call("llm", c, d, model=MODELS[rng.randrange(2)],
                         action=f"{stage_id}.generate", input_tokens=rng.randrange(100, 3000),
                         output_tokens=rng.randrange(10, 900),
                         prompt_chars=rng.randrange(500, 9000), error=llm_error)
                )  # fmt: skip
                c += d + 1_000
                run.duration_ns = c - t
                if failed:
                    run.error = llm_error or "ValueError"
                    errors.append(
                        ErrorLog(c, post_id, stage_id, run.error,
                                 f"{stage_id} failed for {post_id}", f"fp-{run.error}",
                                 count=rng.choice((1, 1, 1, 4)))
                    )  # fmt: skip
                runs.append(run)
                t = c + 5_000_000
            if runs[-1].error is not None:
                break  # the post stops at a stage that failed for good
    return Mix(runs, errors)


# -- the package's own files: the SDK and its OTLP/JSON encoders --------------------


def write_sdk_files(mix: Mix, directory: Path, batch: int = 7) -> None:
    """Spans and log records made by the real SDK, encoded like the file exporter."""
    directory.mkdir(parents=True, exist_ok=True)
    resource = Resource.create({"service.name": "blog", "service.version": "1.2.3"})
    span_exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("blog")
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logger_provider.get_logger("blog")
    for run in mix.runs:
        ctx = {"post_id": run.post_id, "stage_id": run.stage_id}
        # all of a post's stages in the post's trace, under a parent not in the files
        remote = SpanContext(
            run.trace_id, 0xABCDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        stage = tracer.start_span(
            f"stage {run.stage_id}", kind=SpanKind.INTERNAL, start_time=run.start_ns,
            context=trace.set_span_in_context(NonRecordingSpan(remote)),
            attributes={**ctx, "blog.stage.outcome": "error" if run.error else "ok"},
        )  # fmt: skip
        parent = trace.set_span_in_context(stage)
        for call in run.calls:
            name, attrs = call.span()
            span = tracer.start_span(
                name,
                context=parent,
                kind=SpanKind.CLIENT,
                start_time=call.start_ns,
                attributes={**ctx, **attrs},
            )
            if call.error:
                span.set_attribute("error.type", call.error)
                span.set_status(Status(StatusCode.ERROR, call.error))
            span.end(end_time=call.start_ns + call.duration_ns)
        if run.error:
            stage.set_status(Status(StatusCode.ERROR, run.error))
        stage.end(end_time=run.start_ns + run.duration_ns)
    for err in mix.errors:
        attrs: dict[str, Any] = {
            "post_id": err.post_id, "stage_id": err.stage_id, "error.type": err.error_type,
            "exception.type": err.error_type, "exception.message": err.message,
            "blog.error.fingerprint": err.fingerprint,
        }  # fmt: skip
        if err.count > 1:
            attrs["blog.error.count"] = err.count
        logger.emit(
            timestamp=err.time_ns,
            severity_number=SeverityNumber.ERROR,
            severity_text="error",
            body="stage.failed",
            attributes=attrs,
        )
    spans = span_exporter.get_finished_spans()
    records = log_exporter.get_finished_logs()
    with open(directory / "traces.jsonl", "wb") as out:
        for i in range(0, len(spans), batch):
            out.write(orjson.dumps(encode_spans(spans[i : i + batch]).to_dict()) + b"\n")
    with open(directory / "logs.jsonl", "wb") as out:
        for i in range(0, len(records), batch):
            out.write(orjson.dumps(encode_logs(records[i : i + batch]).to_dict()) + b"\n")


# -- a collector's files, written by hand ----------------------------------------------


def _value(v: object) -> dict[str, Any]:
    if isinstance(v, int):
        return {"intValue": str(v)}
    return {"stringValue": str(v)}


def _attrs(values: dict[str, object]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items()]


def _collector_items(mix: Mix) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(99)
    spans: list[dict[str, Any]] = []
    for run in mix.runs:
        ctx = {"post_id": run.post_id, "stage_id": run.stage_id}
        trace_id = f"{run.trace_id:032x}"
        stage_id = f"{rng.getrandbits(64):016x}"
        for call in run.calls:
            name, attrs = call.span()
            if call.error:
                attrs["error.type"] = call.error
            spans.append({
                "traceId": trace_id, "spanId": f"{rng.getrandbits(64):016x}",
                "parentSpanId": stage_id, "flags": 256, "name": name, "kind": 3,
                "startTimeUnixNano": str(call.start_ns),
                "endTimeUnixNano": str(call.start_ns + call.duration_ns),
                "attributes": _attrs({**ctx, **attrs}),
                "status": {"code": 2, "message": call.error} if call.error else {},
            })  # fmt: skip
        spans.append({
            "traceId": trace_id, "spanId": stage_id, "flags": 256,
            "name": f"stage {run.stage_id}", "kind": 1,
            "startTimeUnixNano": str(run.start_ns),
            "endTimeUnixNano": str(run.start_ns + run.duration_ns),
            "attributes": _attrs({**ctx, "blog.stage.outcome": "error" if run.error else "ok"}),
            "status": {"code": 2, "message": run.error} if run.error else {},
        })  # fmt: skip
    logs = []
    for err in mix.errors:
        attrs = {
            "post_id": err.post_id,
            "stage_id": err.stage_id,
            "error.type": err.error_type,
            "exception.type": err.error_type,
            "exception.message": err.message,
            "blog.error.fingerprint": err.fingerprint,
        }
        if err.count > 1:
            attrs["blog.error.count"] = err.count
        logs.append({
            "timeUnixNano": str(err.time_ns), "observedTimeUnixNano": str(err.time_ns + 5),
            "severityNumber": 17, "severityText": "error", "body": {"stringValue": "stage.failed"},
            "attributes": _attrs(attrs),
        })  # fmt: skip
    return spans, logs


def _resource(name: str) -> dict[str, Any]:
    return {"attributes": _attrs({"service.name": name, "host.name": "web-1"})}


def write_collector_files(mix: Mix, directory: Path) -> list[Path]:
    """The mix as a collector's file exporter leaves it: one file for all signals,
    rotated twice (the oldest backup gzip-compressed), two resources in some lines."""
    directory.mkdir(parents=True, exist_ok=True)
    spans, logs = _collector_items(mix)
    lines: list[bytes] = []
    for i in range(0, len(spans), 10):
        part = spans[i : i + 10]
        # the collector batches across processes: two resources in one request
        request = {"resourceSpans": [
            {"resource": _resource("blog"), "scopeSpans": [
                {"scope": {"name": "blog"}, "spans": part[:5]}]},
            {"resource": _resource("blog"), "scopeSpans": [
                {"scope": {"name": "opentelemetry.instrumentation.psycopg"},
                 "spans": part[5:]}]},
        ]}  # fmt: skip
        lines.append(orjson.dumps(request) + b"\n")
    for i in range(0, len(logs), 4):
        request = {"resourceLogs": [{"resource": _resource("blog"), "scopeLogs": [
            {"scope": {}, "logRecords": logs[i : i + 4]}]}]}  # fmt: skip
        lines.append(orjson.dumps(request) + b"\n")
    third = len(lines) // 3
    oldest = directory / "otel-2023-11-14T22-10-01.123.jsonl.gz"
    older = directory / "otel-2023-11-14T23-00-00.000.jsonl"
    live = directory / "otel.jsonl"
    with gzip.open(oldest, "wb") as out:
        out.writelines(lines[:third])
    older.write_bytes(b"".join(lines[third : 2 * third]))
    live.write_bytes(b"".join(lines[2 * third :]))
    return [oldest, older, live]
