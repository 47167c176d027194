"""Polling helper for assertions about things that arrive asynchronously."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Raises ``AssertionError`` (showing ``message`` and the last value) after
    ``timeout`` seconds, so a test fails with what it was waiting for rather
    than hanging. Exceptions from ``predicate`` propagate at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message or predicate!r}; last: {result!r}"
            )
        time.sleep(interval)
