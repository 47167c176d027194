"""Overhead of the package on the blog's hot paths, next to the bare stack, in one process.

``python -m benchmarks.overhead GROUP`` runs one group and prints its rows;
``python -m benchmarks`` runs every group, each in a fresh interpreter, so the
instrumentation one group installs (global providers, patched psycopg, structlog
configuration) cannot change another's figures.

Groups:

``db``     psycopg ``SELECT 1`` on a real PostgreSQL (pgserver, temporary folder):
           bare psycopg; the contrib ``PsycopgInstrumentor`` alone on an SDK
           ``TracerProvider``; this package (``telemetry.setup()``). Three
           connections made one after the other, so all three run interleaved.
``logs``   one log event: a bare structlog JSON event plus a bare OTel
           ``Logger.emit`` (their sum is the baseline); structlog -> stdlib
           ``logging`` -> the SDK's ``LoggingHandler``; ``telemetry.get_logger()``.
``stage``  ``telemetry.stage()`` against a bare SDK span.
``llm``    ``telemetry.llm_call()`` against a bare SDK span with the same attributes.

Every baseline provider exports through a ``BatchSpanProcessor`` /
``BatchLogRecordProcessor`` into an exporter that encodes OTLP/JSON lines to a
file, the same work the package's file exporter does in its background thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from benchmarks.harness import (
    JsonLinesLogExporter,
    JsonLinesSpanExporter,
    Row,
    Timing,
    Variant,
    format_table,
    measure,
    write_rows,
)

POST_ID = "post-42"
STAGE_ID = "draft"
TITLE = "Ten things nobody tells you about tracing"
PROMPT = "Write the draft of a blog post about tracing. " * 40

# group: (operations per timed batch, repeats); --quick halves both. A batch never
# queues 512 items (the SDK's export batch size), so the exporter thread stays idle
# while the operations are timed and does all of its work in the timed flush.
SIZES = {
    "db": (100, 41),  # per statement; short batches pair bare and instrumented closely
    "logs": (400, 31),
    "stage": (200, 25),  # a stage makes 1 span and 2 log records
    "llm": (300, 25),
}


def _log(message: str) -> None:
    print(f"  [{os.getpid()}] {message}", file=sys.stderr, flush=True)


def _setup_package(tmp: Path):  # type: ignore[no-untyped-def]
    import telemetry

    handle = telemetry.setup(
        data_dir=tmp / "telemetry-data", service_name="bench", metric_export_interval_s=60.0
    )
    assert handle.tracer_provider is not None and handle.logger_provider is not None
    return handle


def _bare_tracer_provider(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"bench-{name}"}), shutdown_on_exit=False
    )
    exporter = JsonLinesSpanExporter(tmp / f"{name}-traces.jsonl")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def _bare_logger_provider(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(
        resource=Resource.create({"service.name": f"bench-{name}"}), shutdown_on_exit=False
    )
    exporter = JsonLinesLogExporter(tmp / f"{name}-logs.jsonl")
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider, exporter


def _count_records(path: Path, kind: str, name: str | None = None) -> int:
    """How many spans (named ``name``) or log records the package wrote to ``path``."""
    total = 0
    if not path.exists():
        return 0
    with path.open("rb") as lines:
        for line in lines:
            request = orjson.loads(line)
            for resource in request.get(f"resource{kind}", []):
                for scope in resource.get(f"scope{kind}", []):
                    items = scope.get("spans" if kind == "Spans" else "logRecords", [])
                    total += sum(1 for i in items if name is None or i.get("name") == name)
    return total


def _calls(n: int, repeats: int) -> int:
    return max(10, n // 5) + n * repeats


def _check(what: str, expected: int, got: int) -> str:
    if got >= expected:
        return ""
    return f"{what}: {expected - got} of {expected} records were not exported (queue overflow?)"


# ---------------------------------------------------------------------------
# groups


def bench_db(n: int, repeats: int, tmp: Path) -> list[Row]:
    # Both instrumented variants on the stable database conventions (the package opts
    # in at setup(); the contrib-alone connection must be made under the same mode).
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "database"
    import pgserver  # type: ignore[import-untyped]
    import psycopg
    from opentelemetry import metrics
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import telemetry

    started = time.perf_counter()
    server = pgserver.get_server(tmp / "pgdata", cleanup_mode="stop")
    uri = server.get_uri()
    _log(f"PostgreSQL up in {time.perf_counter() - started:.1f}s")
    try:
        bare = psycopg.connect(uri, autocommit=True)

        # contrib alone: an SDK app that only added PsycopgInstrumentor. Its query
        # histogram goes to the global MeterProvider, an SDK one here, as in such an app.
        contrib_provider, contrib_exporter = _bare_tracer_provider(tmp, "contrib")
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
        instrumentor = PsycopgInstrumentor()
        instrumentor.instrument(
            tracer_provider=contrib_provider, enable_commenter=False, capture_parameters=False
        )
        contrib = psycopg.connect(uri, autocommit=True)
        instrumentor.uninstrument()

        handle = _setup_package(tmp)  # instruments psycopg again, on its own providers
        package = psycopg.connect(uri, autocommit=True)
        pkg_tracer = handle.tracer_provider

        def query(conn: psycopg.Connection, sql: str, *params: object) -> Callable[[], object]:
            args = params or None
            return lambda: conn.execute(sql, args).fetchone()  # type: ignore[arg-type]

        # SELECT 1 (the figure the issue asks for) and a parameterised statement like
        # the blog's: the package sanitises inline literals out of db.query.text when it
        # exports, so a literal costs it a copy of the span that a placeholder does not.
        # Queries run inside a stage, as in the blog: the package stamps post_id and
        # stage_id on them; the contrib's spans become children of the same stage span.
        # One measurement per statement, so each instrumented batch runs right next to
        # the bare batch it is compared with.
        t: dict[str, Timing] = {}
        with telemetry.stage(STAGE_ID, post_id=POST_ID):
            for label, sql, params in (("", "SELECT 1", ()), (" %s", "SELECT %s::int", (1,))):
                variants = [
                    Variant(f"bare{label}", query(bare, sql, *params)),
                    Variant(
                        f"contrib{label}",
                        query(contrib, sql, *params),
                        contrib_provider.force_flush,
                    ),
                    Variant(
                        f"package{label}", query(package, sql, *params), pkg_tracer.force_flush
                    ),
                ]
                t.update(measure(variants, n, repeats))
        handle.shutdown()
        contrib_provider.shutdown()
        for conn in (bare, contrib, package):
            conn.close()
    finally:
        server.cleanup()

    calls = 2 * _calls(n, repeats)
    traces = tmp / "telemetry-data" / "traces.jsonl"
    problems = [
        _check("contrib", calls, contrib_exporter.sink.items),
        _check("package", calls, _count_records(traces, "Spans", "SELECT")),
    ]
    bare_t, contrib_t, pkg_t = t["bare"], t["contrib"], t["package"]
    rows = [
        _row("psycopg SELECT 1: contrib alone", "bare psycopg", bare_t, contrib_t),
        _row("psycopg SELECT 1: this package", "bare psycopg", bare_t, pkg_t),
    ]
    for label, what in (("", "SELECT 1"), (" %s", "SELECT %s")):
        bare_t, contrib_t, pkg_t = t[f"bare{label}"], t[f"contrib{label}"], t[f"package{label}"]
        rows.append(
            _row(
                f"psycopg {what}: added cost",
                "contrib's added cost",
                contrib_t.minus(bare_t),
                pkg_t.minus(bare_t),
                target=1.25,
                note="medians of per-repeat differences from bare psycopg; "
                + _spread_note({k: v for k, v in t.items() if ("%s" in k) == bool(label)})
                + "".join(f"; {p}" for p in problems if p),
            )
        )
    return rows


def bench_logs(n: int, repeats: int, tmp: Path) -> list[Row]:
    import structlog
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggingHandler

    import telemetry

    handle = _setup_package(tmp)
    devnull = open(os.devnull, "w")  # noqa: SIM115  # closed at the end of the group

    # bare structlog, rendering JSON lines (a typical production configuration)
    json_log = structlog.wrap_logger(
        structlog.PrintLogger(devnull),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    ).bind(post_id=POST_ID, stage_id=STAGE_ID)

    # bare OTel Logger.emit on an SDK LoggerProvider
    emit_provider, emit_exporter = _bare_logger_provider(tmp, "emit")
    otel_logger = emit_provider.get_logger("bench")

    def bare_emit() -> None:
        otel_logger.emit(
            timestamp=time.time_ns(),
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="post.saved",
            attributes={
                "post_id": POST_ID,
                "stage_id": STAGE_ID,
                "words": 1234,
                "title": TITLE,
                "ok": True,
            },
        )

    # the stdlib route: structlog -> logging -> the SDK's LoggingHandler
    stdlib_provider, stdlib_exporter = _bare_logger_provider(tmp, "stdlib")
    std_logger = logging.getLogger("bench.stdlib")
    std_logger.propagate = False  # not also through the package's bridge on the root logger
    std_logger.setLevel(logging.INFO)
    std_logger.addHandler(LoggingHandler(logger_provider=stdlib_provider))
    stdlib_log = structlog.wrap_logger(
        std_logger,
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
    ).bind(post_id=POST_ID, stage_id=STAGE_ID)

    pkg_log = telemetry.get_logger("bench")
    pkg_logs = handle.logger_provider

    def event(log: object) -> Callable[[], object]:
        info = log.info  # type: ignore[attr-defined]
        return lambda: info("post.saved", words=1234, title=TITLE, ok=True)

    variants = [
        Variant("structlog-json", event(json_log)),
        Variant("emit", bare_emit, emit_provider.force_flush),
        Variant("stdlib", event(stdlib_log), stdlib_provider.force_flush),
        Variant("package", event(pkg_log), pkg_logs.force_flush),
    ]
    with telemetry.stage(STAGE_ID, post_id=POST_ID):
        t = measure(variants, n, repeats)
    handle.shutdown()
    emit_provider.shutdown()
    stdlib_provider.shutdown()
    devnull.close()

    calls = _calls(n, repeats)
    problems = [
        _check("emit", calls, emit_exporter.sink.items),
        _check("stdlib", calls, stdlib_exporter.sink.items),
        _check(
            "package",
            calls,
            _count_records(tmp / "telemetry-data" / "logs.jsonl", "Logs") - 2,  # the stage's own
        ),
    ]
    js, emit, std, pkg = t["structlog-json"], t["emit"], t["stdlib"], t["package"]
    summed = Timing(js.us + emit.us, js.us_flush + emit.us_flush, 0.0)
    return [
        _row(
            "log event vs JSON + emit",
            "structlog JSON + Logger.emit",
            summed,
            pkg,
            target=1.25,
            note=(
                f"structlog JSON event {js.us:.1f} us, bare Logger.emit {emit.us:.1f} us "
                f"({emit.us_flush:.1f} with flush); " + _spread_note(t)
            )
            + "".join(f"; {p}" for p in problems if p),
        ),
        _row("log event vs stdlib route", "structlog->stdlib->LoggingHandler", std, pkg, 1.0, True),
    ]


def bench_stage(n: int, repeats: int, tmp: Path) -> list[Row]:
    import telemetry

    handle = _setup_package(tmp)
    bare_provider, _ = _bare_tracer_provider(tmp, "stage")
    tracer = bare_provider.get_tracer("bench")
    attributes = {"post_id": POST_ID, "stage_id": STAGE_ID}

    def bare() -> None:
        with tracer.start_as_current_span(f"stage {STAGE_ID}", attributes=attributes):
            pass

    def package() -> None:
        with telemetry.stage(STAGE_ID, post_id=POST_ID):
            pass

    def flush_package() -> None:
        handle.tracer_provider.force_flush()
        handle.logger_provider.force_flush()

    variants = [Variant("bare", bare, bare_provider.force_flush)]
    variants.append(Variant("package", package, flush_package))
    t = measure(variants, n, repeats)
    handle.shutdown()
    bare_provider.shutdown()
    return [
        _row(
            "stage()",
            "bare SDK span",
            t["bare"],
            t["package"],
            note="stage() also binds post_id/stage_id (context + baggage), logs stage.started "
            "and stage.completed, and records blog.stage.duration and blog.stage.active; "
            + _spread_note(t),
        )
    ]


def bench_llm(n: int, repeats: int, tmp: Path) -> list[Row]:
    from opentelemetry.trace import SpanKind

    import telemetry

    handle = _setup_package(tmp)
    bare_provider, _ = _bare_tracer_provider(tmp, "llm")
    tracer = bare_provider.get_tracer("bench")

    def bare() -> None:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "blog.llm.action": "draft",
                "blog.llm.prompt_chars": len(PROMPT),
            },
        ) as span:
            span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": 812,
                    "gen_ai.usage.output_tokens": 455,
                    "gen_ai.response.finish_reasons": ["stop"],
                }
            )

    def package() -> None:
        with telemetry.llm_call(action="draft", model="gpt-4o", prompt=PROMPT) as call:
            call.record(input_tokens=812, output_tokens=455, finish_reason="stop")

    variants = [
        Variant("bare", bare, bare_provider.force_flush),
        Variant("package", package, handle.tracer_provider.force_flush),
    ]
    with telemetry.stage(STAGE_ID, post_id=POST_ID):
        t = measure(variants, n, repeats)
    handle.shutdown()
    bare_provider.shutdown()
    return [
        _row(
            "llm_call()",
            "bare SDK span, same attributes",
            t["bare"],
            t["package"],
            note="llm_call() also records gen_ai.client.operation.duration, "
            "gen_ai.client.token.usage (x2) and blog.llm.requests; " + _spread_note(t),
        )
    ]


GROUPS: dict[str, Callable[[int, int, Path], list[Row]]] = {
    "db": bench_db,
    "logs": bench_logs,
    "stage": bench_stage,
    "llm": bench_llm,
}


def _row(
    operation: str,
    baseline: str,
    base: Timing,
    measured: Timing,
    target: float | None = None,
    strict: bool = False,
    note: str = "",
) -> Row:
    return Row(
        operation,
        baseline,
        base.us,
        measured.us,
        base.us_flush,
        measured.us_flush,
        target=target,
        strict=strict,
        note=note,
    )


def _spread_note(timings: dict[str, Timing]) -> str:
    spreads = ", ".join(f"{name} {t.spread:.0%}" for name, t in timings.items())
    return f"spread (IQR/median) {spreads}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__)
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--quick", action="store_true", help="half the operations and repeats")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    n, repeats = SIZES[args.group]
    if args.quick:
        n, repeats = n // 2, max(7, repeats // 2)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.group}-") as tmp:
        rows = GROUPS[args.group](n, repeats, Path(tmp))
    elapsed = time.perf_counter() - started
    _log(f"{args.group}: {n} ops x {repeats} repeats per variant in {elapsed:.1f}s")
    if args.json:
        write_rows(args.json, rows, {"group": args.group, "n": n, "repeats": repeats})
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
