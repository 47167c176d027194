"""Local files: whole lines in the collector's format, rotated and retained like its exporter."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from telemetry.export import files
from telemetry.export.files import DataDirError, RotatingLineWriter, check_writable

BACKUP = re.compile(r"^traces-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.jsonl(\.gz)?$")


def _line(n: int, size: int = 100) -> bytes:
    return json.dumps({"n": n, "pad": "x" * size}).encode() + b"\n"


def test_each_span_batch_is_one_otlp_json_request_line(tmp_path: Path) -> None:
    writer = RotatingLineWriter(tmp_path / "traces.jsonl", max_bytes=10**6, backups=2)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(files.FileSpanExporter(writer)))
    with provider.get_tracer("t").start_as_current_span("outer", attributes={"n": 2**40}):
        pass
    request = json.loads((tmp_path / "traces.jsonl").read_text())
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
    assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
    assert span["startTimeUnixNano"].isdigit()  # 64-bit integers as decimal strings
    assert span["attributes"] == [{"key": "n", "value": {"intValue": str(2**40)}}]
    assert span["kind"] == 1  # enums as integers


def test_rotation_renames_with_the_collector_naming_and_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    writer = RotatingLineWriter(path, max_bytes=1000, backups=100)
    for n in range(50):
        writer.write_line(_line(n))
    backups = files.list_backups(path)
    assert backups and all(BACKUP.match(p.name) for p in backups)
    seen = [json.loads(line)["n"] for p in [*backups, path] for line in p.read_text().splitlines()]
    assert seen == list(range(50))
    assert all(p.stat().st_size <= 1000 for p in [*backups, path])


def test_retention_keeps_at_most_the_configured_number_of_backups(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    writer = RotatingLineWriter(path, max_bytes=300, backups=2)
    for n in range(30):
        writer.write_line(_line(n))
        time.sleep(0.002)  # distinct millisecond stamps in backup names
    assert len(files.list_backups(path)) == 2


def test_retention_deletes_backups_older_than_the_maximum_age(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    old = tmp_path / "traces-2020-01-01T00-00-00.000.jsonl"
    old.write_bytes(_line(0))
    os.utime(old, (0, 0))
    writer = RotatingLineWriter(path, max_bytes=200, backups=10, max_age_s=3600)
    for n in range(3):
        writer.write_line(_line(n))
    assert not old.exists()
    assert files.list_backups(path)


def test_compressed_backups_hold_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    writer = RotatingLineWriter(path, max_bytes=300, backups=10, compress=True)
    for n in range(4):
        writer.write_line(_line(n))
    backups = files.list_backups(path)
    assert backups and all(p.name.endswith(".jsonl.gz") for p in backups)
    lines = [line for p in backups for line in gzip.decompress(p.read_bytes()).splitlines()]
    lines += path.read_bytes().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2, 3]


def test_a_failed_write_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "traces.jsonl"
    writer = RotatingLineWriter(path, max_bytes=10**6, backups=1)
    writer.write_line(_line(1))
    real_write = os.write

    def disk_full_half_way(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full_half_way)
    with pytest.raises(OSError):
        writer.write_line(_line(2))
    monkeypatch.undo()
    writer.write_line(_line(3))
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [1, 3]


def test_a_writer_notices_another_process_rotated_the_file(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    writer = RotatingLineWriter(path, max_bytes=10**6, backups=5)
    writer.write_line(_line(1))
    path.rename(files.backup_name(path, files.datetime.now(files.UTC)))  # as another process would
    writer.write_line(_line(2))
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [2]


def test_export_errors_are_reported_not_raised(tmp_path: Path) -> None:
    writer = RotatingLineWriter(tmp_path / "missing-dir" / "traces.jsonl", max_bytes=100, backups=1)
    provider = TracerProvider()
    exporter = files.FileSpanExporter(writer)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("lost"):
        pass  # the export fails (no directory); the application never sees it


def test_an_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    with pytest.raises(DataDirError, match="not writable"):
        check_writable(not_a_dir / "telemetry")
    assert check_writable(tmp_path / "new" / "dir").is_dir()
