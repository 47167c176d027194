"""Printing results: rich tables for people, JSON and CSV for other programs."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from telemetry.analysis.reports import Column, Result
from telemetry.analysis.views import SpanNode, flatten_tree

FORMATS = ("table", "json", "csv")
_WATERFALL_WIDTH = 40


def iso(ns: int | None) -> str | None:
    """UTC ISO 8601 with milliseconds, the form used in JSON and CSV output."""
    if ns is None:
        return None
    seconds, rest = divmod(int(ns), 10**9)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{rest // 10**6:03d}Z"


def seconds(value: float | None) -> str:
    """A duration a person reads at a glance: 850 µs, 12.3 ms, 1.20 s, 3m 05s."""
    if value is None:
        return ""
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    if value < 60:
        return f"{value:.2f} s"
    minutes, rest = divmod(value, 60)
    return f"{minutes:.0f}m {rest:02.0f}s"


def _cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "time":
        return (iso(value) or "").replace("T", " ")
    if column.kind == "seconds":
        return seconds(value)
    if column.kind == "float":
        return f"{value:,.1f}"
    if column.kind == "int":
        return f"{value:,}"
    return str(value)


def _plain(column: Column, value: Any) -> Any:
    if column.kind == "time" and value is not None:
        return iso(value)
    return value


_PIPE_WIDTH = 200


def _console(out: TextIO) -> Console:
    """A console for ``out``: the terminal's width, or a wide page when piped to a file."""
    isatty = getattr(out, "isatty", None)
    interactive = bool(isatty and isatty())
    return Console(file=out, width=None if interactive else _PIPE_WIDTH)


def write(result: Result, fmt: str, out: TextIO, console: Console | None = None) -> None:
    """Print ``result`` to ``out`` in ``fmt`` (one of FORMATS)."""
    if fmt == "json":
        records = [
            {c.name: _plain(c, v) for c, v in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        json.dump(records, out, indent=2, default=str)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow([c.name for c in result.columns])
        for row in result.rows:
            cells = zip(result.columns, row, strict=True)
            writer.writerow(["" if v is None else _plain(c, v) for c, v in cells])
    elif fmt == "table":
        console = console or _console(out)
        table = Table(title=result.title, title_justify="left")
        for column in result.columns:
            numeric = column.kind in ("int", "float", "seconds")
            # figures and times never break mid-value; free text folds
            table.add_column(
                column.name,
                justify="right" if numeric else "left",
                no_wrap=numeric or column.kind == "time",
                overflow="fold",
            )
        for row in result.rows:
            table.add_row(*(_cell(c, v) for c, v in zip(result.columns, row, strict=True)))
        console.print(table)
        for note in result.notes:
            console.print(note, style="dim")
    else:
        raise ValueError(f"unknown format {fmt!r} (choose one of {', '.join(FORMATS)})")


def waterfall(roots: list[SpanNode], trace_id: str, console: Console) -> None:
    """The span tree with a bar per span placed on the trace's time line."""
    rows = flatten_tree(roots)
    start = min(n.start_ns for n in roots)
    end = max(node.end_ns for _, node in rows)
    span_ns = max(end - start, 1)
    # the time line takes what the names, durations and details leave of the terminal
    bar_width = max(10, min(_WATERFALL_WIDTH, console.width - 70))
    table = Table(title=f"Trace {trace_id}  ({seconds(span_ns / 1e9)})", title_justify="left")
    table.add_column("span", no_wrap=True, overflow="ellipsis", max_width=40)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("timeline", no_wrap=True, min_width=bar_width)
    table.add_column("detail", overflow="fold")
    for depth, node in rows:
        left = min(int((node.start_ns - start) / span_ns * bar_width), bar_width - 1)
        width = max(1, round((node.end_ns - node.start_ns) / span_ns * bar_width))
        width = min(width, bar_width - left)
        style = "red" if node.status_code == 2 else "green"
        bar = Text(" " * left) + Text("█" * width, style=style)
        name = Text("  " * depth + node.name, style="bold red" if node.status_code == 2 else "")
        table.add_row(name, seconds((node.end_ns - node.start_ns) / 1e9), bar, node.detail)
    console.print(table)
