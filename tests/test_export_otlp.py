"""OTLP export to a real collector (rotel), by signal: only what has an endpoint leaves."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import telemetry
from tests.fixtures.collector import RotelCollector
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_traces_only_endpoint_sends_spans_and_keeps_logs_local(
    telemetry_files: Callable[..., FilesPipeline],
    rotel: RotelCollector,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
) -> None:
    endpoint = rotel.grpc_endpoint if protocol == "grpc" else f"{rotel.http_endpoint}/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    run = telemetry_files(otlp_protocol=protocol)
    with telemetry.stage("publish", post_id="p-otlp"):
        telemetry.get_logger("t").info("published")
    data_dir = run.finish()
    received = rotel.wait_for(lambda r: r.spans)
    assert [s.name for s in received.spans] == ["stage publish"]
    assert received.spans[0].attributes["post_id"] == "p-otlp"
    assert received.logs == []  # no endpoint for logs: they stay in the files
    assert [r.body for r in otlp_files.log_records(data_dir)].count("published") == 1
