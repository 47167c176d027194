"""``telemetry replay`` against a real collector (rotel).

Each test writes a file set the way the package and the collector's ``file``
exporter do (OTLP/JSON lines from the OpenTelemetry SDK's encoders, rotated
backups, one gzipped), replays it, and compares what rotel printed with what
the SDK produced: the same spans, log records and metric points, ids intact,
nothing twice.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.json.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.json.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from telemetry.cli import main
from telemetry.replay.checkpoint import DEFAULT_NAME, Checkpoint
from telemetry.replay.files import discover
from telemetry.replay.runner import Replayer, ReplaySummary, RetryPolicy
from telemetry.replay.transport import open_sender
from tests.fixtures.collector import RotelCollector
from tests.support.rotel_output import Received

SIGNALS = ("traces", "logs", "metrics")


@dataclass
class FileSet:
    """What was written, as the SDK produced it (the expected side of every test)."""

    directory: Path
    span_ids: list[tuple[str, str, str]] = field(default_factory=list)  # trace, span, parent
    log_ids: list[tuple[str, str, str]] = field(default_factory=list)  # body, trace, span
    sum_points: int = 0
    histogram_points: int = 0
    corrupt_lines: int = 0

    @property
    def points(self) -> int:
        return self.sum_points + self.histogram_points

    def lines(self) -> int:
        return sum(
            len(_read(path).splitlines())
            for path in self.directory.iterdir()
            if path.name.endswith((".jsonl", ".jsonl.gz"))
        )


def write_file_set(directory: Path, posts: int = 9) -> FileSet:
    """One trace (stage, DB and LLM spans), two log records and a metrics export per post.

    Each signal's lines are spread over a gzipped backup, a plain backup and the
    live file, named like the collector's rotation, with corrupt lines mixed in.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = FileSet(directory)
    resource = Resource.create({"service.name": "blog", "deployment.environment.name": "test"})
    span_exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    tracer = tracer_provider.get_tracer("blog")
    logger = logger_provider.get_logger("blog")
    meter = meter_provider.get_meter("telemetry")
    stage_duration = meter.create_histogram("blog.stage.duration", unit="s")
    errors = meter.create_counter("blog.errors")

    lines: dict[str, list[str]] = {name: [] for name in SIGNALS}
    for number in range(posts):
        workflow = {"post_id": f"post-{number}", "stage_id": "draft"}
        with tracer.start_as_current_span("stage draft", attributes=workflow):
            logger.emit(body="stage.started", attributes=workflow)
            with tracer.start_as_current_span(
                "SELECT posts",
                kind=SpanKind.CLIENT,
                attributes={**workflow, "db.system.name": "postgresql"},
            ):
                pass
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={**workflow, "gen_ai.operation.name": "chat"},
            ):
                pass
            logger.emit(
                body="stage.finished",
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes=workflow,
            )
        stage_duration.record(0.25 * (number + 1), {"stage_id": "draft"})
        errors.add(1, {"error.type": "TimeoutError" if number % 2 else "RateLimitError"})

        finished = span_exporter.get_finished_spans()
        written.span_ids += [
            (
                f"{span.context.trace_id:032x}",
                f"{span.context.span_id:016x}",
                f"{span.parent.span_id:016x}" if span.parent else "",
            )
            for span in finished
        ]
        lines["traces"].append(json.dumps(encode_spans(finished).to_dict()))
        span_exporter.clear()

        records = log_exporter.get_finished_logs()
        written.log_ids += [
            (
                str(data.log_record.body),
                f"{data.log_record.trace_id:032x}",
                f"{data.log_record.span_id:016x}",
            )
            for data in records
        ]
        lines["logs"].append(json.dumps(encode_logs(records).to_dict()))
        log_exporter.clear()

        metrics = reader.get_metrics_data()
        assert metrics is not None
        for resource_metrics in metrics.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            written.histogram_points += 1
                        else:
                            written.sum_points += 1
        lines["metrics"].append(json.dumps(encode_metrics(metrics).to_dict()))

    corrupt = {
        "traces": ['{"resourceSpans": [{"scopeSpans": ['],  # cut off mid-write
        "logs": ["not json at all", lines["traces"][0]],  # garbage, and the wrong signal
        "metrics": ['{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": 3}]}]}]}'],
    }
    now = datetime.now(UTC)
    for name in SIGNALS:
        third = max(1, len(lines[name]) // 3)
        gzipped, rotated, live = (
            lines[name][:third],
            lines[name][third : 2 * third],
            lines[name][2 * third :],
        )
        live = live[:-1] + corrupt[name] + live[-1:]  # the last line stays valid
        written.corrupt_lines += len(corrupt[name])
        older, newer = _stamp(now - timedelta(hours=2)), _stamp(now - timedelta(hours=1))
        with gzip.open(directory / f"{name}-{older}.jsonl.gz", "wt") as handle:
            handle.write("".join(line + "\n" for line in gzipped))
        (directory / f"{name}-{newer}.jsonl").write_text("".join(f"{x}\n" for x in rotated))
        (directory / f"{name}.jsonl").write_text("".join(line + "\n" for line in live))
    return written


def _stamp(moment: datetime) -> str:
    """The collector's rotation timestamp (lumberjack: 2006-01-02T15-04-05.000)."""
    return moment.strftime("%Y-%m-%dT%H-%M-%S.") + f"{moment.microsecond // 1000:03d}"


def _read(path: Path) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt") as handle:
            return handle.read()
    return path.read_text()


def received_span_ids(received: Received) -> list[tuple[str, str, str]]:
    return [(s.trace_id, s.span_id, s.parent_span_id) for s in received.spans]


def received_log_ids(received: Received) -> list[tuple[str, str, str]]:
    return [(str(r.body), r.trace_id, r.span_id) for r in received.logs]


def wait_for_everything(rotel: RotelCollector, files: FileSet, points: int) -> Received:
    """Wait until rotel has printed all expected items; then return all it has."""
    return rotel.wait_for(
        lambda got: (
            len(got.spans) >= len(files.span_ids)
            and len(got.logs) >= len(files.log_ids)
            and len(got.metrics) >= points
        )
    )


def replay(*args: str) -> int:
    return main(["replay", "--quiet", *args])


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_every_span_record_and_point_arrives_once_with_ids_intact(
    tmp_path: Path, rotel: RotelCollector, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_file_set(tmp_path / "data")
    endpoint = rotel.grpc_endpoint if protocol == "grpc" else rotel.http_endpoint

    code = replay("--dir", str(files.directory), "--endpoint", endpoint, "--protocol", protocol)

    assert code == 0
    received = wait_for_everything(rotel, files, files.points)
    assert sorted(received_span_ids(received)) == sorted(files.span_ids)
    assert sorted(received_log_ids(received)) == sorted(files.log_ids)
    assert len(received.metrics) == files.points
    kinds = {span.name: span.kind for span in received.spans}
    assert kinds["SELECT posts"] == kinds["chat gpt-4o-mini"] == "SPAN_KIND_CLIENT"
    assert {span.attributes["post_id"] for span in received.spans} == {
        f"post-{n}" for n in range(9)
    }
    assert all(span.resource["service.name"] == "blog" for span in received.spans)
    summary = capsys.readouterr().out
    assert f"{len(files.span_ids)} spans" in summary
    assert f"{files.points} points" in summary


def test_http_json_posts_each_line_as_written(tmp_path: Path, rotel: RotelCollector) -> None:
    files = write_file_set(tmp_path / "data")

    code = replay(
        "--dir", str(files.directory), "--endpoint", rotel.http_endpoint,
        "--protocol", "http/json",
    )  # fmt: skip

    assert code == 0
    # rotel's OTLP/JSON decoder drops histogram data points (checked by posting
    # such a line to it by hand), so only the counter's points can be compared
    received = wait_for_everything(rotel, files, files.sum_points)
    assert sorted(received_span_ids(received)) == sorted(files.span_ids)
    assert sorted(received_log_ids(received)) == sorted(files.log_ids)
    assert sum(point.name == "blog.errors" for point in received.metrics) == files.sum_points


def test_rerun_sends_nothing_already_acknowledged(
    tmp_path: Path, rotel: RotelCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_file_set(tmp_path / "data", posts=3)
    arguments = ("--dir", str(files.directory), "--endpoint", rotel.grpc_endpoint)
    assert replay(*arguments) == 0
    first = wait_for_everything(rotel, files, files.points)
    capsys.readouterr()

    assert main(["replay", *arguments]) == 0

    table = capsys.readouterr().out
    assert "0 spans" in table and "0 records" in table and "0 points" in table
    assert rotel.received().spans == first.spans
    assert len(rotel.received().metrics) == files.points


def test_a_rotated_and_compressed_live_file_is_not_sent_again(
    tmp_path: Path, rotel: RotelCollector
) -> None:
    files = write_file_set(tmp_path / "data", posts=3)
    arguments = ("--dir", str(files.directory), "--endpoint", rotel.grpc_endpoint)
    assert replay(*arguments) == 0
    wait_for_everything(rotel, files, files.points)
    # the writer rotates traces.jsonl into a gzipped backup and starts a new one
    live = files.directory / "traces.jsonl"
    stamp = _stamp(datetime.now(UTC))
    with gzip.open(files.directory / f"traces-{stamp}.jsonl.gz", "wb") as handle:
        handle.write(live.read_bytes())
    newer = write_file_set(tmp_path / "newer", posts=2)
    live.write_text("".join(_read(path) for path in sorted(newer.directory.glob("traces*"))))
    mark = rotel.mark()

    assert replay(*arguments, "--signals", "traces") == 0

    expected = newer.span_ids  # only what the new live file holds
    got = rotel.wait_for(lambda r: len(r.spans) >= len(expected), since=mark)
    assert sorted(received_span_ids(got)) == sorted(expected)


def test_killed_halfway_then_rerun_sends_the_rest_and_nothing_twice(
    tmp_path: Path, rotel: RotelCollector
) -> None:
    files = write_file_set(tmp_path / "data", posts=150)
    checkpoint = files.directory / DEFAULT_NAME
    command = [
        sys.executable, "-m", "telemetry.cli", "replay", "--quiet",
        "--dir", str(files.directory), "--endpoint", rotel.grpc_endpoint,
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}

    first = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
    while first.poll() is None and _lines_checkpointed(checkpoint) < 20:
        threading.Event().wait(0.005)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 130, "the first run should stop part-way"
    sent_before_rerun = _lines_checkpointed(checkpoint)
    assert 0 < sent_before_rerun < files.lines()

    second = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, timeout=120)

    assert second.returncode == 0
    received = wait_for_everything(rotel, files, files.points)
    assert sorted(received_span_ids(received)) == sorted(files.span_ids)
    assert sorted(received_log_ids(received)) == sorted(files.log_ids)
    assert len(received.metrics) == files.points


def _lines_checkpointed(path: Path) -> int:
    """Lines the checkpoint counts as handled, over every target and file."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0  # not written yet
    return sum(sum(done.values()) for done in state["targets"].values())


def test_endpoint_down_then_up_retries_then_delivers(tmp_path: Path, rotel: RotelCollector) -> None:
    files = write_file_set(tmp_path / "data", posts=3)
    rotel.stop()  # the collector is down when the replay starts
    retried = threading.Event()
    replayer = Replayer(
        open_sender("grpc", rotel.grpc_endpoint, timeout_s=2.0),
        Checkpoint(tmp_path / "checkpoint.json", "grpc down-then-up"),
        retry=RetryPolicy(initial_s=0.05, max_s=0.2, give_up_after_s=60.0),
        on_retry=lambda reason, delay: retried.set(),
    )
    outcome: list[ReplaySummary] = []
    worker = threading.Thread(
        target=lambda: outcome.append(replayer.run(discover(files.directory)))
    )
    worker.start()

    assert retried.wait(timeout=30), "the replay should retry while the endpoint is down"
    rotel.restart()
    worker.join(timeout=60)

    [summary] = outcome
    assert summary.complete
    assert summary.retries >= 1
    received = wait_for_everything(rotel, files, files.points)
    assert sorted(received_span_ids(received)) == sorted(files.span_ids)
    assert len(received.metrics) == files.points


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path, rotel: RotelCollector) -> None:
    files = write_file_set(tmp_path / "data", posts=3)
    replayer = Replayer(
        open_sender("http/protobuf", rotel.http_endpoint),
        Checkpoint(tmp_path / "checkpoint.json", "corrupt"),
    )

    summary = replayer.run(discover(files.directory))

    assert sum(totals.corrupt for totals in summary.signals.values()) == files.corrupt_lines
    assert summary.signals["traces"].items == len(files.span_ids)
    assert summary.signals["traces"].files == 3
    assert summary.complete


def test_an_unfinished_last_line_waits_for_the_next_run(
    tmp_path: Path, rotel: RotelCollector
) -> None:
    files = write_file_set(tmp_path / "data", posts=3)
    live = files.directory / "logs.jsonl"
    complete = live.read_text()
    live.write_text(complete.removesuffix("\n"))  # the writer is mid-line
    checkpoint = Checkpoint(tmp_path / "checkpoint.json", "unfinished")
    sender = open_sender("grpc", rotel.grpc_endpoint)

    first = Replayer(sender, checkpoint).run(discover(files.directory, ("logs",)))
    live.write_text(complete)
    second = Replayer(sender, checkpoint).run(discover(files.directory, ("logs",)))

    assert first.signals["logs"].incomplete == 1
    assert second.signals["logs"].requests == 1
    received = rotel.wait_for(lambda r: len(r.logs) >= len(files.log_ids))
    assert sorted(received_log_ids(received)) == sorted(files.log_ids)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dir", "{missing}", "--endpoint", "http://127.0.0.1:4317"], "no such directory"),
        (["--dir", "{data}", "--endpoint", "127.0.0.1:4317"], "is not an http(s) URL"),
        (["--dir", "{data}", "--endpoint", "http://x:1", "--signals", "spans"], "--signals"),
        (["--dir", "{data}", "--endpoint", "http://x:1", "--header", "novalue"], "KEY=VALUE"),
        (["--dir", "{empty}", "--endpoint", "http://x:1"], "has no traces/logs/metrics files"),
        (
            ["--dir", "{data}", "--endpoint", "http://x:1", "--checkpoint", "{data}/no/such/f"],
            "cannot write the checkpoint",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    data = tmp_path / "data"
    (data / "traces.jsonl").parent.mkdir()
    (data / "traces.jsonl").write_text("")
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "data": data, "empty": tmp_path / "empty"}

    code = replay(*(argument.format(**paths) for argument in arguments))

    assert code == 2
    assert message in capsys.readouterr().err.replace("\n", " ")
