"""Timing, baseline exporters and the results table shared by the overhead benchmarks.

Every figure is a median over several repeats of ``n`` operations timed with
``time.perf_counter``. The variants of one group are interleaved inside each
repeat (and their order rotated from repeat to repeat), so a noisy neighbour
slows bare and instrumented runs alike instead of whichever ran last.

Each timed batch is followed by a flush of the variant's providers; the flush is
timed too. ``us/op`` is the cost the application thread sees; ``+flush`` adds the
time it took to export what the batch queued. On a machine with few cores the
background export thread competes with the application for the CPU and the GIL,
so the second figure is the honest total cost of an operation.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.exporter.otlp.json.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# ---------------------------------------------------------------------------
# baseline exporters: the same work as the package's file exporter, minus its policy


class _JsonLines:
    """Appends one OTLP/JSON export request per batch to a file, like the package does.

    The baselines export through this so that their background thread does the
    same encoding and writing as the package's file exporter; what the package
    adds on top (attribute scrubbing, rotation checks) is then part of its cost.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("ab", buffering=0)
        self.items = 0

    def write(self, request: dict[str, Any], count: int) -> None:
        self._file.write(orjson.dumps(request, default=str, option=orjson.OPT_APPEND_NEWLINE))
        self.items += count

    def close(self) -> None:
        self._file.close()


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        self.sink = _JsonLines(path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if spans:
            self.sink.write(encode_spans(spans).to_dict(), len(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.sink.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class JsonLinesLogExporter(LogRecordExporter):
    def __init__(self, path: Path) -> None:
        self.sink = _JsonLines(path)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if batch:
            self.sink.write(encode_logs(batch).to_dict(), len(batch))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.sink.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# ---------------------------------------------------------------------------
# timing


@dataclass
class Variant:
    """One way of doing the operation: ``op()`` once, and how to flush what it queued."""

    name: str
    op: Callable[[], object]
    flush: Callable[[], object] | None = None


@dataclass
class Timing:
    """Medians over the repeats, in microseconds per operation."""

    us: float
    us_flush: float
    spread: float  # interquartile range of ``us`` across repeats, as a fraction of the median
    samples: list[float] = field(default_factory=list)  # us/op of each repeat
    samples_flush: list[float] = field(default_factory=list)  # us/op with flush, each repeat

    def minus(self, other: Timing) -> Timing:
        """The added cost over ``other``: medians of the per-repeat differences.

        Repeat ``i`` of both ran back to back, so pairing them cancels most of the
        load that changes from one repeat to the next.
        """
        fg = [a - b for a, b in zip(self.samples, other.samples, strict=True)]
        total = [a - b for a, b in zip(self.samples_flush, other.samples_flush, strict=True)]
        return Timing(statistics.median(fg), statistics.median(total), 0.0, fg, total)


def _batch(variant: Variant, n: int) -> tuple[float, float]:
    op = variant.op
    gc.collect()
    started = time.perf_counter()
    for _ in range(n):
        op()
    ops_done = time.perf_counter()
    if variant.flush is not None:
        variant.flush()
    flushed = time.perf_counter()
    return (ops_done - started) / n * 1e6, (flushed - started) / n * 1e6


def measure(variants: Sequence[Variant], n: int, repeats: int) -> dict[str, Timing]:
    """Time ``n`` operations of every variant, ``repeats`` times, interleaved; medians."""
    for variant in variants:  # warm-up: caches, lazy imports, first connection round trips
        _batch(variant, max(10, n // 5))
    runs: dict[str, list[tuple[float, float]]] = {v.name: [] for v in variants}
    for repeat in range(repeats):
        shift = repeat % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            runs[variant.name].append(_batch(variant, n))
    timings: dict[str, Timing] = {}
    for name, samples in runs.items():
        fg = [s[0] for s in samples]
        total = [s[1] for s in samples]
        median = statistics.median(fg)
        q = statistics.quantiles(fg, n=4) if len(fg) >= 4 else [median, median, median]
        timings[name] = Timing(
            us=median,
            us_flush=statistics.median(total),
            spread=(q[2] - q[0]) / median if median else 0.0,
            samples=fg,
            samples_flush=total,
        )
    return timings


# ---------------------------------------------------------------------------
# the results table


@dataclass
class Row:
    """One line of the table: a measured cost next to its baseline from the same run."""

    operation: str
    baseline: str
    base_us: float
    measured_us: float
    base_us_flush: float
    measured_us_flush: float
    target: float | None = None  # the ratio must be <= target (or < target when strict)
    strict: bool = False
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_us / self.base_us if self.base_us > 0 else float("inf")

    @property
    def ratio_flush(self) -> float:
        return (
            self.measured_us_flush / self.base_us_flush if self.base_us_flush > 0 else float("inf")
        )

    def _ok(self, ratio: float) -> bool:
        assert self.target is not None
        return ratio < self.target if self.strict else ratio <= self.target

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "-"
        ok, ok_flush = self._ok(self.ratio), self._ok(self.ratio_flush)
        if ok and ok_flush:
            return "PASS"
        if ok:
            return "over (+flush)"
        if ok_flush:
            return "over (us/op)"
        return "over"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


_HEADERS = (
    "operation",
    "baseline",
    "base us/op",
    "pkg us/op",
    "ratio",
    "base +flush",
    "pkg +flush",
    "ratio",
    "target",
    "result",
)
_RIGHT = {2, 3, 4, 5, 6, 7, 8}


def _cells(row: Row) -> list[str]:
    target = "-" if row.target is None else f"{'<' if row.strict else '<='} {row.target:.2f}x"
    return [
        row.operation,
        row.baseline,
        f"{row.base_us:.1f}",
        f"{row.measured_us:.1f}",
        f"{row.ratio:.2f}x",
        f"{row.base_us_flush:.1f}",
        f"{row.measured_us_flush:.1f}",
        f"{row.ratio_flush:.2f}x",
        target,
        row.verdict,
    ]


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table (no terminal needed), with the rows' notes underneath."""
    table = [list(_HEADERS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in _RIGHT else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(table[0]), "  ".join("-" * w for w in widths)]
    out += [line(cells) for cells in table[1:]]
    notes = [f"  [{r.operation}] {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def write_rows(path: Path, rows: Sequence[Row], extra: dict[str, Any] | None = None) -> None:
    payload = {"rows": [r.to_json() for r in rows], **(extra or {})}
    path.write_text(json.dumps(payload, indent=1))


def read_rows(path: Path) -> tuple[list[Row], dict[str, Any]]:
    payload = json.loads(path.read_text())
    rows = [Row.from_json(r) for r in payload.pop("rows")]
    return rows, payload
