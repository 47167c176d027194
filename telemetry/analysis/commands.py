"""``telemetry report ...``, ``telemetry post``, ``telemetry trace``: the analysis commands.

Every command brings the analysis cache up to date with the files first (reading
only what is new), then answers from the flat tables. Exit codes: 0 answered
(possibly with an empty table), 1 nothing found for the post or trace asked
about, 2 bad arguments or no telemetry data to read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from telemetry.analysis import reports, views
from telemetry.analysis.render import FORMATS, waterfall, write
from telemetry.analysis.store import StoreError, SyncStats, open_store
from telemetry.analysis.timespec import parse_duration, parse_instant

_PROGRESS_AFTER_S = 0.5


def add_parser(subparsers: Any) -> None:
    """Add ``report``, ``post`` and ``trace`` to the ``telemetry`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=None,
        help="telemetry data directory (default: the data_dir setting, TELEMETRY_DATA_DIR)",
    )  # fmt: skip
    common.add_argument("--since", help="start: a duration back from now (15m, 24h) or a time")
    common.add_argument("--until", help="end: a duration back from now or a time")
    common.add_argument("--format", choices=FORMATS, default="table", help="output format")

    report = subparsers.add_parser("report", help="errors, trends, queries, stages, llm")
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)
    helps = {
        "errors": "errors by type and fingerprint: count, first/last seen, posts, stages",
        "trends": "error counts per time bucket and type",
        "queries": "per query text: executions, avg/p50/p95/max, total time, errors",
        "stages": "per stage: runs, avg/p95/max, failures, retries",
        "llm": "per action and model: calls, latency, tokens, prompt size, failures",
    }
    for name in reports.REPORTS:
        sub = kinds.add_parser(name, parents=[common], help=helps[name])
        if name == "trends":
            sub.add_argument("--bucket", default="1h", help="bucket width (default 1h)")
        if name in ("errors", "queries"):
            sub.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
        sub.set_defaults(func=_report)

    post = subparsers.add_parser("post", parents=[common], help="one post's journey")
    post.add_argument("post_id")
    post.set_defaults(func=_post)
    trace = subparsers.add_parser("trace", parents=[common], help="one trace as a waterfall")
    trace.add_argument("trace_id")
    trace.set_defaults(func=_trace)


def _data_dir(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    from telemetry.config import load_settings

    return load_settings(os.environ).data_dir


def _window(args: argparse.Namespace) -> reports.Window:
    since = parse_instant(args.since) if args.since else None
    until = parse_instant(args.until) if args.until else None
    if since is not None and until is not None and since >= until:
        raise ValueError("--since must be before --until")
    return reports.Window(since, until)


def _load(args: argparse.Namespace) -> Any:
    """Open and refresh the cache, with a progress bar if that takes a while."""
    directory = _data_dir(args)
    stderr = Console(stderr=True)
    state: dict[str, Any] = {"started": time.monotonic(), "bar": None}

    def progress(done: int, total: int) -> None:
        if state["bar"] is None:
            if not stderr.is_terminal or time.monotonic() - state["started"] < _PROGRESS_AFTER_S:
                return
            bar = Progress(
                "reading telemetry", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                console=stderr, transient=True,
            )  # fmt: skip
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("read", total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        con, stats = open_store(directory, progress=progress)
    finally:
        if state["bar"] is not None:
            state["bar"].stop()
    _report_corrupt(stats, stderr)
    has_files = con.execute("SELECT count(*) FROM sources").fetchone()
    if not has_files or not has_files[0]:
        con.close()
        raise StoreError(f"no telemetry files (*.jsonl) in {directory}")
    return con


def _report_corrupt(stats: SyncStats, console: Console) -> None:
    """Say once, when they are first read, how many lines could not be used."""
    for name, count in sorted(stats.corrupt.items()):
        console.print(
            f"telemetry: skipped {count} corrupt or unreadable line{'s' * (count != 1)} in {name}",
            style="yellow",
            highlight=False,
        )


def _guarded(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return body(args)
        except (StoreError, ValueError) as exc:
            print(f"telemetry: {exc}", file=sys.stderr)
            return 2

    return run


@_guarded
def _report(args: argparse.Namespace) -> int:
    window = _window(args)
    if args.report == "trends":
        parse_duration(args.bucket)  # a bad bucket is an argument error, before any reading
    con = _load(args)
    try:
        if args.report == "errors":
            result = reports.errors(con, window, limit=args.limit)
        elif args.report == "trends":
            result = reports.trends(con, window, bucket=args.bucket)
        elif args.report == "queries":
            result = reports.queries(con, window, limit=args.limit)
        elif args.report == "stages":
            result = reports.stages(con, window)
        else:
            result = reports.llm(con, window)
    finally:
        con.close()
    write(result, args.format, sys.stdout)
    return 0


@_guarded
def _post(args: argparse.Namespace) -> int:
    window = _window(args)
    con = _load(args)
    try:
        result = views.post(con, args.post_id, window)
    finally:
        con.close()
    if not result.rows:
        print(f"telemetry: no stages recorded for post {args.post_id!r}", file=sys.stderr)
        return 1
    write(result, args.format, sys.stdout)
    return 0


@_guarded
def _trace(args: argparse.Namespace) -> int:
    con = _load(args)
    try:
        roots = views.trace(con, args.trace_id)
    finally:
        con.close()
    if not roots:
        print(f"telemetry: no spans for trace {args.trace_id!r}", file=sys.stderr)
        return 1
    if args.format == "table":
        waterfall(roots, args.trace_id, Console())
    else:
        write(views.trace_result(roots, args.trace_id), args.format, sys.stdout)
    return 0
