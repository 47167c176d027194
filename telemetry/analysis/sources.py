"""Which files make up a telemetry file set, and which of their bytes are new.

A file set is every ``*.jsonl`` and ``*.jsonl.gz`` file directly under the data
directory: the package's live files, their rotated backups
(``traces-2006-01-02T15-04-05.000.jsonl[.gz]``) and a collector's file exporter
output alike. Rotation renames the live file and may then compress it, so a file
is recognised by its content, not its name or inode: the hash of its first
complete line (each line is one export batch, with its own ids and timestamps).
Rotated files never change; the live file only grows. So the analysis cache keeps,
per identity, how many content bytes it has read, and reads only the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BACKUP = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d{3})?\.jsonl(?:\.gz)?$")
_BLOCK = 1 << 16


@dataclass(frozen=True)
class SourceFile:
    """One file of the set, as found on disk now."""

    path: Path
    inode: int
    size: int  # bytes on disk (compressed size for .gz)
    mtime_ns: int

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(".gz")

    @property
    def finished(self) -> bool:
        """A rotated backup: complete, it will never grow again."""
        return self.compressed or bool(_BACKUP.search(self.path.name))


@dataclass(frozen=True)
class Segment:
    """Content bytes ``[start, end)`` of a file to flatten (``end`` None: to EOF)."""

    path: Path
    start: int
    end: int | None


def open_bytes(path: Path) -> Any:
    """A binary reader of the file's content, decompressing ``.gz`` backups."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def discover(directory: Path) -> list[SourceFile]:
    """The file set's files, oldest backups first and live files last."""
    found: list[SourceFile] = []
    for entry in os.scandir(directory):
        name = entry.name
        if name.startswith(".") or not (name.endswith(".jsonl") or name.endswith(".jsonl.gz")):
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue  # removed by retention while we looked
        if entry.is_file():
            found.append(SourceFile(Path(entry.path), st.st_ino, st.st_size, st.st_mtime_ns))
    return sorted(found, key=lambda f: (not f.finished, f.path.name))


def identity(source: SourceFile) -> str | None:
    """Hash of the file's first complete line; None while it has no complete line.

    A finished file whose only line is cut short is identified by all its bytes.
    """
    try:
        with open_bytes(source.path) as stream:
            first = stream.readline()
    except (OSError, EOFError):
        return None
    if not first or (not first.endswith(b"\n") and not source.finished):
        return None
    return hashlib.blake2b(first, digest_size=16).hexdigest()


def complete_end(path: Path, start: int, size: int) -> int:
    """Offset just after the last newline in ``[start, size)`` of a plain file.

    The live file's last line may be half written by an exporter at this moment;
    it is left for the next read.
    """
    with open(path, "rb") as stream:
        position = size
        while position > start:
            step = min(_BLOCK, position - start)
            stream.seek(position - step)
            block = stream.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
    return start


def split(
    path: Path, start: int, end: int | None, size: int, chunk_bytes: Callable[[int], int]
) -> list[Segment]:
    """Cut a plain file's range into segments on line boundaries, each of about
    ``chunk_bytes(bytes left in the range)``."""
    limit = size if end is None else end
    segments: list[Segment] = []
    with open(path, "rb") as stream:
        position = start
        while limit - position > (chunk := chunk_bytes(limit - position)):
            stream.seek(position + chunk)
            cut = position + chunk
            while True:
                block = stream.read(_BLOCK)
                if not block:
                    cut = limit
                    break
                newline = block.find(b"\n")
                if newline >= 0:
                    cut += newline + 1
                    break
                cut += len(block)
            if cut >= limit:
                break
            segments.append(Segment(path, position, cut))
            position = cut
    segments.append(Segment(path, position, end))
    return segments
