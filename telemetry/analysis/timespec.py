"""``--since`` / ``--until`` values: durations back from now, or timestamps.

``15m``, ``24h``, ``7d``, ``90s``, ``1h30m`` mean that long before now; anything
else is read as an ISO 8601 timestamp (``2026-12-03``, ``2026-12-03T15:04:05Z``;
naive means UTC) or as Unix seconds. The result is nanoseconds since the epoch,
the unit of every timestamp in the tables.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in ``1h30m``-style text; ValueError with the accepted forms otherwise."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(
            f"not a duration: {text!r} (use a number and a unit: 90s, 15m, 24h, 7d, 1h30m)"
        )
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_instant(text: str, *, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch for a duration ago or a timestamp."""
    now = time.time_ns() if now_ns is None else now_ns
    value = text.strip()
    try:
        return now - int(parse_duration(value) * 1e9)
    except ValueError:
        pass
    try:
        return int(float(value) * 1e9)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use a duration such as 15m or 24h, "
            "an ISO timestamp such as 2026-12-03T15:04:05Z, or Unix seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)
