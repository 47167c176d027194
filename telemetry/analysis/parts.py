"""The flattened rows on disk: Parquet parts, one per signal and stretch of a source.

A worker (a thread beside the native scanner, a process for the Python readers)
flattens a stretch of a telemetry file and writes it straight to
``<cache>/<signal>/<source>-<start>-<end>.parquet`` (content offsets of the
stretch), so the sync loop never handles the rows and DuckDB later scans them in
parallel. The name says exactly what a part holds, which keeps the cache
consistent without a transaction spanning files:

- a part whose ``end`` is beyond the offset committed for its source was written
  by a run that stopped before committing it: it is deleted;
- a part whose range lies inside another part's was merged into that one by a
  compaction that stopped before deleting it: it is deleted;
- parts of a source that vanished or was rewritten are deleted with it.

Compaction merges a source's many small parts (a live file read a little at a
time) into one, written first and the small ones deleted after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SIGNALS = ("spans", "logs", "metrics")
_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)\.parquet$")
_MAX_PARTS = 16  # consecutive small parts of a source, before they are merged
_SMALL_BYTES = 1 << 20  # of content
# Columns nearly every row of which differs: a dictionary for them is built only to
# be thrown away, and min/max statistics of random ids or JSON texts prune nothing.
# Skipping both saved about a fifth of the Parquet writing's instructions (valgrind).
# LZ4 rather than zstd: 2% fewer instructions to write a chunk and reports about 15%
# faster to scan, for parts about 1.7 times as large (93 MB for a 1 GB file set).
_UNIQUE = frozenset({"trace_id", "span_id", "parent_span_id", "attributes", "events"})
_TIMES = frozenset({"start", "end", "time", "observed_time"})  # unique, but filtered on


@dataclass(frozen=True)
class Part:
    path: Path
    source_id: int
    start: int
    end: int


@dataclass
class Written:
    """What a worker read and wrote for one stretch."""

    lines: int
    corrupt: int
    bytes_read: int


def part_name(source_id: int, start: int, end: int) -> str:
    return f"{source_id}-{start:015d}-{end:015d}.parquet"


def list_parts(root: Path, signal: str) -> list[Part]:
    found = []
    directory = root / signal
    if not directory.is_dir():
        return []
    for entry in os.scandir(directory):
        match = _NAME.match(entry.name)
        if match:
            sid, start, end = (int(g) for g in match.groups())
            found.append(Part(Path(entry.path), sid, start, end))
    return sorted(found, key=lambda p: (p.source_id, p.start, -p.end))


def write_segment(path: str, start: int, end: int | None, root: str, source_id: int) -> Written:
    """Flatten ``path``'s content ``[start, end)`` and write one part per signal.

    Runs in worker threads or processes: plain arguments, a small result.
    """
    import pyarrow as pa

    from telemetry.analysis.reader import read_chunk

    chunk = read_chunk(path, start, end)
    stop = start + chunk.bytes_read
    for signal, table in chunk.tables.items():
        ids = pa.array([source_id] * table.num_rows, type=pa.int32())
        table = table.append_column("source_id", ids)
        target = Path(root) / signal / part_name(source_id, start, stop)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".tmp")
        _write_parquet(table, partial)
        os.replace(partial, target)
    return Written(chunk.lines, chunk.corrupt, chunk.bytes_read)


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    names = table.column_names
    pq.write_table(
        table, path, compression="lz4",
        use_dictionary=[n for n in names if n not in _UNIQUE and n not in _TIMES],
        write_statistics=[n for n in names if n in _TIMES],
    )  # fmt: skip


def clean(root: Path, committed: Mapping[int, int]) -> None:
    """Delete parts no committed state accounts for (see the module docstring)."""
    for signal in SIGNALS:
        directory = root / signal
        if directory.is_dir():
            for entry in os.scandir(directory):
                if entry.name.endswith(".tmp"):
                    os.unlink(entry.path)  # a write cut short
        covered: dict[int, int] = {}
        for part in list_parts(root, signal):
            offset = committed.get(part.source_id)
            if offset is None or part.end > offset or part.end <= covered.get(part.source_id, -1):
                part.path.unlink(missing_ok=True)
                continue
            covered[part.source_id] = max(covered.get(part.source_id, -1), part.end)


def drop_source(root: Path, source_id: int) -> None:
    for signal in SIGNALS:
        for part in list_parts(root, signal):
            if part.source_id == source_id:
                part.path.unlink(missing_ok=True)


def to_compact(root: Path) -> list[tuple[str, list[Part]]]:
    """(signal, parts) runs to merge: more than a few consecutive small parts of a source.

    Small parts come from reading a live file a little at a time; the big ones of
    a large read are left alone. Only consecutive parts are merged, so the merged
    range never covers a part that is not in it.
    """
    groups: list[tuple[str, list[Part]]] = []
    for signal in SIGNALS:
        run: list[Part] = []
        for part in list_parts(root, signal):
            small = part.end - part.start < _SMALL_BYTES
            if run and (not small or part.source_id != run[-1].source_id):
                if len(run) > _MAX_PARTS:
                    groups.append((signal, run))
                run = []
            if small:
                run.append(part)
        if len(run) > _MAX_PARTS:
            groups.append((signal, run))
    return groups


def merged_path(root: Path, signal: str, parts: list[Part]) -> Path:
    return root / signal / part_name(parts[0].source_id, parts[0].start, parts[-1].end)
