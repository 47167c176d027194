"""The ``telemetry replay`` sub-command: arguments, progress, summary, exit code.

Exit codes: 0 when every line was sent (corrupt lines are skipped and reported,
since no rerun can fix them), 1 when something was not delivered (the endpoint
stayed down, refused requests or a signal), 2 for bad input, 130 when
interrupted; the checkpoint lets a rerun finish the job.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from telemetry.replay.runner import ReplaySummary

_PROTOCOLS = ("grpc", "http/protobuf", "http/json")
_SIGNALS = ("traces", "logs", "metrics")
_ITEM_NAMES = {"traces": "spans", "logs": "records", "metrics": "points"}


def add_parser(subparsers: Any) -> None:
    """Add ``replay`` to the ``telemetry`` command."""
    parser = subparsers.add_parser(
        "replay",
        help="send a telemetry file set to an OTLP endpoint (collector, Jaeger, any backend)",
        description=(
            "Send every line of DIR's traces/logs/metrics files (rotated and .gz backups "
            "included) to an OTLP endpoint, one export request per line. A checkpoint "
            "makes a rerun send only what was not yet acknowledged."
        ),
    )
    parser.add_argument("--dir", required=True, type=Path, help="the data dir to read")
    parser.add_argument(
        "--endpoint",
        required=True,
        help="OTLP endpoint URL, e.g. http://localhost:4317 (grpc) or http://localhost:4318",
    )
    parser.add_argument("--protocol", choices=_PROTOCOLS, default="grpc", help="default: grpc")
    parser.add_argument(
        "--signals",
        default=",".join(_SIGNALS),
        help="comma-separated subset of traces,logs,metrics (Jaeger takes traces only)",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="request header, e.g. an API key (repeatable)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint file (default: DIR/.replay-checkpoint.json)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="ignore this endpoint's checkpoint and send all"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request (default 10)"
    )
    parser.add_argument(
        "--give-up-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="stop retrying one request after this long (default 300)",
    )
    parser.add_argument(
        "--retry-initial",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="first back-off delay, doubled on each retry up to 30 s (default 0.5)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay ``args.dir`` to ``args.endpoint``; return the exit code."""
    try:
        from rich.console import Console
    except ModuleNotFoundError:
        print("telemetry replay needs the 'cli' extra: pip install 'blog-telemetry[cli]'",
              file=sys.stderr)  # fmt: skip
        return 2
    from telemetry.replay.checkpoint import DEFAULT_NAME, Checkpoint, CheckpointError
    from telemetry.replay.files import discover
    from telemetry.replay.runner import Replayer, RetryPolicy, pending
    from telemetry.replay.transport import open_sender

    err = Console(stderr=True)
    try:
        signals = _parse_signals(args.signals)
        headers = _parse_headers(args.header)
        if args.timeout <= 0:
            raise ValueError("--timeout must be > 0")
        retry = RetryPolicy(initial_s=args.retry_initial, give_up_after_s=args.give_up_after)
        files = discover(args.dir, signals)
        if not files:
            raise ValueError(
                f"{args.dir} has no {'/'.join(signals)} files "
                "(expected traces.jsonl, logs.jsonl, metrics.jsonl or their rotated backups)"
            )
        sender = open_sender(args.protocol, args.endpoint, timeout_s=args.timeout, headers=headers)
        checkpoint = Checkpoint(
            args.checkpoint or args.dir / DEFAULT_NAME,
            f"{args.protocol} {args.endpoint}",
            fresh=args.fresh,
        )
        checkpoint.save()  # fail now, not after the first request, if it cannot be written
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        print(f"telemetry replay: {exc}", file=sys.stderr)  # unwrapped, for logs and scripts
        return 2

    stop = threading.Event()
    with _progress(err, quiet=args.quiet) as progress, _stop_on_signals(stop, err):
        tasks = {
            name: progress.add_task(f"{name:8}", total=count)
            for name, count in pending(files, checkpoint).items()
        }
        replayer = Replayer(
            sender,
            checkpoint,
            retry=retry,
            stop=stop,
            on_progress=lambda name, lines: progress.advance(tasks[name], lines),
            on_retry=lambda reason, delay: progress.console.print(
                f"[yellow]endpoint not ready[/] ({reason}); retrying in {delay:.1f}s",
                highlight=False,
            ),
        )
        try:
            summary = replayer.run(files)
        finally:
            sender.close()
    _print_summary(Console(), summary, args)
    if summary.interrupted:
        return 130
    return 0 if summary.complete else 1


def _parse_signals(text: str) -> tuple[Any, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in _SIGNALS]
    if unknown or not names:
        raise ValueError(f"--signals takes a subset of {','.join(_SIGNALS)}, not {text!r}")
    return tuple(name for name in _SIGNALS if name in names)


def _parse_headers(pairs: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--header takes KEY=VALUE, not {pair!r}")
        headers[key.strip()] = value.strip()
    return headers


@contextmanager
def _progress(console: Console, *, quiet: bool) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "lines",
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=quiet) as progress:
        yield progress


@contextmanager
def _stop_on_signals(stop: threading.Event, console: Console) -> Iterator[None]:
    """Turn the first Ctrl-C or SIGTERM into a stop after the request in flight."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        console.print("stopping after the request in flight (checkpoint kept)")
        stop.set()
        signal.signal(signum, previous[signal.Signals(signum)])  # a second signal acts as usual

    previous = {
        signum: signal.signal(signum, _request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _print_summary(console: Console, summary: ReplaySummary, args: argparse.Namespace) -> None:
    from rich.table import Table

    table = Table(title=f"replay of {args.dir} to {args.endpoint} ({args.protocol})")
    for column in ("signal", "files", "requests", "sent", "earlier", "corrupt", "rejected"):
        table.add_column(column, justify="left" if column == "signal" else "right", no_wrap=True)
    for name, totals in summary.signals.items():
        table.add_row(
            name,
            str(totals.files),
            str(totals.requests),
            f"{totals.items} {_ITEM_NAMES[name]}",
            str(totals.already_sent),  # lines acknowledged in earlier runs
            str(totals.corrupt),
            str(totals.rejected_items),
        )
    console.print(table)
    if summary.retries:
        console.print(f"retried {summary.retries} time(s) while the endpoint was not ready")
    for name, totals in summary.signals.items():
        if totals.not_accepted:
            console.print(f"[red]{name} not sent:[/] {totals.not_accepted}", highlight=False)
        if totals.incomplete:
            console.print(f"{name}: the live file's last line is still being written; "
                          "a rerun sends it")  # fmt: skip
    for problem in summary.unreadable:
        console.print(f"[yellow]damaged file, read up to the damage:[/] {problem}")
    if summary.failure:
        console.print(f"[red]stopped:[/] {summary.failure}; rerun to send the rest",
                      highlight=False)  # fmt: skip
    elif summary.interrupted:
        console.print("interrupted; rerun the same command to send the rest")
