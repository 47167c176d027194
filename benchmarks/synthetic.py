"""A synthetic telemetry file set in the exact on-disk format, for benchmarks.

Writes ``traces.jsonl`` and ``logs.jsonl`` the way the package's file exporter (and
the collector's ``file`` exporter) does: one OTLP/JSON export request per line, a
line per exporter batch (512 items, the SDK's default batch size). The content is
the blog's workflow: per post, one span per stage, three database queries and one
LLM call per stage, and a few structlog events per stage, with a fixed share of
failures. Records are built as plain dicts and serialised with orjson because
going through the SDK would make generating a million spans take longer than the
benchmark it feeds.
"""

from __future__ import annotations

import argparse
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

BATCH_SIZE = 512
STAGES = ("research", "outline", "draft", "edit", "publish")
QUERIES = (
    ("SELECT", "posts", "SELECT id, title, body FROM posts WHERE id = %s"),
    ("UPDATE", "posts", "UPDATE posts SET body = %s, stage = %s WHERE id = %s"),
    (
        "INSERT",
        "stage_runs",
        "INSERT INTO stage_runs (post_id, stage_id, outcome) VALUES (%s, %s, %s)",
    ),
    ("SELECT", "sources", "SELECT url, excerpt FROM sources WHERE post_id = %s ORDER BY rank"),
)
MODELS = ("gpt-4o-mini", "claude-3-5-haiku")
ERRORS = (
    ("TimeoutError", "LLM call timed out after 30 s"),
    (
        "psycopg.errors.UniqueViolation",
        'duplicate key value violates unique constraint "posts_pkey"',
    ),
    ("ValueError", "outline has no sections"),
)


_STACK = 'Traceback (most recent call last):\n  File "blog/stages.py", line 42, in run\n{}: {}\n'


def _attr(key: str, value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _attrs(values: dict[str, object]) -> list[dict[str, Any]]:
    return [_attr(k, v) for k, v in values.items()]


_RESOURCE = {
    "attributes": _attrs(
        {
            "service.name": "blog",
            "service.version": "1.0.0",
            "deployment.environment.name": "bench",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
        }
    )
}


class _Workflow:
    """Generates spans and log records post by post, with a seeded RNG."""

    def __init__(self, seed: int, start_ns: int, spread_ns: int) -> None:
        self._rng = random.Random(seed)
        self._start_ns = start_ns
        self._spread_ns = spread_ns
        self._post = 0

    def _hex(self, bits: int) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def post(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rng = self._rng
        self._post += 1
        post_id = f"post-{self._post}"
        trace_id = self._hex(128)
        t = self._start_ns + rng.randrange(self._spread_ns)
        spans: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for stage_id in STAGES:
            stage_span = self._hex(64)
            stage_start = t
            failed = rng.random() < 0.05
            ctx = {"post_id": post_id, "stage_id": stage_id}
            logs.append(self._log(t, trace_id, stage_span, 9, "info", "stage.started", ctx))
            for _ in range(3):
                op, table, sql = QUERIES[rng.randrange(len(QUERIES))]
                dur = int(rng.expovariate(1 / 4e6))
                spans.append(
                    self._span(
                        trace_id,
                        self._hex(64),
                        stage_span,
                        f"{op} {table}",
                        3,
                        t,
                        t + dur,
                        {
                            **ctx,
                            "db.system.name": "postgresql",
                            "db.query.text": sql,
                            "db.operation.name": op,
                            "db.collection.name": table,
                        },
                        error=None,
                    )
                )
                t += dur + 50_000
            model = MODELS[rng.randrange(len(MODELS))]
            dur = int(rng.uniform(0.2e9, 3e9))
            error = ERRORS[0] if failed and rng.random() < 0.5 else None
            spans.append(
                self._span(
                    trace_id,
                    self._hex(64),
                    stage_span,
                    f"chat {model}",
                    3,
                    t,
                    t + dur,
                    {
                        **ctx,
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": rng.randrange(200, 4000),
                        "gen_ai.usage.output_tokens": rng.randrange(50, 1500),
                        "blog.llm.action": f"{stage_id}.generate",
                        "blog.llm.prompt_chars": rng.randrange(800, 16000),
                    },
                    error=error,
                )
            )
            logs.append(self._log(t + dur, trace_id, stage_span, 9, "info", "llm.completed", ctx))
            t += dur + 100_000
            if failed:
                etype, message = error or ERRORS[1 + rng.randrange(2)]
                logs.append(
                    self._log(
                        t,
                        trace_id,
                        stage_span,
                        17,
                        "error",
                        "stage.failed",
                        {
                            **ctx,
                            "error.type": etype,
                            "exception.type": etype,
                            "exception.message": message,
                            "exception.stacktrace": _STACK.format(etype, message),
                            "blog.error.fingerprint": f"{zlib.crc32(etype.encode()):016x}",
                        },
                    )
                )
            else:
                logs.append(self._log(t, trace_id, stage_span, 9, "info", "stage.finished", ctx))
            spans.append(
                self._span(
                    trace_id,
                    stage_span,
                    "",
                    f"stage {stage_id}",
                    1,
                    stage_start,
                    t,
                    {**ctx, "blog.stage.outcome": "error" if failed else "ok"},
                    error=(etype, message) if failed else None,
                )
            )
            if failed:
                break
        return spans, logs

    def _span(
        self,
        trace_id: str,
        span_id: str,
        parent: str,
        name: str,
        kind: int,
        start: int,
        end: int,
        attributes: dict[str, object],
        error: tuple[str, str] | None,
    ) -> dict[str, Any]:
        span: dict[str, Any] = {"traceId": trace_id, "spanId": span_id}
        if parent:
            span["parentSpanId"] = parent
        span.update(
            flags=256,
            name=name,
            kind=kind,
            startTimeUnixNano=str(start),
            endTimeUnixNano=str(end),
            attributes=_attrs(attributes),
        )
        if error is not None:
            span["attributes"].append(_attr("error.type", error[0]))
            span["events"] = [
                {
                    "timeUnixNano": str(end),
                    "name": "exception",
                    "attributes": _attrs(
                        {"exception.type": error[0], "exception.message": error[1]}
                    ),
                }
            ]
            span["status"] = {"message": error[1], "code": 2}
        else:
            span["status"] = {}
        return span

    def _log(
        self,
        t: int,
        trace_id: str,
        span_id: str,
        severity: int,
        text: str,
        event: str,
        attributes: dict[str, object],
    ) -> dict[str, Any]:
        return {
            "timeUnixNano": str(t),
            "observedTimeUnixNano": str(t + 1000),
            "severityNumber": severity,
            "severityText": text,
            "body": {"stringValue": event},
            "attributes": _attrs(attributes),
            "flags": 1,
            "traceId": trace_id,
            "spanId": span_id,
        }


def _batches(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_file_set(
    directory: Path, spans: int, logs: int, *, seed: int = 7, hours: float = 24.0
) -> tuple[int, int]:
    """Write at least ``spans`` spans and ``logs`` log records under ``directory``.

    Timestamps spread over the last ``hours`` hours. Returns the exact counts written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    spread = int(hours * 3600e9)
    workflow = _Workflow(seed, time.time_ns() - spread, spread)
    scope = {"name": "telemetry", "version": "0.1.0"}
    n_spans = n_logs = 0
    span_buf: list[dict[str, Any]] = []
    log_buf: list[dict[str, Any]] = []
    with (
        (directory / "traces.jsonl").open("wb") as traces,
        (directory / "logs.jsonl").open("wb") as logf,
    ):
        while n_spans < spans or n_logs < logs:
            post_spans, post_logs = workflow.post()
            if n_spans < spans:
                span_buf += post_spans
                n_spans += len(post_spans)
            if n_logs < logs:
                log_buf += post_logs
                n_logs += len(post_logs)
            while len(span_buf) >= BATCH_SIZE:
                batch, span_buf = span_buf[:BATCH_SIZE], span_buf[BATCH_SIZE:]
                traces.write(_trace_line(batch, scope))
            while len(log_buf) >= BATCH_SIZE:
                batch, log_buf = log_buf[:BATCH_SIZE], log_buf[BATCH_SIZE:]
                logf.write(_log_line(batch, scope))
        if span_buf:
            traces.write(_trace_line(span_buf, scope))
        if log_buf:
            logf.write(_log_line(log_buf, scope))
    return n_spans, n_logs


def _trace_line(batch: list[dict[str, Any]], scope: dict[str, str]) -> bytes:
    scope_spans = [{"scope": scope, "spans": batch}]
    request = {"resourceSpans": [{"resource": _RESOURCE, "scopeSpans": scope_spans}]}
    return orjson.dumps(request) + b"\n"


def _log_line(batch: list[dict[str, Any]], scope: dict[str, str]) -> bytes:
    scope_logs = [{"scope": scope, "logRecords": batch}]
    request = {"resourceLogs": [{"resource": _RESOURCE, "scopeLogs": scope_logs}]}
    return orjson.dumps(request) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    args = parser.parse_args()
    print(write_file_set(args.directory, args.spans, args.logs))


if __name__ == "__main__":
    main()
