"""The files are the collector's format: every line is a request a collector accepts.

The example blog writes its files; each line of ``traces.jsonl``,
``logs.jsonl`` and ``metrics.jsonl`` is then POSTed as it is to rotel's
OTLP/HTTP JSON receiver. Every request must be accepted whole (200, no partial
success), and what rotel then reports must be the same items with the same
trace and span ids as the files hold, read by an implementation nobody here wrote.
Each line must also parse strictly (no unknown field, right types) with
protobuf's own proto3-JSON parser into its ``Export*ServiceRequest`` message.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fixtures.collector import RotelCollector
from tests.fixtures.postgres import PostgresServer
from tests.support import otlp_files
from tests.support.otlp_files import FileMetricPoint
from tests.support.rotel_output import ReceivedMetricPoint
from tests.support.runs import run_blog

SIGNALS = {"traces.jsonl": "/v1/traces", "logs.jsonl": "/v1/logs", "metrics.jsonl": "/v1/metrics"}
MESSAGES: dict[str, type[Message]] = {
    "traces.jsonl": ExportTraceServiceRequest,
    "logs.jsonl": ExportLogsServiceRequest,
    "metrics.jsonl": ExportMetricsServiceRequest,
}


def _post(url: str, line: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=line.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def _rejected(answer: dict[str, Any]) -> int:
    partial = answer.get("partialSuccess") or {}
    return sum(int(v) for k, v in partial.items() if k.startswith("rejected"))


@pytest.fixture(scope="module")
def data_dir(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The files of one run of the example blog (3 posts, real PostgreSQL)."""
    data_dir = tmp_path_factory.mktemp("blog") / "telemetry-data"
    database = pg_server.create_database()
    try:
        run = run_blog("--posts", "3", "--data-dir", str(data_dir), DATABASE_URL=database)
        assert run.returncode == 0, run.describe()
        yield data_dir
    finally:
        pg_server.drop_database(database)


def test_every_line_is_accepted_whole_by_a_collector(rotel: RotelCollector, data_dir: Path) -> None:
    lines = 0
    for name, path in SIGNALS.items():
        for line in otlp_files.read_lines(data_dir / name):
            assert _rejected(_post(f"{rotel.http_endpoint}{path}", line)) == 0
            lines += 1
    assert lines >= 3

    spans = otlp_files.spans(data_dir)
    records = otlp_files.log_records(data_dir)
    metrics = otlp_files.metrics(data_dir)
    received = rotel.wait_for(
        lambda r: (
            (len(r.spans), len(r.logs), len(r.metric_descriptors))
            >= (len(spans), len(records), len(metrics))
        )
    )
    assert Counter((s.trace_id, s.span_id, s.parent_span_id, s.name) for s in received.spans) == (
        Counter((s.trace_id, s.span_id, s.parent_span_id, s.name) for s in spans)
    )
    assert Counter((r.trace_id, r.span_id, r.body, r.severity_number) for r in received.logs) == (
        Counter((r.trace_id, r.span_id, r.body, r.severity_number) for r in records)
    )
    assert {s.resource["service.name"] for s in received.spans} == {"blog"}

    # rotel (0.0.1a15) decodes 64-bit integers in metric points only from JSON
    # numbers, while OTLP/JSON writes them as strings (as these files do, and as
    # the proto3 JSON mapping requires readers to accept): it prints integer
    # values as absent and histograms, or sums with integer exemplars, as
    # DataType Empty. So every metric must arrive by name, and the points rotel
    # can read (double values) must match exactly.
    assert Counter(m.name for m in received.metric_descriptors) == Counter(n for n, _ in metrics)
    doubles = [p for p in otlp_files.metric_points(data_dir) if "asDouble" in p.point]
    readable = {p.name for p in received.metrics if p.value is not None}
    expected = Counter(_file_point(p) for p in doubles if p.name in readable)
    assert expected, "no double-valued points to compare"
    assert Counter(map(_number_point, received.metrics)) >= expected


def test_every_line_parses_strictly_as_its_protobuf_message(data_dir: Path) -> None:
    """protobuf's own proto3-JSON parser rejects unknown fields and wrong types."""
    for name, message in MESSAGES.items():
        lines = otlp_files.read_lines(data_dir / name)
        assert lines, f"{name} is empty"
        for line in lines:
            json_format.Parse(line, message(), ignore_unknown_fields=False)


def _number_point(point: ReceivedMetricPoint) -> tuple[str, str, str]:
    return point.name, repr(sorted(point.attributes.items())), _digits(point.value)


def _file_point(point: FileMetricPoint) -> tuple[str, str, str]:
    return point.name, repr(sorted(point.attributes.items())), _digits(point.point["asDouble"])


def _digits(value: float | str | None) -> str:
    """12 significant digits: rotel's JSON float parsing may land one ulp off."""
    return "absent" if value is None else f"{float(value):.12g}"
