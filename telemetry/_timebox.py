"""Run application-supplied callables under a time budget.

Gauge callbacks and health checks are code the application hands to telemetry.
One that hangs must cost only itself: each call runs in its own daemon thread
and the caller waits at most its budget. A call still running from an earlier
attempt blocks new attempts (they fail at once with ``Busy``) instead of piling
up threads behind it, so a callable that never returns holds one thread, and
daemon threads never hold up interpreter exit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Busy(RuntimeError):
    """The previous call of this callable has not returned yet."""


class TimedOut(TimeoutError):
    """The call did not return within its budget (it may still return later)."""


class Pending(Generic[T]):
    """One started call; ``result(timeout)`` waits for it within a budget."""

    __slots__ = ("_done", "_error", "_name", "_value")

    def __init__(self, name: str) -> None:
        self._name = name
        self._done = threading.Event()
        self._value: T | None = None
        self._error: Exception | None = None

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float) -> T:
        """Return the value, re-raise the callable's exception, or raise ``TimedOut``."""
        if not self._done.wait(max(timeout, 0.0)):
            raise TimedOut(f"{self._name} did not return within {timeout:.3g}s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value = fn()
        except Exception as exc:  # the caller decides what a failure means
            self._error = exc
        except BaseException as exc:  # SystemExit from app code must not stop the caller
            self._error = RuntimeError(f"{self._name} raised {type(exc).__name__}")
        finally:
            self._done.set()


class TimeBoxed(Generic[T]):
    """A callable that is started in a daemon thread, at most one call at a time."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        if not callable(fn):
            raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name
        self._lock = threading.Lock()
        self._current: Pending[T] | None = None
        self._pid = os.getpid()

    def start(self) -> Pending[T]:
        """Start a call now; raise ``Busy`` if the previous one is still running."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the earlier call's thread did not survive
                self._current, self._pid = None, os.getpid()
            if self._current is not None and not self._current.done():
                raise Busy(f"{self.name} is still running from an earlier call")
            pending: Pending[T] = Pending(self.name)
            thread = threading.Thread(
                target=pending._run, args=(self.fn,), name=f"telemetry:{self.name}", daemon=True
            )
            thread.start()
            self._current = pending
            return pending

    def call(self, timeout: float) -> T:
        """Start a call and wait for it at most ``timeout`` seconds."""
        return self.start().result(timeout)
