"""What the demo prints: progress while it runs, then where its telemetry went.

The closing summary reads the files back rather than trusting counters: it
counts the spans, log records and metric points that this process wrote
(export requests whose Resource carries this ``process.pid``, so the earlier
runs a shared data directory still holds are left out), then prints the posts'
outcomes from the database and the health report.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

import telemetry
from examples.blog.app import PostResult
from examples.blog.stages import STAGES

# signal -> (file stem, resource list key, scope list key, item list key)
_LAYOUT: dict[str, tuple[str, str, str, str]] = {
    "spans": ("traces", "resourceSpans", "scopeSpans", "spans"),
    "log records": ("logs", "resourceLogs", "scopeLogs", "logRecords"),
    "metric points": ("metrics", "resourceMetrics", "scopeMetrics", "metrics"),
}
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


@dataclass(frozen=True)
class SignalCount:
    """How many items of one signal a process wrote, and into which files."""

    signal: str
    count: int
    files: tuple[Path, ...]


def signal_files(data_dir: Path, stem: str) -> list[Path]:
    """``stem.jsonl`` and its rotated backups (``stem-<time>.jsonl[.gz]``), oldest first."""
    backups = sorted(data_dir.glob(f"{stem}-*.jsonl*"))
    current = data_dir / f"{stem}.jsonl"
    return [*backups, *([current] if current.exists() else [])]


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _requests(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _resource_pid(resource: Mapping[str, Any]) -> int | None:
    for attribute in resource.get("attributes", ()):
        if attribute.get("key") == "process.pid":
            value = attribute.get("value", {})
            raw = value.get("intValue", value.get("stringValue"))
            return int(raw) if raw is not None else None
    return None


def _items_in(request: Mapping[str, Any], layout: tuple[str, str, str, str], pid: int) -> int:
    _, resource_key, scope_key, item_key = layout
    count = 0
    for block in request.get(resource_key, ()):
        if _resource_pid(block.get("resource", {})) != pid:
            continue
        for scope in block.get(scope_key, ()):
            items = scope.get(item_key, ())
            if item_key == "metrics":
                count += sum(_points(metric) for metric in items)
            else:
                count += len(items)
    return count


def _points(metric: Mapping[str, Any]) -> int:
    for kind in _METRIC_KINDS:
        if kind in metric:
            return len(metric[kind].get("dataPoints", ()))
    return 0


def count_written(data_dir: Path, pid: int | None = None) -> list[SignalCount]:
    """Spans, log records and metric points process ``pid`` (default: this one) wrote."""
    pid = os.getpid() if pid is None else pid
    counts = []
    for signal, layout in _LAYOUT.items():
        paths = signal_files(data_dir, layout[0])
        total = sum(_items_in(req, layout, pid) for path in paths for req in _requests(path))
        counts.append(SignalCount(signal, total, tuple(paths)))
    return counts


def print_post(result: PostResult, out: TextIO) -> None:
    """One line per finished post, as the run goes."""
    if result.published:
        verdict = f"published  {result.title!r}"
    else:
        verdict = f"FAILED at {result.failed_stage} ({result.error})"
    out.write(
        f"  post {result.post_id:>4}  {verdict}  "
        f"[{result.stage_runs} stage runs, {result.duration_s:.2f}s]\n"
    )
    out.flush()


@dataclass(frozen=True)
class RunSummary:
    """What the run produced, gathered while its dependencies were still up."""

    results: Sequence[PostResult]
    outcomes: Mapping[str, int]
    elapsed_s: float
    health: Mapping[str, Any]


def print_summary(summary: RunSummary, handle: telemetry.Telemetry, out: TextIO) -> None:
    """The closing report: posts, where the telemetry went and how much, then health.

    Flushes telemetry first, so the counts include everything recorded so far
    (the final metrics collection at shutdown comes on top).
    """
    flushed = handle.flush()
    published = summary.outcomes.get("published", 0)
    failed = summary.outcomes.get("failed", 0)
    retried = sum(1 for r in summary.results if r.published and r.stage_runs > len(STAGES))
    out.write(
        f"\n{len(summary.results)} posts in {summary.elapsed_s:.2f}s: {published} published, "
        f"{failed} failed ({retried} published after retries)\n"
    )
    data_dir = handle.data_dir
    if data_dir is not None:
        out.write(f"\ntelemetry files in {data_dir.resolve()}:\n")
        for count in count_written(data_dir):
            names = ", ".join(p.name for p in count.files) or "(no file yet)"
            out.write(f"  {count.count:>6} {count.signal:<14} {names}\n")
        if not flushed:
            out.write("  (the flush timed out, so these counts may be partial)\n")
        out.write(
            f"  ask them: telemetry report stages|queries|llm|errors --dir {data_dir}\n"
            f"            telemetry post {summary.results[0].post_id if summary.results else 'ID'}"
            f" --dir {data_dir}\n"
        )
    else:
        out.write("\nlocal telemetry files are off (TELEMETRY_FILES=false or OTEL_SDK_DISABLED)\n")
    if handle.enabled and handle.settings.otlp_endpoint:
        out.write(
            f"  also exported over OTLP ({handle.settings.otlp_protocol}) "
            f"to {handle.settings.otlp_endpoint}\n"
        )
    out.write(f"\nhealth: {summary.health.get('status', 'unknown')}\n")
    for name, check in sorted(summary.health.get("checks", {}).items()):
        detail = check.get("error") or _details(check)
        out.write(
            f"  {name:<10} {check.get('status', '?'):<10} "
            f"{float(check.get('latency_s', 0.0)) * 1000:7.1f} ms  {detail}\n"
        )
    out.flush()


def _details(check: Mapping[str, Any], width: int = 80) -> str:
    """A check's details as ``key=value`` pairs (nested ones dotted), cut to ``width``."""
    pairs: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            pairs.append(f"{prefix[:-1]}={value}")

    walk("", {k: v for k, v in check.items() if k not in ("status", "critical", "latency_s")})
    text = " ".join(pairs)
    return text if len(text) <= width else text[: width - 1] + "…"
