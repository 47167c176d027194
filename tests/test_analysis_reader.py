"""A stretch of a file is read in blocks of whole lines, each line once, in file order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from telemetry.analysis import reader
from tests.test_analysis_flatten import _span, _spans_line


def test_a_file_read_to_its_end_in_blocks_reads_every_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [orjson.dumps(_spans_line(_span(name=f"s{i}"))) + b"\n" for i in range(40)]
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b"".join(lines) + lines[0][:30])  # a rotated file cut mid-line
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 333)  # blocks end inside lines
    chunk = reader.read_chunk(str(path), 0, None)
    assert (chunk.lines, chunk.corrupt, chunk.bytes_read) == (41, 1, path.stat().st_size)
    assert chunk.tables["spans"]["name"].to_pylist() == [f"s{i}" for i in range(40)]


def test_the_native_path_leaves_the_python_readers_unimported(tmp_path: Path) -> None:
    """msgspec and orjson cost a small report 15-20 ms of start-up: only a line the
    scanner declines should bring them in."""
    path = tmp_path / "traces.jsonl"
    good = orjson.dumps(_spans_line(_span())) + b"\n"
    path.write_bytes(good * 3)
    probe = (
        "import sys\n"
        "from telemetry.analysis import native, reader\n"
        f"chunk = reader.read_chunk({str(path)!r}, 0, None)\n"
        "assert chunk.tables['spans'].num_rows == 3\n"
        "print(native.ENABLED, 'msgspec' in sys.modules, 'orjson' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    enabled, msgspec_loaded, orjson_loaded = done.stdout.split()
    if enabled == "True":
        assert (msgspec_loaded, orjson_loaded) == ("False", "False")
    else:
        assert msgspec_loaded == "True"  # the Python readers did the reading
    path.write_bytes(good + b'{"resourceSpans": "not a list"}\n')
    done = subprocess.run([sys.executable, "-c", probe.replace("== 3", "== 1")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1:] == ["True", "True"]  # the declined line needed them
