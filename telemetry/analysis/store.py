"""The analysis cache: flat tables of every span, log record and metric point.

``open_store(directory)`` brings ``<directory>/.telemetry-cache/`` up to date with
the file set before any report runs: only files it has not seen and bytes
appended to the live files since the last run are flattened (``reader.py``),
one worker per core (threads beside the native scanner, processes for the Python
readers), each writing its rows as Parquet parts (``parts.py``); parts of files
that retention deleted are dropped. ``state.duckdb`` keeps, per source file, the
content offset read so far, committed after the part holding those rows is in place.

The connection it returns has views ``spans``, ``logs`` and ``metrics`` over the
parts (one row per item, typed, with the attributes the reports use as columns
and all attributes as JSON text) and the table ``sources``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from telemetry.analysis import parts, sources
from telemetry.analysis.parts import Written
from telemetry.analysis.schema import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LOG_FIELDS,
    LOG_PROMOTED,
    METRIC_FIELDS,
    SPAN_FIELDS,
    SPAN_PROMOTED,
    TEXT_INT_COLUMNS,
)
from telemetry.analysis.sources import Segment, SourceFile

CACHE_DIR = ".telemetry-cache"
_SCHEMA_VERSION = 10
# A read is cut into chunks of at most this (one Parquet part, one row group each):
# reports scan 64k-row groups about 20% faster than the 13k rows of 8 MB chunks.
_CHUNK_BYTES = 32 << 20
_MIN_CHUNK_BYTES = 1 << 20
# Below this many new bytes a file is read as one segment: the native scanner
# reads and writes 32 MB in about a tenth of a second, the Python readers 4 MB
# (below which a process pool costs more than it saves).
_PARALLEL_THRESHOLD = 32 << 20
_PARALLEL_THRESHOLD_PYTHON = 4 << 20
_LOCK_WAIT_S = 30.0
_MEMORY_LIMIT = "512MB"
_COMMIT_EVERY_S = 1.0

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


_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, identity VARCHAR UNIQUE, path VARCHAR, inode BIGINT,
    size BIGINT, mtime_ns BIGINT, "offset" BIGINT, complete BOOLEAN,
    lines BIGINT, corrupt BIGINT);
"""


def _promote(promoted: dict[str, str]) -> str:
    return ", ".join(f"p_{col} AS {col}" for col in promoted)


# The typed views over the raw columns the reader wrote; ``{raw}`` is the parts.
_VIEWS = {
    "spans": f"""
        SELECT source_id, trace_id, span_id, parent_span_id, name, kind::TINYINT AS kind,
            "start" AS start_ns, "end" AS end_ns, ("end" - "start") / 1e9 AS duration_s,
            status_code::TINYINT AS status_code, status_message, service_name, scope_name,
            attributes, events, {_promote(SPAN_PROMOTED)}
        FROM {{raw}}""",
    "logs": f"""
        SELECT source_id, coalesce(nullif("time", 0), observed_time) AS time_ns,
            severity_number::TINYINT AS severity_number, severity_text, body, trace_id,
            span_id, service_name, scope_name, attributes, {_promote(LOG_PROMOTED)}
        FROM {{raw}}""",
    "metrics": """
        SELECT source_id, name, unit, type, "time" AS time_ns, value, count, sum, max,
            service_name, attributes
        FROM {raw}""",
}
_RAW_COLUMNS = {
    "spans": (*SPAN_FIELDS, *(f"p_{c}" for c in SPAN_PROMOTED)),
    "logs": (*LOG_FIELDS, *(f"p_{c}" for c in LOG_PROMOTED)),
    "metrics": METRIC_FIELDS,
}


def _empty_raw(signal: str) -> str:
    """A relation with the raw columns and no rows, for a signal without parts yet."""
    columns = ["NULL::INTEGER AS source_id"]
    for name in _RAW_COLUMNS[signal]:
        integer = name in INT_COLUMNS or name in TEXT_INT_COLUMNS
        kind = "BIGINT" if integer else "DOUBLE" if name in FLOAT_COLUMNS else "VARCHAR"
        columns.append(f'NULL::{kind} AS "{name}"')
    return f"(SELECT {', '.join(columns)} WHERE FALSE)"


@dataclass
class Cache:
    """Where a file set's cache lives."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.duckdb"


def cache_for(directory: Path) -> Cache:
    """The cache folder of ``directory``; a temporary one if the data folder is read-only."""
    root = directory / CACHE_DIR
    try:
        root.mkdir(exist_ok=True)
        probe = root / ".writable"
        probe.touch()
        probe.unlink()
    except OSError:
        root = Path(tempfile.mkdtemp(prefix="telemetry-cache-"))
    return Cache(root)


def _connect(cache: Cache) -> duckdb.DuckDBPyConnection:
    """Open the cache's state, waiting for another ``telemetry`` process holding it.

    The views come once ``sync`` has brought the parts up to date (``create_views``).
    """
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            con = duckdb.connect(str(cache.state))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise StoreError(f"cannot open the analysis cache {cache.state}: {exc}") from exc
            time.sleep(0.2)
    # Bounded memory whatever the file set's size: DuckDB spills to the cache folder.
    con.execute(f"SET memory_limit = '{_MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{cache.root / 'spill'}'")
    con.execute("SET parquet_metadata_cache = true")
    # Every query that shows rows orders them itself; not keeping the parts' row order
    # let the four reports run about 8% faster.
    con.execute("SET preserve_insertion_order = false")
    version = None
    with contextlib.suppress(duckdb.CatalogException):
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = row[0] if row else None
    if version != str(_SCHEMA_VERSION):
        for table in ("sources", "meta"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        for signal in parts.SIGNALS:
            shutil.rmtree(cache.root / signal, ignore_errors=True)
        con.execute(_DDL)
        con.execute("INSERT INTO meta VALUES ('schema', ?)", [str(_SCHEMA_VERSION)])
    return con


def create_views(con: duckdb.DuckDBPyConnection, cache: Cache) -> None:
    """(Re)define ``spans``, ``logs`` and ``metrics`` over the parts there are now."""
    for signal, body in _VIEWS.items():
        files = [str(p.path) for p in parts.list_parts(cache.root, signal)]
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            raw = f"read_parquet([{listed}])"
        else:
            raw = _empty_raw(signal)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {signal} AS {body.format(raw=raw)}")


def open_store(
    directory: Path, *, progress: ProgressCallback | None = None, workers: int | None = None
) -> tuple[duckdb.DuckDBPyConnection, SyncStats]:
    """Open the cache for ``directory`` and read whatever is new in the file set."""
    if not directory.is_dir():
        raise StoreError(f"no telemetry data directory at {directory}")
    cache = cache_for(directory)
    con = _connect(cache)
    try:
        stats = sync(con, cache, directory, progress=progress, workers=workers)
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
        plans.append(_Plan(source, file, [Segment(file.path, start, end)], reset, end))
    vanished = [s.id for s in known if s.id not in seen]
    return plans, vanished


def sync(
    con: duckdb.DuckDBPyConnection,
    cache: Cache,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> SyncStats:
    """Flatten what is new under ``directory`` into the cache.

    A part is written before the offset that accounts for it is committed; on
    the way in, parts no committed offset accounts for (a run that stopped half
    way) are deleted, so the cache never counts a line twice or misses one.
    """
    started = time.perf_counter()
    committed = {s.id: s.offset for s in _load_sources(con)}
    parts.clean(cache.root, committed)
    plans, vanished = _plan(con, directory)
    stats = SyncStats()
    total = sum(_segment_bytes(p) for p in plans)
    n, chunked = _workers(workers, total)
    _cut(plans, n if chunked else 1)
    with _transaction(con):
        for source_id in vanished:
            con.execute("DELETE FROM sources WHERE id = ?", [source_id])
        _save_sources(con, {p.source.id: p.source for p in plans if p.reset or not p.segments})
    for source_id in vanished:
        parts.drop_source(cache.root, source_id)
    for plan in plans:
        if plan.reset:
            parts.drop_source(cache.root, plan.source.id)
    remaining = {id(plan): len(plan.segments) for plan in plans}
    done = 0
    # Offsets are saved and committed about once a second, not per part: each commit
    # waits for the disk, each save costs DuckDB milliseconds (a second of this
    # process's CPU over a 1 GB first read), and the workers would wait for both.
    last_commit = time.monotonic()
    unsaved: dict[int, _Source] = {}
    con.begin()
    for plan, written in _run(plans, cache, n):
        done += written.bytes_read
        stats.bytes_read += written.bytes_read
        stats.lines += written.lines
        if written.corrupt:
            key = plan.file.path.name
            stats.corrupt[key] = stats.corrupt.get(key, 0) + written.corrupt
        source = plan.source
        source.offset += written.bytes_read
        source.lines += written.lines
        source.corrupt += written.corrupt
        remaining[id(plan)] -= 1
        source.complete = remaining[id(plan)] == 0 and plan.end is None
        unsaved[source.id] = source
        if time.monotonic() - last_commit > _COMMIT_EVERY_S:
            _save_sources(con, unsaved)
            con.commit()
            con.begin()
            last_commit = time.monotonic()
        if progress is not None:
            progress(done, total)
    _save_sources(con, unsaved)
    con.commit()
    _compact(con, cache)
    create_views(con, cache)
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


def _compact(con: duckdb.DuckDBPyConnection, cache: Cache) -> None:
    """Merge sources' many small parts into one each (written first, then the rest go)."""
    for signal, group in parts.to_compact(cache.root):
        target = parts.merged_path(cache.root, signal, group)
        partial = target.with_name(target.name + ".tmp")
        listed = ", ".join("'" + str(p.path).replace("'", "''") + "'" for p in group)
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{listed}])) TO "
            f"'{str(partial).replace(chr(39), chr(39) * 2)}' (FORMAT parquet, COMPRESSION lz4)"
        )
        os.replace(partial, target)
        for part in group:
            part.path.unlink(missing_ok=True)


def _cut(plans: list[_Plan], workers: int) -> None:
    """Cut the plain files' ranges into chunks of at most ``_CHUNK_BYTES`` (memory stays
    bounded); for several workers, smaller towards the end.

    With workers, a chunk is a quarter (for two) of what is left to read, within
    ``_MIN_CHUNK_BYTES``..``_CHUNK_BYTES``: a large read gets large parts, and the
    last chunks are small enough that no worker waits long for the other's. With
    one worker every chunk is ``_CHUNK_BYTES`` (a part costs a Parquet write), so a
    file's new bytes below that are one part.
    """
    later = sum(_segment_bytes(p) for p in plans)
    for plan in plans:
        later -= _segment_bytes(plan)
        if plan.file.compressed or not plan.segments:
            continue
        (whole,) = plan.segments
        plan.segments = sources.split(
            whole.path, whole.start, whole.end, plan.file.size, _chunk_size(later, workers)
        )


def _chunk_size(later: int, workers: int) -> Callable[[int], int]:
    def size(left: int) -> int:
        if workers < 2:
            return _CHUNK_BYTES
        return min(_CHUNK_BYTES, max(_MIN_CHUNK_BYTES, (left + later) // (2 * workers)))

    return size


def _workers(workers: int | None, total: int) -> tuple[int, bool]:
    """How many segments to read at a time, and whether to cut files into chunks.

    Threads (the native scanner) cost nothing to start: any read of several
    segments uses them. Processes (the Python readers) are worth their start-up
    only for a large read.
    """
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 2 or total == 0:
        return 1, False
    from telemetry.analysis import native  # imports Arrow: only once there is something to read

    large = total >= (_PARALLEL_THRESHOLD if native.ENABLED else _PARALLEL_THRESHOLD_PYTHON)
    return (n if large or native.ENABLED else 1), large


def _segment_bytes(plan: _Plan) -> int:
    size = 0
    for segment in plan.segments:
        end = segment.end if segment.end is not None else plan.file.size
        size += max(end - segment.start, 0)
    return size


def _save_sources(con: duckdb.DuckDBPyConnection, unsaved: dict[int, _Source]) -> None:
    """Upsert the sources in one statement (each statement costs DuckDB milliseconds)."""
    if not unsaved:
        return
    rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(unsaved))
    params: list[object] = []
    for s in unsaved.values():
        params += [s.id, s.identity, s.path, s.inode, s.size, s.mtime_ns, s.offset,
                   s.complete, s.lines, s.corrupt]  # fmt: skip
    con.execute(
        f"""INSERT INTO sources VALUES {rows}
            ON CONFLICT (id) DO UPDATE SET path = excluded.path, inode = excluded.inode,
                size = excluded.size, mtime_ns = excluded.mtime_ns,
                "offset" = excluded."offset", complete = excluded.complete,
                lines = excluded.lines, corrupt = excluded.corrupt""",
        params,
    )
    unsaved.clear()


def _run(plans: list[_Plan], cache: Cache, n: int) -> Iterator[tuple[_Plan, Written]]:
    """Flatten every segment into parts, in order; ``n`` at a time if n > 1."""
    jobs = [(plan, segment) for plan in plans for segment in plan.segments]
    if n < 2 or len(jobs) < 2:
        for plan, segment in jobs:
            yield plan, _write(plan, segment, cache)
        return
    with _pool(n) as pool:
        pending: list[tuple[_Plan, Future[Written]]] = []
        queue = iter(jobs)
        # A few chunks per worker in flight: memory stays bounded.
        for plan, segment in queue:
            pending.append((plan, pool.submit(_write, plan, segment, cache)))
            if len(pending) >= 2 * n:
                break
        while pending:
            plan, future = pending.pop(0)
            written = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt[0], pool.submit(_write, nxt[0], nxt[1], cache)))
            yield plan, written


def _pool(n: int) -> Executor:
    """Threads where the native scanner reads (it and the Parquet writer release the
    GIL: no start-up, no imports to repeat); else processes, as the Python readers
    hold the GIL. fork: the workers start before this run has used Arrow, and unlike
    spawn/forkserver it does not re-run the caller's __main__ or pay imports again."""
    from telemetry.analysis import native

    if native.ENABLED:
        return ThreadPoolExecutor(max_workers=n, thread_name_prefix="telemetry-read")
    import multiprocessing  # 6 ms of imports a report with the native scanner never needs
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"))


def _write(plan: _Plan, segment: Segment, cache: Cache) -> Written:
    return parts.write_segment(
        str(segment.path), segment.start, segment.end, str(cache.root), plan.source.id
    )
