"""The package's own warnings: to stderr, rate-limited, never into the pipeline.

Telemetry that fails must say so without making more telemetry (an exporter
error logged through the pipeline would feed the exporter that failed). These
messages go to a dedicated stdlib logger that does not propagate, and which the
stdlib bridge in ``logs.py`` ignores, like the SDK's own ``opentelemetry.*``
loggers.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

LOGGER_NAME = "telemetry.diagnostics"
# Loggers whose records must never be bridged into the OTel pipeline.
INTERNAL_LOGGER_PREFIXES: tuple[str, ...] = (LOGGER_NAME, "opentelemetry")

_logger = logging.getLogger(LOGGER_NAME)
_logger.propagate = False
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("telemetry: %(levelname)s: %(message)s"))
    _logger.addHandler(_handler)
_logger.setLevel(logging.INFO)

_lock = threading.Lock()
_last_emitted: dict[str, float] = {}
_suppressed: dict[str, int] = {}


def warn(key: str, message: str, *, interval_s: float = 60.0) -> bool:
    """Warn once per ``interval_s`` for ``key``; return whether the message was written.

    Suppressed repeats are counted and the count is appended to the next message
    for that key, so nothing is silently dropped.
    """
    now = time.monotonic()
    with _lock:
        last = _last_emitted.get(key)
        if last is not None and now - last < interval_s:
            _suppressed[key] = _suppressed.get(key, 0) + 1
            return False
        _last_emitted[key] = now
        repeats = _suppressed.pop(key, 0)
    suffix = f" ({repeats} similar message(s) suppressed)" if repeats else ""
    with contextlib.suppress(Exception):
        _logger.warning("%s%s", message, suffix)
    return True


def reset() -> None:
    """Forget rate-limit state (for tests)."""
    with _lock:
        _last_emitted.clear()
        _suppressed.clear()
