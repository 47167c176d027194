"""The analysis cache: flat DuckDB tables of every span, log record and metric point.

``open_store(directory)`` opens ``<directory>/.telemetry-cache/analysis.duckdb`` and
brings it up to date with the file set before any report runs: only files it has
not seen and bytes appended to the live files since the last run are flattened
(``flatten.py``); rows of files that retention has deleted are dropped. Rows and
the read offsets are committed in one transaction, so an interrupted run leaves
the cache as it was. Large first reads are flattened by worker processes, one per
core, in chunks of a few megabytes, so memory stays bounded whatever the size.

Tables: ``spans``, ``logs``, ``metrics`` (one row per item, with the attributes the
reports use promoted to columns and all attributes kept as JSON) and ``sources``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from telemetry.analysis import sources
from telemetry.analysis.schema import INTEGER_COLUMNS, LOG_PROMOTED, SPAN_PROMOTED
from telemetry.analysis.sources import Segment, SourceFile

if TYPE_CHECKING:
    from telemetry.analysis.flatten import Chunk

CACHE_DIR = ".telemetry-cache"
_SCHEMA_VERSION = 5
_CHUNK_BYTES = 8 << 20
# Below this many new bytes a worker pool costs more than it saves.
_PARALLEL_THRESHOLD = 24 << 20
_LOCK_WAIT_S = 30.0
_MEMORY_LIMIT = "512MB"
_COMMIT_BYTES = 64 << 20

ProgressCallback = Callable[[int, int], None]


class StoreError(Exception):
    """The file set cannot be read (missing directory, cache locked, ...)."""


@dataclass
class SyncStats:
    """What one synchronisation read, for progress messages and the benchmark."""

    files: int = 0
    bytes_read: int = 0
    lines: int = 0
    corrupt: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Source:
    id: int
    identity: str
    path: str
    inode: int
    size: int
    mtime_ns: int
    offset: int
    complete: bool
    lines: int = 0
    corrupt: int = 0


def _column_types(promoted: dict[str, str]) -> str:
    return ", ".join(
        f"{col} {'BIGINT' if col in INTEGER_COLUMNS else 'VARCHAR'}" for col in promoted
    )


_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, identity VARCHAR UNIQUE, path VARCHAR, inode BIGINT,
    size BIGINT, mtime_ns BIGINT, "offset" BIGINT, complete BOOLEAN,
    lines BIGINT, corrupt BIGINT);
CREATE TABLE IF NOT EXISTS spans (
    source_id INTEGER, trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR,
    name VARCHAR, kind TINYINT, start_ns BIGINT, end_ns BIGINT, duration_s DOUBLE,
    status_code TINYINT, status_message VARCHAR, service_name VARCHAR, scope_name VARCHAR,
    attributes VARCHAR, events VARCHAR, {_column_types(SPAN_PROMOTED)});
CREATE TABLE IF NOT EXISTS logs (
    source_id INTEGER, time_ns BIGINT, severity_number TINYINT, severity_text VARCHAR,
    body VARCHAR, trace_id VARCHAR, span_id VARCHAR, service_name VARCHAR,
    scope_name VARCHAR, attributes VARCHAR, {_column_types(LOG_PROMOTED)});
CREATE TABLE IF NOT EXISTS metrics (
    source_id INTEGER, name VARCHAR, unit VARCHAR, type VARCHAR, time_ns BIGINT,
    value DOUBLE, count BIGINT, sum DOUBLE, max DOUBLE, service_name VARCHAR,
    attributes VARCHAR);
"""


def _promote(promoted: dict[str, str]) -> str:
    """SQL typing the ``p_<column>`` texts the reader pulled out of the attributes."""
    return ", ".join(
        f"TRY_CAST(TRY_CAST(p_{col} AS DOUBLE) AS BIGINT) AS {col}"
        if col in INTEGER_COLUMNS
        else f"p_{col} AS {col}"
        for col in promoted
    )


def _insert_sql() -> dict[str, str]:
    return {
        "spans": f"""
            INSERT INTO spans SELECT $source, trace_id, span_id, parent_span_id, name, kind,
                s, e, (e - s) / 1e9, status_code, status_message, service_name, scope_name,
                attributes, events, {_promote(SPAN_PROMOTED)}
            FROM (SELECT *, TRY_CAST("start" AS BIGINT) AS s, TRY_CAST("end" AS BIGINT) AS e
                  FROM chunk)""",
        "logs": f"""
            INSERT INTO logs SELECT $source,
                coalesce(nullif(TRY_CAST("time" AS BIGINT), 0), TRY_CAST(observed_time AS BIGINT)),
                severity_number, severity_text, body, trace_id, span_id, service_name,
                scope_name, attributes, {_promote(LOG_PROMOTED)}
            FROM chunk""",
        "metrics": """
            INSERT INTO metrics SELECT $source, name, unit, type, TRY_CAST("time" AS BIGINT),
                value, count, sum, max, service_name, attributes FROM chunk""",
    }


_INSERT = _insert_sql()


def cache_path(directory: Path) -> Path:
    return directory / CACHE_DIR / "analysis.duckdb"


def _connect(directory: Path) -> duckdb.DuckDBPyConnection:
    """Open the cache, waiting for another ``telemetry`` process that holds its lock."""
    path = cache_path(directory)
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError:
        return duckdb.connect()  # read-only data directory: a cache for this run only
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise StoreError(f"cannot open the analysis cache {path}: {exc}") from exc
            time.sleep(0.2)
    # Bounded memory whatever the file set's size: DuckDB spills to the cache folder.
    con.execute(f"SET memory_limit = '{_MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{path.parent / 'spill'}'")
    version = None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = row[0] if row else None
    except duckdb.CatalogException:
        pass
    if version != str(_SCHEMA_VERSION):
        for table in ("spans", "logs", "metrics", "sources", "meta"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(_DDL)
        con.execute("INSERT INTO meta VALUES ('schema', ?)", [str(_SCHEMA_VERSION)])
    return con


def open_store(
    directory: Path, *, progress: ProgressCallback | None = None, workers: int | None = None
) -> tuple[duckdb.DuckDBPyConnection, SyncStats]:
    """Open the cache for ``directory`` and read whatever is new in the file set."""
    if not directory.is_dir():
        raise StoreError(f"no telemetry data directory at {directory}")
    con = _connect(directory)
    try:
        stats = sync(con, directory, progress=progress, workers=workers)
    except BaseException:
        con.close()
        raise
    return con, stats


def _load_sources(con: duckdb.DuckDBPyConnection) -> list[_Source]:
    rows = con.execute(
        'SELECT id, identity, path, inode, size, mtime_ns, "offset", complete, lines, corrupt '
        "FROM sources"
    ).fetchall()
    return [_Source(*row) for row in rows]


@dataclass
class _Plan:
    source: _Source
    file: SourceFile
    segments: list[Segment]
    reset: bool  # drop the rows read before (the file was truncated and rewritten)
    end: int | None  # content offset reached when all segments are read; None: complete


def _plan(con: duckdb.DuckDBPyConnection, directory: Path) -> tuple[list[_Plan], list[int]]:
    """Decide which bytes of which files to read, and which sources have vanished."""
    known = _load_sources(con)
    by_path = {s.path: s for s in known if s.complete}
    by_identity = {s.identity: s for s in known}
    next_id = max((s.id for s in known), default=0) + 1
    seen: set[int] = set()
    plans: list[_Plan] = []
    for file in sources.discover(directory):
        cached = by_path.get(str(file.path))
        if cached and (cached.inode, cached.size, cached.mtime_ns) == (
            file.inode, file.size, file.mtime_ns,
        ):  # fmt: skip
            seen.add(cached.id)  # a backup read to the end before: nothing new
            continue
        ident = sources.identity(file)
        if ident is None:
            continue
        source = by_identity.get(ident)
        if source is not None and source.id in seen:
            continue  # the same content under two names (a backup being compressed)
        reset = False
        if source is None:
            source = _Source(next_id, ident, str(file.path), 0, 0, 0, 0, False)
            by_identity[ident] = source
            next_id += 1
        elif not file.compressed and file.size < source.offset:
            reset = True  # same first line but shorter: rewritten in place
            source.offset, source.complete, source.lines, source.corrupt = 0, False, 0, 0
        seen.add(source.id)
        start = 0 if reset else source.offset
        source.path, source.inode, source.size, source.mtime_ns = (
            str(file.path), file.inode, file.size, file.mtime_ns,
        )  # fmt: skip
        if source.complete and not reset:
            plans.append(_Plan(source, file, [], False, None))
            continue
        if file.compressed:
            plans.append(_Plan(source, file, [Segment(file.path, start, None)], reset, None))
            continue
        end = None if file.finished else sources.complete_end(file.path, start, file.size)
        if end is not None and end <= start and not reset:
            continue
        segments = sources.split(file.path, start, end, file.size, _CHUNK_BYTES)
        plans.append(_Plan(source, file, segments, reset, end))
    vanished = [s.id for s in known if s.id not in seen]
    return plans, vanished


def sync(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> SyncStats:
    """Flatten what is new under ``directory`` into the cache.

    Rows are committed together with the read offsets they advance, every few
    tens of megabytes, so an interrupted run leaves a consistent cache (the rest
    is read next time) and uncommitted rows never pile up in memory.
    """
    started = time.perf_counter()
    plans, vanished = _plan(con, directory)
    stats = SyncStats()
    total = sum(_segment_bytes(p) for p in plans)
    with _transaction(con):
        for source_id in vanished:
            _drop_rows(con, source_id, forget=True)
        for plan in plans:
            if plan.reset:
                _drop_rows(con, plan.source.id, forget=False)
            if not plan.segments:  # known content under a new name (compressed backup)
                _save_source(con, plan.source)
    remaining = {id(plan): len(plan.segments) for plan in plans}
    done = 0
    uncommitted = 0
    con.begin()
    try:
        for plan, chunk in _run(plans, total, workers):
            done += chunk.bytes_read
            stats.bytes_read += chunk.bytes_read
            stats.lines += chunk.lines
            if chunk.corrupt:
                key = plan.file.path.name
                stats.corrupt[key] = stats.corrupt.get(key, 0) + chunk.corrupt
            source = plan.source
            source.offset += chunk.bytes_read
            source.lines += chunk.lines
            source.corrupt += chunk.corrupt
            remaining[id(plan)] -= 1
            source.complete = remaining[id(plan)] == 0 and plan.end is None
            for signal, table in chunk.tables.items():
                con.register("chunk", table)
                try:
                    con.execute(_INSERT[signal], {"source": source.id})
                finally:
                    con.unregister("chunk")
            _save_source(con, source)
            uncommitted += chunk.bytes_read
            if uncommitted >= _COMMIT_BYTES:
                con.commit()
                con.begin()
                uncommitted = 0
            if progress is not None:
                progress(done, total)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    stats.files = sum(1 for p in plans if p.segments)
    stats.seconds = time.perf_counter() - started
    return stats


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _segment_bytes(plan: _Plan) -> int:
    size = 0
    for segment in plan.segments:
        end = segment.end if segment.end is not None else plan.file.size
        size += max(end - segment.start, 0)
    return size


def _drop_rows(con: duckdb.DuckDBPyConnection, source_id: int, *, forget: bool) -> None:
    for table in ("spans", "logs", "metrics"):
        con.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
    if forget:
        con.execute("DELETE FROM sources WHERE id = ?", [source_id])
    else:
        con.execute(
            'UPDATE sources SET "offset" = 0, lines = 0, corrupt = 0 WHERE id = ?', [source_id]
        )


def _save_source(con: duckdb.DuckDBPyConnection, s: _Source) -> None:
    con.execute(
        """INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET path = excluded.path, inode = excluded.inode,
               size = excluded.size, mtime_ns = excluded.mtime_ns,
               "offset" = excluded."offset", complete = excluded.complete,
               lines = excluded.lines, corrupt = excluded.corrupt""",
        [s.id, s.identity, s.path, s.inode, s.size, s.mtime_ns, s.offset, s.complete,
         s.lines, s.corrupt],
    )


def _run(plans: list[_Plan], total: int, workers: int | None) -> Iterator[tuple[_Plan, Chunk]]:
    """Flatten every segment, in order; in worker processes when there is a lot to read."""
    from telemetry.analysis.flatten import read_chunk  # Arrow: only when there is reading

    jobs = [(plan, segment) for plan in plans for segment in plan.segments]
    n = workers if workers is not None else (os.cpu_count() or 1)
    if total < _PARALLEL_THRESHOLD or n < 2 or len(jobs) < 2:
        for plan, segment in jobs:
            yield plan, read_chunk(str(segment.path), segment.start, segment.end)
        return
    # fork: the workers start before this run has used DuckDB or Arrow, and unlike
    # spawn/forkserver it does not re-run the caller's __main__ or pay imports again.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        pending: list[tuple[_Plan, Future[Chunk]]] = []
        queue = iter(jobs)
        # At most two chunks per worker in flight: memory stays bounded.
        for plan, segment in queue:
            pending.append((plan, _submit(pool, segment)))
            if len(pending) >= 2 * n:
                break
        while pending:
            plan, future = pending.pop(0)
            chunk = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt[0], _submit(pool, nxt[1])))
            yield plan, chunk


def _submit(pool: ProcessPoolExecutor, segment: Segment) -> Future[Chunk]:
    from telemetry.analysis.flatten import read_chunk

    return pool.submit(read_chunk, str(segment.path), segment.start, segment.end)
