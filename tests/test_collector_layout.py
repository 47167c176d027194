"""The files the collector agent is configured to write are what the reports read.

The agent's ``file`` exporters (collector-config/agent.yaml) name one path per
signal and rotate with lumberjack's backup naming. This lays a file set out
exactly there, rotated, and checks the reports over it equal the reports over
the same data in the package's own layout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from telemetry.analysis import reports
from telemetry.analysis.reports import Window
from telemetry.analysis.store import open_store
from telemetry.export.files import backup_name
from tests.support.blog_mix import make_mix, write_sdk_files

AGENT = Path(__file__).resolve().parent.parent / "collector-config" / "agent.yaml"
MIX = make_mix(posts=10, seed=11)


def _agent_file_paths() -> dict[str, Path]:
    agent = yaml.safe_load(AGENT.read_text())
    paths = {}
    for signal, pipeline in agent["service"]["pipelines"].items():
        for name in pipeline["exporters"]:
            if name.split("/")[0] == "file":
                paths[signal] = Path(agent["exporters"][name]["path"])
    return paths


def _as_the_agent_writes(own: Path, root: Path) -> Path:
    """Copy ``own``'s files to the agent's paths under ``root``, each rotated once."""
    directories = set()
    for signal, path in _agent_file_paths().items():
        target = root / path.relative_to(path.anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        directories.add(target.parent)
        lines = (own / f"{signal}.jsonl").read_bytes().splitlines(keepends=True)
        half = len(lines) // 2
        backup = backup_name(target, datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC))
        backup.write_bytes(b"".join(lines[:half]))
        target.write_bytes(b"".join(lines[half:]))
    (directory,) = directories
    return directory


def _report_rows(directory: Path) -> list[list[tuple[object, ...]]]:
    connection, stats = open_store(directory)
    assert stats.corrupt == {}
    try:
        return [
            [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]
            for rows in (
                report(connection, Window()).rows
                for report in (reports.errors, reports.queries, reports.stages, reports.llm)
            )
        ]
    finally:
        connection.close()


def test_reports_over_the_agents_file_layout_equal_the_packages_own(tmp_path: Path) -> None:
    own = tmp_path / "own"
    write_sdk_files(MIX, own)
    (own / "metrics.jsonl").touch(exist_ok=True)  # the mix has spans and logs only
    collector_dir = _as_the_agent_writes(own, tmp_path / "collector-root")
    assert sorted(p.name for p in collector_dir.iterdir() if not p.name.startswith(".")) == [
        "logs-2026-12-01T10-00-00.123.jsonl",
        "logs.jsonl",
        "metrics-2026-12-01T10-00-00.123.jsonl",
        "metrics.jsonl",
        "traces-2026-12-01T10-00-00.123.jsonl",
        "traces.jsonl",
    ]
    expected = _report_rows(own)
    assert any(expected), "the mix must give the reports something to count"
    assert _report_rows(collector_dir) == expected
