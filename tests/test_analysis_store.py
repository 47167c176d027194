"""The analysis cache reads each byte once: appends, rotation, compression, retention,
rewrites, half-written lines and corrupt input."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from telemetry.analysis import native, store
from telemetry.analysis.store import StoreError, open_store


def _span_line(n: int, first: int = 0, post: str = "p") -> bytes:
    spans = [
        {"traceId": f"{first + i:032x}", "spanId": f"{first + i + 1:016x}", "name": "SELECT",
         "kind": 3, "startTimeUnixNano": str(10**18 + (first + i) * 10**6),
         "endTimeUnixNano": str(10**18 + (first + i) * 10**6 + 5000),
         "attributes": [{"key": "post_id", "value": {"stringValue": post}},
                        {"key": "db.query.text", "value": {"stringValue": "SELECT 1"}}],
         "status": {}}
        for i in range(n)
    ]  # fmt: skip
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
            }
        ]
    }
    return orjson.dumps(request) + b"\n"


def _count(directory: Path) -> tuple[int, store.SyncStats]:
    con, stats = open_store(directory)
    try:
        row = con.execute("SELECT count(*) FROM spans").fetchone()
        assert row is not None
        return row[0], stats
    finally:
        con.close()


def test_a_repeated_read_parses_nothing_and_an_append_only_the_new_lines(tmp_path: Path) -> None:
    live = tmp_path / "traces.jsonl"
    live.write_bytes(_span_line(3) + _span_line(2, first=100))
    assert _count(tmp_path)[0] == 5

    count, stats = _count(tmp_path)
    assert (count, stats.bytes_read, stats.lines) == (5, 0, 0)

    appended = _span_line(4, first=200)
    with live.open("ab") as out:
        out.write(appended)
    count, stats = _count(tmp_path)
    assert (count, stats.bytes_read, stats.lines) == (9, len(appended), 1)


def test_a_half_written_last_line_waits_until_it_is_complete(tmp_path: Path) -> None:
    live = tmp_path / "traces.jsonl"
    line = _span_line(2, first=50)
    live.write_bytes(_span_line(1) + line[:40])
    count, stats = _count(tmp_path)
    assert (count, stats.corrupt) == (1, {})
    with live.open("ab") as out:
        out.write(line[40:])
    count, stats = _count(tmp_path)
    assert (count, stats.bytes_read, stats.corrupt) == (3, len(line), {})


def test_rotation_and_compression_do_not_count_twice(tmp_path: Path) -> None:
    live = tmp_path / "traces.jsonl"
    live.write_bytes(_span_line(3))
    assert _count(tmp_path)[0] == 3
    with live.open("ab") as out:  # written after our read, then rotated away
        out.write(_span_line(2, first=10))
    backup = tmp_path / "traces-2026-01-02T03-04-05.000.jsonl"
    live.rename(backup)
    live.write_bytes(_span_line(1, first=20))
    count, stats = _count(tmp_path)
    assert count == 6
    assert stats.bytes_read == len(_span_line(2, first=10)) + len(_span_line(1, first=20))

    with open(backup, "rb") as src, gzip.open(str(backup) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert _count(tmp_path)[0] == 6  # plain and compressed copies side by side
    backup.unlink()
    count, stats = _count(tmp_path)
    assert (count, stats.bytes_read) == (6, 0)


def test_files_removed_by_retention_leave_the_cache(tmp_path: Path) -> None:
    backup = tmp_path / "traces-2026-01-02T03-04-05.000.jsonl.gz"
    with gzip.open(backup, "wb") as out:
        out.write(_span_line(4))
    (tmp_path / "traces.jsonl").write_bytes(_span_line(1, first=10))
    assert _count(tmp_path)[0] == 5
    backup.unlink()
    assert _count(tmp_path)[0] == 1


def test_a_live_file_rewritten_from_scratch_replaces_its_rows(tmp_path: Path) -> None:
    live = tmp_path / "traces.jsonl"
    live.write_bytes(_span_line(2) + _span_line(5, first=10))
    assert _count(tmp_path)[0] == 7
    live.write_bytes(_span_line(1, first=30))  # truncated and restarted
    assert _count(tmp_path)[0] == 1
    live.write_bytes(_span_line(2))  # same first line as before, but shorter
    assert _count(tmp_path)[0] == 2


def test_corrupt_lines_are_skipped_counted_and_reported_once(tmp_path: Path) -> None:
    good = _span_line(2)
    (tmp_path / "traces-2026-01-01T00-00-00.000.jsonl").write_bytes(
        good
        + b"\x00\xff\xfe binary garbage \x81\n"
        + b'{"resourceSpans": "not a list"}\n'
        + b'{"hello": "world"}\n'
        + b"[1, 2, 3]\n"
        + _span_line(1, first=10)
        + _span_line(3, first=20)[:-30]  # cut short by a crash, never completed
    )
    (tmp_path / "logs.jsonl").write_bytes(b"")
    (tmp_path / "metrics.jsonl").write_bytes(b"\n\n")
    count, stats = _count(tmp_path)
    assert count == 3
    assert stats.corrupt == {"traces-2026-01-01T00-00-00.000.jsonl": 5}
    count, stats = _count(tmp_path)
    assert (count, stats.corrupt) == (3, {})


def test_a_line_that_breaks_half_way_adds_no_rows(tmp_path: Path) -> None:
    request = orjson.loads(_span_line(3))
    del request["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["traceId"]
    (tmp_path / "traces.jsonl").write_bytes(orjson.dumps(request) + b"\n" + _span_line(1, 9))
    count, stats = _count(tmp_path)
    assert (count, sum(stats.corrupt.values())) == (1, 1)


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "processes"])
def test_parallel_workers_read_the_same_rows_as_one_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    # Threads where the native scanner reads, processes for the Python readers.
    monkeypatch.setattr(native, "ENABLED", threads and native.ENABLED)
    lines = [_span_line(50, first=i * 100, post=f"p{i % 7}") for i in range(40)]
    (tmp_path / "traces.jsonl").write_bytes(b"".join(lines[:30]))
    with gzip.open(tmp_path / "traces-2026-01-01T00-00-00.000.jsonl.gz", "wb") as out:
        out.writelines(lines[30:])
    query = "SELECT post_id, count(*), sum(end_ns - start_ns) FROM spans GROUP BY 1 ORDER BY 1"

    con, _ = open_store(tmp_path, workers=1)
    serial = con.execute(query).fetchall()
    con.close()
    shutil.rmtree(tmp_path / store.CACHE_DIR)

    monkeypatch.setattr(store, "_PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(store, "_PARALLEL_THRESHOLD_PYTHON", 0)
    monkeypatch.setattr(store, "_CHUNK_BYTES", len(lines[0]) * 3)
    pools: list[Executor] = []
    real_pool = store._pool
    monkeypatch.setattr(store, "_pool", lambda n: pools.append(real_pool(n)) or pools[-1])
    con, stats = open_store(tmp_path, workers=2)
    parallel = con.execute(query).fetchall()
    con.close()
    assert [type(pool) for pool in pools] == [
        ThreadPoolExecutor if native.ENABLED else ProcessPoolExecutor
    ]
    assert stats.lines == 40
    assert parallel == serial
    assert sum(n for _, n, _ in serial) == 2000


def test_a_second_reader_waits_for_the_first(tmp_path: Path) -> None:
    (tmp_path / "traces.jsonl").write_bytes(_span_line(2))
    first, _ = open_store(tmp_path)  # holds the cache's lock
    second = subprocess.Popen(
        [sys.executable, "-m", "telemetry.cli", "report", "queries", "--dir", str(tmp_path),
         "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=1.0)
    finally:
        first.close()
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert orjson.loads(out)[0]["executions"] == 2


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no telemetry data directory"):
        open_store(tmp_path / "nowhere")


def test_an_interrupted_read_keeps_what_it_committed_and_finishes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [_span_line(10, first=i * 100) for i in range(12)]
    (tmp_path / "traces.jsonl").write_bytes(b"".join(lines))
    from telemetry.analysis import reader

    real_read = reader.read_chunk
    calls = []

    def failing_read(path: str, start: int, end: int | None) -> reader.Chunk:  # two lines
        calls.append(start)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way
        return real_read(path, start, end)

    monkeypatch.setattr(store, "_CHUNK_BYTES", len(lines[0]) * 2 - 1)  # two lines a chunk
    monkeypatch.setattr(reader, "read_chunk", failing_read)
    with pytest.raises(KeyboardInterrupt):
        open_store(tmp_path, workers=1)
    monkeypatch.setattr(reader, "read_chunk", real_read)
    monkeypatch.setattr(store, "_PARALLEL_THRESHOLD", 1 << 40)
    cache = store.cache_for(tmp_path)
    con = store._connect(cache)
    store.create_views(con, cache)  # what the interrupted run left
    assert con.execute("SELECT count(*) FROM spans").fetchone() == (40,)
    con.close()
    con, _ = open_store(tmp_path, workers=1)
    rows = con.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchone()
    con.close()
    assert rows == (120, 120)


def _part_count(directory: Path) -> int:
    return len(list((directory / store.CACHE_DIR / "spans").glob("*.parquet")))


def test_a_modest_read_is_one_part_per_file_read_on_both_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several MB appended to two files: not cut into chunks (each costs a part and
    # a Parquet write), but the two files are read at once where threads are cheap.
    lines = [_span_line(100, first=i * 1000) for i in range(200)]
    (tmp_path / "traces.jsonl").write_bytes(b"".join(lines[:100]))
    (tmp_path / "traces-2026-01-01T00-00-00.000.jsonl").write_bytes(b"".join(lines[100:]))
    total = sum(map(len, lines))
    assert total < store._PARALLEL_THRESHOLD
    monkeypatch.setattr(store, "_PARALLEL_THRESHOLD_PYTHON", total + 1)  # modest for both
    pools: list[int] = []
    real_run = store._run
    monkeypatch.setattr(
        store, "_run", lambda plans, cache, n: pools.append(n) or real_run(plans, cache, n)
    )
    con, stats = open_store(tmp_path, workers=2)
    assert con.execute("SELECT count(*) FROM spans").fetchone() == (20_000,)
    con.close()
    assert stats.bytes_read == total
    assert _part_count(tmp_path) == 2
    assert pools == [2 if native.ENABLED else 1]


def test_many_small_reads_are_merged_into_one_part(tmp_path: Path) -> None:
    live = tmp_path / "traces.jsonl"
    live.write_bytes(_span_line(1))
    for i in range(1, 40):
        assert _count(tmp_path)[0] == i
        with live.open("ab") as out:
            out.write(_span_line(1, first=i * 10))
    assert _count(tmp_path)[0] == 40
    assert _part_count(tmp_path) <= 17


def test_a_merge_cut_short_leaves_no_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from telemetry.analysis import parts

    monkeypatch.setattr(parts, "_MAX_PARTS", 1000)
    live = tmp_path / "traces.jsonl"
    for i in range(20):
        with live.open("ab") as out:
            out.write(_span_line(2, first=i * 10))
        _count(tmp_path)
    assert _part_count(tmp_path) == 20

    monkeypatch.setattr(parts, "_MAX_PARTS", 16)

    real_unlink = Path.unlink

    def power_cut(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".parquet":
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", power_cut)  # the merged part is written, no more
    with pytest.raises(KeyboardInterrupt):
        _count(tmp_path)
    monkeypatch.undo()
    assert _part_count(tmp_path) == 21
    assert _count(tmp_path)[0] == 40
    assert _part_count(tmp_path) == 1


def test_numbers_where_otlp_json_has_strings_are_read_too(tmp_path: Path) -> None:
    request = orjson.loads(_span_line(1))
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"], span["endTimeUnixNano"] = 10**18, 10**18 + 2_000_000
    span["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": 812}})
    (tmp_path / "traces.jsonl").write_bytes(orjson.dumps(request) + b"\n" + _span_line(1, 5))
    con, stats = open_store(tmp_path)
    rows = con.execute("SELECT duration_s, input_tokens FROM spans ORDER BY start_ns").fetchall()
    con.close()
    assert stats.corrupt == {}
    assert rows == [(0.002, 812), (5e-06, None)]
