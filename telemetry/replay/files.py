"""The file set a replay reads: which files, in which order, line by line.

A data dir holds one OTLP/JSON lines file per signal (``traces.jsonl``,
``logs.jsonl``, ``metrics.jsonl``), written by this package or by a collector's
``file`` exporter, plus rotated backups named like the collector's rotation
(``traces-2006-01-02T15-04-05.000.jsonl``, optionally ``.gz``). Backups are read
oldest first and the live file last, so data goes out in the order it was written.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Signal = Literal["traces", "logs", "metrics"]
SIGNALS: tuple[Signal, ...] = ("traces", "logs", "metrics")

# the top-level key of one export request per signal, and where its items sit
_RESOURCE_KEY: dict[Signal, str] = {
    "traces": "resourceSpans",
    "logs": "resourceLogs",
    "metrics": "resourceMetrics",
}
_SCOPE_KEY: dict[Signal, str] = {
    "traces": "scopeSpans",
    "logs": "scopeLogs",
    "metrics": "scopeMetrics",
}
_ITEM_KEY: dict[Signal, str] = {"traces": "spans", "logs": "logRecords", "metrics": "metrics"}
_METRIC_DATA_KEYS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")

# errors a damaged .gz raises part-way through
UNREADABLE_ERRORS = (OSError, EOFError, zlib.error)


@dataclass(frozen=True)
class SignalFile:
    """One file of the set. ``live`` is the file a writer may still append to."""

    signal: Signal
    path: Path
    live: bool

    def lines(self) -> Iterator[bytes]:
        """The file's lines as written, each with its newline if it has one."""
        opener = gzip.open if self.path.name.endswith(".gz") else open
        with opener(self.path, "rb") as handle:
            yield from handle

    def identity(self) -> str | None:
        """A name for the file's content that survives rotation and compression.

        Rotation renames ``traces.jsonl`` and may gzip it; its first line stays
        the same, so the checkpoint keys on that. ``None`` for an empty file.
        """
        for line in self.lines():
            digest = hashlib.sha256(line.rstrip(b"\n")).hexdigest()[:32]
            return f"{self.signal}:{digest}"
        return None


def discover(directory: Path, signals: tuple[Signal, ...] = SIGNALS) -> list[SignalFile]:
    """List the set's files per signal: backups oldest first, then the live file.

    Raises ``FileNotFoundError`` when the directory does not exist.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"no such directory: {directory}")
    found: list[SignalFile] = []
    for signal in signals:
        backups = [
            path
            for pattern in (f"{signal}-*.jsonl", f"{signal}-*.jsonl.gz")
            for path in directory.glob(pattern)
            if path.is_file()
        ]
        # the timestamp in the name orders backups; .gz or not does not matter
        backups.sort(key=lambda path: path.name.removesuffix(".gz"))
        found.extend(SignalFile(signal, path, live=False) for path in backups)
        live = directory / f"{signal}.jsonl"
        if live.is_file():
            found.append(SignalFile(signal, live, live=True))
    return found


def count_lines(file: SignalFile) -> int:
    """Number of lines in the file (a damaged .gz counts up to the damage)."""
    total = 0
    try:
        for _ in file.lines():
            total += 1
    except UNREADABLE_ERRORS:
        pass
    return total


def check_request(signal: Signal, document: Any) -> None:
    """Raise ``ValueError`` unless ``document`` looks like one export request of ``signal``."""
    if not isinstance(document, dict):
        raise ValueError("line is not a JSON object")
    key = _RESOURCE_KEY[signal]
    if not isinstance(document.get(key), list):
        raise ValueError(f"line has no {key!r} list: not a {signal} export request")


def count_items(signal: Signal, document: dict[str, Any]) -> int:
    """Spans, log records or metric data points in one export request."""
    total = 0
    for resource in document.get(_RESOURCE_KEY[signal], []):
        for scope in resource.get(_SCOPE_KEY[signal], []):
            items = scope.get(_ITEM_KEY[signal], [])
            if signal != "metrics":
                total += len(items)
                continue
            for metric in items:
                for data_key in _METRIC_DATA_KEYS:
                    if data_key in metric:
                        total += len(metric[data_key].get("dataPoints", []))
    return total
