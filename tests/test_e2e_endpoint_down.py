"""A collector that is down never holds the blog: it completes and exits promptly.

The example blog runs with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a port
that refuses connections, and at a black hole (a socket that accepts and never
answers), over gRPC and HTTP. It must finish its work, keep its local files
complete, and exit within 5 seconds of its last line of output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import otlp_files
from tests.support.runs import run_blog

EXIT_BOUND_S = 5.0
POSTS = 2


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("endpoint_kind", ["closed_endpoint", "black_hole_endpoint"])
def test_the_blog_completes_and_exits_promptly_with_the_collector_down(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path, endpoint_kind: str, protocol: str
) -> None:
    endpoint: str = request.getfixturevalue(endpoint_kind)
    data_dir = tmp_path / "telemetry-data"

    run = run_blog(
        "--posts", str(POSTS), "--data-dir", str(data_dir),
        timeout=60,
        DATABASE_URL=pg_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
    )  # fmt: skip

    assert run.returncode == 0, run.describe()
    assert run.seconds_after_last_line < EXIT_BOUND_S, run.describe()
    stages = [s for s in otlp_files.spans(data_dir) if s.name.startswith("stage ")]
    assert len({s.attributes["post_id"] for s in stages}) == POSTS
