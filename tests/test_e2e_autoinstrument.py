"""Zero-code start-up: ``opentelemetry-instrument python app.py`` writes the files.

The application (``tests/support/zero_code_app.py``) has no telemetry code.
Started by the OpenTelemetry launcher, the package's distro and configurator
entry points set the pipeline up from the environment: its psycopg queries
become CLIENT spans with parameterised text, its stdlib log records become OTel
log records, and ``OTEL_SERVICE_NAME`` names the service.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import otlp_files
from tests.support.otlp_files import SPAN_KIND_CLIENT
from tests.support.runs import REPO, clean_env, python, run_timed

APP = REPO / "tests" / "support" / "zero_code_app.py"


def test_opentelemetry_instrument_writes_the_files(pg_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "telemetry-data"
    launcher = Path(python()).parent / "opentelemetry-instrument"
    env = clean_env(
        DATABASE_URL=pg_url,
        TELEMETRY_DATA_DIR=str(data_dir),
        OTEL_SERVICE_NAME="zero-code-blog",
    )

    run = run_timed([str(launcher), python(), str(APP)], env, timeout=60)

    assert run.returncode == 0, run.describe()
    assert run.lines == ["posts: 1"]
    spans = otlp_files.spans(data_dir)
    (insert,) = [s for s in spans if s.attributes.get("db.query.text", "").startswith("INSERT")]
    assert insert.kind == SPAN_KIND_CLIENT
    assert insert.attributes["db.system.name"] == "postgresql"
    assert insert.attributes["db.query.text"] == "INSERT INTO posts (id, title) VALUES (%s, %s)"
    assert insert.resource["service.name"] == "zero-code-blog"
    (stored,) = [r for r in otlp_files.log_records(data_dir) if r.body == "posts stored: 1"]
    assert stored.severity_text == "WARN"
    assert stored.resource["service.name"] == "zero-code-blog"
    metric_names = {name for name, _ in otlp_files.metrics(data_dir)}
    assert "db.client.operation.duration" in metric_names
