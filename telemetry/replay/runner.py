"""The replay loop: every unsent line of the file set, once, in order, with retries.

For each file, lines the checkpoint already counts are skipped; each other line
is checked, sent as one export request and recorded in the checkpoint as soon as
the endpoint acknowledges it. While the endpoint is down the same request is
retried with exponential back-off. A stop request (Ctrl-C, SIGTERM) is honoured
between requests and during back-off, never in the middle of one, so a rerun
sends exactly what is left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from telemetry.replay.checkpoint import Checkpoint
from telemetry.replay.files import (
    UNREADABLE_ERRORS,
    Signal,
    SignalFile,
    check_request,
    count_items,
    count_lines,
)
from telemetry.replay.transport import (
    ExportRequest,
    FatalError,
    RejectedError,
    Sender,
    TransientError,
    to_message,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off while the endpoint is down, up to ``give_up_after_s`` per request."""

    initial_s: float = 0.5
    multiplier: float = 2.0
    max_s: float = 30.0
    give_up_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.multiplier < 1 or self.max_s < self.initial_s:
            raise ValueError(
                "retry policy needs initial_s > 0, multiplier >= 1 and max_s >= initial_s"
            )
        if self.give_up_after_s < 0:
            raise ValueError("give_up_after_s must be >= 0")


@dataclass
class SignalTotals:
    """What happened to one signal's lines in this run."""

    files: int = 0
    requests: int = 0  # export requests the endpoint acknowledged
    items: int = 0  # spans, log records or metric data points in them
    rejected_items: int = 0  # items the endpoint said it dropped (partial success)
    rejected_requests: int = 0  # requests the endpoint refused outright
    already_sent: int = 0  # lines a previous run had sent (from the checkpoint)
    corrupt: int = 0  # lines that are not a valid export request: skipped
    incomplete: int = 0  # a live file's unterminated last line: left for the next run
    not_accepted: str | None = None  # why the endpoint refused this signal altogether


@dataclass
class ReplaySummary:
    """The outcome of a replay, for the report and the exit code."""

    signals: dict[Signal, SignalTotals] = field(default_factory=dict)
    retries: int = 0
    interrupted: bool = False
    failure: str | None = None  # why the run stopped early (gave up, fatal error)
    unreadable: list[str] = field(default_factory=list)  # damaged files, read up to the damage

    @property
    def complete(self) -> bool:
        """True when every readable line was sent or deliberately skipped."""
        return (
            not self.interrupted
            and self.failure is None
            and all(
                totals.not_accepted is None and totals.rejected_requests == 0
                for totals in self.signals.values()
            )
        )


ProgressCallback = Callable[[Signal, int], None]
RetryCallback = Callable[[str, float], None]


class _Stopped(Exception):
    pass


def pending(files: list[SignalFile], checkpoint: Checkpoint) -> dict[Signal, int]:
    """Lines per signal the checkpoint does not count as handled (for progress bars)."""
    totals: dict[Signal, int] = {}
    for file in files:
        identity = _identity(file)
        done = checkpoint.done(identity) if identity else 0
        totals[file.signal] = totals.get(file.signal, 0) + max(0, count_lines(file) - done)
    return totals


class Replayer:
    """Sends a file set through one sender, keeping the checkpoint current."""

    def __init__(
        self,
        sender: Sender,
        checkpoint: Checkpoint,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> None:
        self._sender = sender
        self._checkpoint = checkpoint
        self._retry = retry or RetryPolicy()
        self._stop = stop or threading.Event()
        self._on_progress = on_progress or (lambda signal, lines: None)
        self._on_retry = on_retry or (lambda reason, delay: None)

    def run(self, files: list[SignalFile]) -> ReplaySummary:
        summary = ReplaySummary()
        for file in files:
            totals = summary.signals.setdefault(file.signal, SignalTotals())
            if totals.not_accepted is not None:
                continue
            totals.files += 1
            try:
                self._replay_file(file, totals, summary)
            except _Stopped:
                summary.interrupted = True
                break
            except FatalError as exc:
                if not exc.signal_only:
                    summary.failure = str(exc)
                    break
                totals.not_accepted = str(exc)
            except TimeoutError as exc:
                summary.failure = str(exc)
                break
            except UNREADABLE_ERRORS as exc:
                summary.unreadable.append(f"{file.path}: {exc}")
        return summary

    def _replay_file(self, file: SignalFile, totals: SignalTotals, summary: ReplaySummary) -> None:
        identity = _identity(file)
        if identity is None:
            return
        done = self._checkpoint.done(identity)
        totals.already_sent += done
        for number, line in enumerate(file.lines()):
            if number < done:
                continue
            if self._stop.is_set():
                raise _Stopped
            if file.live and not line.endswith(b"\n"):
                totals.incomplete += 1  # the writer may still be appending to it
                return
            self._replay_line(file.signal, line, totals, summary)
            self._checkpoint.advance(identity, number + 1)
            self._on_progress(file.signal, 1)

    def _replay_line(
        self, signal: Signal, line: bytes, totals: SignalTotals, summary: ReplaySummary
    ) -> None:
        try:
            document = orjson.loads(line)
            check_request(signal, document)
            # parsed for every protocol, so each one skips the same corrupt lines
            request = ExportRequest(signal, line, to_message(signal, document))
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            totals.corrupt += 1
            return
        try:
            rejected = self._deliver(request, summary)
        except RejectedError:
            totals.rejected_requests += 1
            totals.rejected_items += count_items(signal, document)
            return
        totals.requests += 1
        totals.items += count_items(signal, document)
        totals.rejected_items += rejected

    def _deliver(self, request: ExportRequest, summary: ReplaySummary) -> int:
        started = time.monotonic()
        delay = self._retry.initial_s
        while True:
            try:
                return self._sender.send(request)
            except TransientError as exc:
                wait = max(delay, exc.retry_after_s or 0.0)
                if time.monotonic() - started + wait > self._retry.give_up_after_s:
                    raise TimeoutError(
                        f"gave up after {time.monotonic() - started:.0f}s of retries: {exc}"
                    ) from exc
                summary.retries += 1
                self._on_retry(str(exc), wait)
                if self._stop.wait(wait):
                    raise _Stopped from None
                delay = min(delay * self._retry.multiplier, self._retry.max_s)


def _identity(file: SignalFile) -> str | None:
    try:
        return file.identity()
    except UNREADABLE_ERRORS:
        return None
