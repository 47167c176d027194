"""Read a stretch of a telemetry file into flat columns: the loop over its blocks.

Each block of whole lines goes to the native scanner (``native.py``), which reads
the lines of the usual shapes straight into Arrow buffers; a line it declines,
and every line where the extension is not built, goes to the Python readers
(``flatten.py``). Those are imported only once a line needs them: the native
path never pays for msgspec and orjson (15-20 ms of a small report's start-up).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from telemetry.analysis import native
from telemetry.analysis.columns import Flattened
from telemetry.analysis.sources import open_bytes

__all__ = ["Chunk", "read_block", "read_chunk"]

_BLOCK_BYTES = 8 << 20  # read at a time from a file read to its end


@dataclass
class Chunk:
    """The Arrow tables and counts produced from one stretch of one file."""

    tables: dict[str, pa.Table]
    lines: int
    corrupt: int
    bytes_read: int


def read_chunk(path: str, start: int, end: int | None) -> Chunk:
    """Flatten the complete lines of ``path`` between content offsets ``start`` and ``end``.

    ``end`` is None to read to the end of a finished (rotated) file, where a last
    line without its newline is a truncated write and counts as corrupt. Runs in
    worker threads or processes, hence plain arguments and an Arrow result.
    """
    out = Flattened()
    with _gc_paused:
        with open_bytes(Path(path)) as stream:
            if start:
                stream.seek(start)
            for block in _blocks(
                stream.read if end is None else _bounded(stream.read, end - start)
            ):
                read_block(block, out)
                del block
        return Chunk(out.tables(), out.lines, out.corrupt, out.bytes_read)


class _GcPause:
    """No cyclic collection while any thread reads: every line the Python readers
    parse allocates thousands of objects that die at once, and the collector would
    scan the growing columns over and over (measured 1.7x slower). Counted, so
    that readers in several threads restore it once, when the last one is done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._readers == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._readers += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0 and self._was_enabled:
                gc.enable()


_gc_paused = _GcPause()


def read_block(block: bytes, out: Flattened) -> None:
    """Flatten a block of whole lines: scanned natively where the extension is built,
    each line it declines read by the Python readers, rows kept in file order."""
    if not native.ENABLED:
        from telemetry.analysis import flatten  # the Python readers: only when needed

        flatten.flatten_block(block, out)
        return
    scanner = _scanner()
    view = memoryview(block)
    start = 0
    while start < len(block):
        stop, lines, tables = scanner.scan(block, start)
        out.extend(tables)
        out.lines += lines
        out.bytes_read += stop - start
        if stop == len(block):
            break
        start = block.find(b"\n", stop) + 1 or len(block)
        from telemetry.analysis import flatten

        flatten.flatten_lines([view[stop:start]], out)


_local = threading.local()


def _scanner() -> native.Scanner:
    """This thread's scanner (it keeps its buffers from one block to the next)."""
    scanner: native.Scanner | None = getattr(_local, "scanner", None)
    if scanner is None:
        scanner = _local.scanner = native.Scanner()
    return scanner


def _blocks(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """A stream as blocks of whole lines (the last one as it ends): the part of a
    read after its last newline starts the next block."""
    rest = b""
    while data := read(_BLOCK_BYTES):
        if rest:
            data = rest + data
        cut = data.rfind(b"\n") + 1
        if cut == len(data):
            rest = b""
            yield data
        elif cut:
            rest = data[cut:]
            yield data[:cut]
        else:
            rest = data
    if rest:
        yield rest


def _bounded(read: Callable[[int], bytes], size: int) -> Callable[[int], bytes]:
    """``read`` that stops after ``size`` bytes."""
    left = size

    def bounded(n: int) -> bytes:
        nonlocal left
        data = read(min(n, left))
        left -= len(data)
        return data

    return bounded
