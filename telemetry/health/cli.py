"""``telemetry health``: check the blog's dependencies from the command line.

Checks the database at ``--database-url`` (default ``$DATABASE_URL``), the
Redis at ``--redis-url`` (default ``$REDIS_URL``), the disks holding each
``--disk`` path, and memory; prints a table (or ``--json``) and exits 0 when
healthy, 1 when degraded, 2 when unhealthy, like the HTTP endpoint's verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

_EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def add_parser(subparsers: Any) -> None:
    """Add the ``health`` sub-command to the ``telemetry`` CLI."""
    parser = subparsers.add_parser(
        "health",
        help="check the database, cache, disk and memory; exit 0/1/2",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL URL (default: $DATABASE_URL; skipped when unset)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="Redis URL (default: $REDIS_URL; skipped when unset)",
    )
    parser.add_argument(
        "--llm-models-url",
        default=None,
        help="an LLM endpoint's model listing URL to probe (non-critical)",
    )
    parser.add_argument(
        "--disk",
        action="append",
        default=None,
        metavar="PATH",
        help="check the filesystem holding PATH (repeatable; default: .)",
    )
    parser.add_argument("--disk-warning", type=_ratio, default=0.85, metavar="RATIO")
    parser.add_argument("--disk-critical", type=_ratio, default=0.95, metavar="RATIO")
    parser.add_argument("--memory-warning", type=_ratio, default=0.9, metavar="RATIO")
    parser.add_argument("--memory-critical", type=_ratio, default=0.97, metavar="RATIO")
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=3.0,
        metavar="SECONDS",
        help="per-check timeout (default: 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def _ratio(text: str) -> float:
    value = _positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the checks the arguments name; print the report; return 0, 1 or 2."""
    from telemetry.health import checks
    from telemetry.health.checker import HealthChecker

    try:
        checker = HealthChecker(default_timeout_s=args.timeout, log_changes=False)
        if args.database_url:
            checker.register(
                "database", checks.database_check(url=args.database_url, timeout_s=args.timeout)
            )
        if args.redis_url:
            checker.register("cache", checks.redis_check(args.redis_url, timeout_s=args.timeout))
        if args.llm_models_url:
            checker.register(
                "llm",
                checks.llm_check(models_url=args.llm_models_url, timeout_s=args.timeout),
                critical=False,
            )
        paths = args.disk or ["."]
        for path in paths:
            name = "disk" if len(paths) == 1 else f"disk {path}"
            checker.register(
                name,
                checks.disk_check(path, warning=args.disk_warning, critical=args.disk_critical),
            )
        checker.register(
            "memory",
            checks.memory_check(warning=args.memory_warning, critical=args.memory_critical),
        )
    except (ValueError, TypeError, ImportError) as exc:
        print(f"telemetry health: {exc}", file=sys.stderr)
        return 2
    report = checker.check()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_table(report)
    return _EXIT_CODES[report["status"]]


def _print_table(report: dict[str, Any]) -> None:
    rows = []
    for name, result in report["checks"].items():
        details = {
            k: v for k, v in result.items() if k not in ("status", "critical", "latency_s", "error")
        }
        note = result.get("error") or ", ".join(f"{k}={v}" for k, v in details.items())
        rows.append((name, result["status"], f"{result['latency_s'] * 1000:.1f} ms", note))
    title = f"health: {report['status']}  ({report['timestamp']})"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the CLI extra is not installed: plain columns
        print(title)
        for row in rows:
            print("  ".join(str(cell) for cell in row))
        return
    colours = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}
    table = Table(title=title, title_justify="left")
    for column in ("check", "status", "latency", "details"):
        table.add_column(column, overflow="fold")
    for name, status, latency, note in rows:
        table.add_row(name, f"[{colours[status]}]{status}[/]", latency, note)
    Console().print(table)
