"""Local files in the collector's ``file`` exporter format, rotated and retained.

Each export batch becomes one line: an OTLP/JSON ``Export*ServiceRequest``
encoded by the OpenTelemetry JSON encoders, so the same reader serves these files
and a collector's, and a collector's ``otlp_json_file`` receiver can ship them.

Rotation follows the collector's (lumberjack) naming: when ``traces.jsonl`` would
grow past ``max_bytes`` it is renamed ``traces-2026-12-03T15-04-05.000.jsonl``
(UTC, optionally gzip-compressed) and a new file is started; backups beyond
``backups`` or older than ``max_age_s`` are deleted. A line is written with one
``write`` on an ``O_APPEND`` descriptor and cut back if the write fails part way,
so readers never see half a line. Several processes may append to one file: each
notices when another rotated it and reopens.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
from opentelemetry.exporter.otlp.json.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.json.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from telemetry import _diagnostics

SIGNAL_FILES = {"traces": "traces.jsonl", "logs": "logs.jsonl", "metrics": "metrics.jsonl"}
_BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"

T = TypeVar("T")


class DataDirError(OSError):
    """The data directory cannot be created or written; raised by ``setup()``."""


def check_writable(directory: Path) -> Path:
    """Create ``directory`` if needed and prove a file can be written there.

    Raises :class:`DataDirError` naming the directory and the reason, so a
    misconfiguration fails at start-up rather than as lost data at the first export.
    """
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(
            f"telemetry data directory {str(directory)!r} is not writable: "
            f"{exc.strerror or exc}; set data_dir / TELEMETRY_DATA_DIR to a writable folder"
        ) from exc
    return directory.resolve()


def backup_name(path: Path, when: datetime) -> Path:
    """The collector-style name of a backup of ``path`` rotated at ``when`` (UTC)."""
    stamp = when.strftime(_BACKUP_TIME_FORMAT) + f".{when.microsecond // 1000:03d}"
    return path.with_name(f"{path.stem}-{stamp}{path.suffix}")


def list_backups(path: Path) -> list[Path]:
    """Rotated backups of ``path`` (compressed or not), oldest first."""
    pattern = f"{path.stem}-????-??-??T??-??-??.???{path.suffix}"
    found = list(path.parent.glob(pattern)) + list(path.parent.glob(pattern + ".gz"))
    return sorted(found, key=lambda p: p.name)


class RotatingLineWriter:
    """Appends whole lines to one file, rotating by size and pruning old backups."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        backups: int,
        max_age_s: float | None = None,
        compress: bool = False,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_age_s = max_age_s
        self.compress = compress
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._inode: int | None = None
        self.lines_written = 0

    def write_line(self, line: bytes) -> None:
        """Append ``line`` (newline-terminated) as one unit; raise ``OSError`` on failure."""
        with self._lock:
            fd = self._current_fd()
            size = os.fstat(fd).st_size
            if size and size + len(line) > self.max_bytes:
                self._rotate()
                fd = self._current_fd()
                size = 0
            self._append(fd, size, line)
            self.lines_written += 1

    def close(self) -> None:
        with self._lock:
            self._close_fd()

    def reopen_after_fork(self) -> None:
        """Drop the inherited descriptor and lock; the child opens its own on next write."""
        self._lock = threading.Lock()
        self._fd = None
        self._inode = None

    def _current_fd(self) -> int:
        if self._fd is not None:
            try:
                if os.stat(self.path).st_ino == self._inode:
                    return self._fd
            except FileNotFoundError:
                pass
            self._close_fd()  # another process rotated or someone removed the file
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fd, self._inode = fd, os.fstat(fd).st_ino
        return fd

    @staticmethod
    def _append(fd: int, size_before: int, line: bytes) -> None:
        view = memoryview(line)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size_before)  # never leave half a line behind
            raise

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = self._inode = None

    def _rotate(self) -> None:
        self._close_fd()
        when = datetime.now(UTC)
        target = backup_name(self.path, when)
        while target.exists() or target.with_name(target.name + ".gz").exists():
            when += timedelta(milliseconds=1)  # two rotations in one millisecond
            target = backup_name(self.path, when)
        try:
            os.rename(self.path, target)
        except FileNotFoundError:
            return  # another process rotated it first
        if self.compress:
            _gzip_in_place(target)
        self._prune()

    def _prune(self) -> None:
        backups = list_backups(self.path)
        excess = backups[: max(0, len(backups) - self.backups)]
        if self.max_age_s is not None:
            cutoff = time.time() - self.max_age_s
            excess += [p for p in backups if p not in excess and _mtime(p) < cutoff]
        for old in excess:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _gzip_in_place(path: Path) -> None:
    compressed = path.with_name(path.name + ".gz")
    partial = compressed.with_name(compressed.name + ".tmp")
    with open(path, "rb") as src, gzip.open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(partial, compressed)
    path.unlink()


def _default(value: Any) -> Any:
    """orjson fallback: bytes as hex (ids), anything else as its text."""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def encode_line(request: dict[str, Any]) -> bytes:
    """One OTLP/JSON request as one newline-terminated line."""
    return orjson.dumps(request, default=_default, option=orjson.OPT_APPEND_NEWLINE)


class _FileSink(Generic[T]):
    """Shared body of the three exporters: encode a batch, write it as one line."""

    def __init__(self, writer: RotatingLineWriter, encode: Callable[[T], dict[str, Any] | None]):
        self.writer = writer
        self._encode = encode
        self._shutdown = False

    def export(self, batch: T) -> bool:
        if self._shutdown:
            return False
        try:
            request = self._encode(batch)
            if request is None:
                return True
            self.writer.write_line(encode_line(request))
        except Exception as exc:  # an export error must never reach the app
            _diagnostics.warn(
                f"file-export:{self.writer.path}",
                f"could not write {self.writer.path}: {type(exc).__name__}: {exc}",
            )
            return False
        return True

    def shutdown(self) -> None:
        self._shutdown = True
        self.writer.close()


def _spans_request(spans: Sequence[ReadableSpan]) -> dict[str, Any] | None:
    return encode_spans(spans).to_dict() if spans else None


def _logs_request(records: Sequence[ReadableLogRecord]) -> dict[str, Any] | None:
    return encode_logs(records).to_dict() if records else None


def _metrics_request(data: MetricsData) -> dict[str, Any] | None:
    return encode_metrics(data).to_dict() if data.resource_metrics else None


class FileSpanExporter(SpanExporter):
    """Writes span batches to ``traces.jsonl``."""

    def __init__(self, writer: RotatingLineWriter) -> None:
        self._sink: _FileSink[Sequence[ReadableSpan]] = _FileSink(writer, _spans_request)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._sink.export(spans)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._sink.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class FileLogExporter(LogRecordExporter):
    """Writes log-record batches to ``logs.jsonl``."""

    def __init__(self, writer: RotatingLineWriter) -> None:
        self._sink: _FileSink[Sequence[ReadableLogRecord]] = _FileSink(writer, _logs_request)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._sink.export(batch)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._sink.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class FileMetricExporter(MetricExporter):
    """Writes each metrics collection to ``metrics.jsonl`` (cumulative temporality)."""

    def __init__(self, writer: RotatingLineWriter) -> None:
        super().__init__()
        self._sink: _FileSink[MetricsData] = _FileSink(writer, _metrics_request)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        ok = self._sink.export(metrics_data)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._sink.shutdown()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True


def writers_for(
    data_dir: Path,
    *,
    max_bytes: int,
    backups: int,
    max_age_s: float | None,
    compress: bool,
) -> dict[str, RotatingLineWriter]:
    """One rotating writer per signal under ``data_dir``."""
    return {
        signal: RotatingLineWriter(
            data_dir / filename,
            max_bytes=max_bytes,
            backups=backups,
            max_age_s=max_age_s,
            compress=compress,
        )
        for signal, filename in SIGNAL_FILES.items()
    }
