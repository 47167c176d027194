"""Running health checks and turning their results into one report.

A check is a callable that returns details (a mapping, optionally with its own
``"status"``) or raises. Checks run concurrently, each in its own thread under
its own timeout, so a hanging dependency fails its check after the timeout and
never stalls the report. The report::

    {"status": "healthy" | "degraded" | "unhealthy",
     "checks": {name: {"status", "critical", "latency_s", details..., "error"?}},
     "timestamp": "2025-01-01T00:00:00.000000+00:00"}

A failing critical check makes the whole ``unhealthy``; a failing non-critical
one, or any ``degraded`` check, makes it ``degraded``. Each run also sets the
``blog.health.status`` gauge (1 healthy, 0.5 degraded, 0 unhealthy) and the
``blog.health.check.duration`` gauge per check, and logs an event when a
check's status changes (never on every run). Error texts and string details
are scrubbed of secrets before they leave this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry.metrics import MeterProvider, get_meter_provider

from telemetry import _diagnostics
from telemetry._timebox import TimeBoxed, TimedOut
from telemetry.scrub import scrub_text

Status = Literal["healthy", "degraded", "unhealthy"]
CheckFn = Callable[[], Mapping[str, Any] | None]
"""A health check: returns details (may include ``"status"``) or raises when unhealthy."""

HEALTHY: Status = "healthy"
DEGRADED: Status = "degraded"
UNHEALTHY: Status = "unhealthy"
_RANK: dict[str, int] = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
_GAUGE_VALUE: dict[str, float] = {HEALTHY: 1.0, DEGRADED: 0.5, UNHEALTHY: 0.0}
_RESERVED = ("status", "critical", "latency_s", "error")
DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class _Check:
    name: str
    boxed: TimeBoxed[tuple[Mapping[str, Any] | None, float]]
    critical: bool
    timeout_s: float


class HealthChecker:
    """A set of named checks and what their last run said."""

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        log_changes: bool = True,
    ) -> None:
        _check_timeout(default_timeout_s)
        self.default_timeout_s = default_timeout_s
        self._log_changes = log_changes
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._last_status: dict[str, str] = {}
        self._last_report: dict[str, Any] | None = None
        self._last_report_at = 0.0
        self.use_meter_provider(meter_provider or get_meter_provider())

    def use_meter_provider(self, meter_provider: MeterProvider) -> None:
        """Report ``blog.health.*`` gauges to ``meter_provider`` from now on."""
        meter = meter_provider.get_meter("telemetry")
        self._status_gauge = meter.create_gauge(
            "blog.health.status",
            unit="1",
            description="Health of each check: 1 healthy, 0.5 degraded, 0 unhealthy.",
        )
        self._latency_gauge = meter.create_gauge(
            "blog.health.check.duration",
            unit="s",
            description="How long each health check took on its last run.",
        )

    def register(
        self, name: str, check: CheckFn, *, critical: bool = True, timeout_s: float | None = None
    ) -> None:
        """Add (or replace) a check. A failing ``critical`` check makes the report unhealthy."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"health check name must be a non-empty string, got {name!r}")
        if not callable(check):
            raise TypeError(f"health check {name!r}: expected a callable, got {type(check)!r}")
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        _check_timeout(timeout)
        boxed = TimeBoxed(_timed(check), f"health check {name}")
        with self._lock:
            self._checks[name] = _Check(name, boxed, bool(critical), timeout)

    def unregister(self, name: str) -> None:
        """Remove a check; unknown names are ignored."""
        with self._lock:
            self._checks.pop(name, None)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def check(self, *, max_age_s: float = 0.0) -> dict[str, Any]:
        """Run every check concurrently and return the report (never raises).

        A report younger than ``max_age_s`` is returned as it is, so a burst of
        probes runs the checks once. Concurrent callers take turns.
        """
        with self._run_lock:
            if self._last_report is not None and (
                time.monotonic() - self._last_report_at < max_age_s
            ):
                return self._last_report
            with self._lock:
                checks = list(self._checks.values())
            results = _run_all(checks)
            report: dict[str, Any] = {
                "status": _overall(checks, results),
                "checks": results,
                "timestamp": datetime.now(UTC).isoformat(),
            }
            self._record(checks, results)
            self._last_report, self._last_report_at = report, time.monotonic()
            return report

    def _record(self, checks: list[_Check], results: Mapping[str, dict[str, Any]]) -> None:
        try:
            for check in checks:
                result = results[check.name]
                attrs = {"blog.health.check": check.name}
                self._status_gauge.set(_GAUGE_VALUE[result["status"]], attrs)
                self._latency_gauge.set(result["latency_s"], attrs)
                previous = self._last_status.get(check.name)
                self._last_status[check.name] = result["status"]
                if self._log_changes and result["status"] != (previous or HEALTHY):
                    _log_change(check.name, result, previous)
        except Exception as exc:
            _diagnostics.warn("health.record", f"recording health results failed: {exc!r}")


def _check_timeout(timeout_s: float) -> None:
    if not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise ValueError(f"health check timeout must be a positive number, got {timeout_s!r}")


def _timed(check: CheckFn) -> Callable[[], tuple[Mapping[str, Any] | None, float]]:
    def run() -> tuple[Mapping[str, Any] | None, float]:
        started = time.perf_counter()
        details = check()
        return details, time.perf_counter() - started

    return run


def _run_all(checks: list[_Check]) -> dict[str, dict[str, Any]]:
    """Start every check, then collect each within its own deadline."""
    started = time.perf_counter()
    pending: dict[str, Any] = {}
    for check in checks:
        try:
            pending[check.name] = check.boxed.start()
        except Exception as exc:  # Busy: hung since an earlier run
            pending[check.name] = exc
    results: dict[str, dict[str, Any]] = {}
    for check in checks:
        call = pending[check.name]
        try:
            if isinstance(call, Exception):
                raise call
            details, latency = call.result(started + check.timeout_s - time.perf_counter())
            results[check.name] = _result(check, details, latency)
        except TimedOut:
            late = TimeoutError(f"did not return within {check.timeout_s:g}s")
            results[check.name] = _failed(check, late, time.perf_counter() - started)
        except Exception as exc:
            results[check.name] = _failed(check, exc, time.perf_counter() - started)
    return results


def _failed(check: _Check, exc: Exception, elapsed: float) -> dict[str, Any]:
    return {
        "status": UNHEALTHY,
        "critical": check.critical,
        "latency_s": round(elapsed, 6),
        "error": scrub_text(f"{type(exc).__name__}: {exc}"),
    }


def _result(check: _Check, details: Mapping[str, Any] | None, latency: float) -> dict[str, Any]:
    if details is not None and not isinstance(details, Mapping):
        raise TypeError(f"check returned {type(details).__name__}; return a mapping or None")
    details = dict(details or {})
    status = details.pop("status", HEALTHY)
    if status not in _RANK:
        raise ValueError(f"check returned status {status!r}; use healthy, degraded or unhealthy")
    result: dict[str, Any] = {
        "status": status,
        "critical": check.critical,
        "latency_s": round(latency, 6),
    }
    for key, value in details.items():
        if key not in _RESERVED:
            result[key] = scrub_text(value) if isinstance(value, str) else value
    if "error" in details:
        result["error"] = scrub_text(str(details["error"]))
    return result


def _overall(checks: list[_Check], results: Mapping[str, Mapping[str, Any]]) -> Status:
    worst: Status = HEALTHY
    for check in checks:
        status = results[check.name]["status"]
        if status == UNHEALTHY and not check.critical:
            status = DEGRADED
        if _RANK[status] > _RANK[worst]:
            worst = status
    return worst


def _log_change(name: str, result: Mapping[str, Any], previous: str | None) -> None:
    from telemetry.logs import get_logger

    log = get_logger("telemetry.health")
    event = log.info if result["status"] == HEALTHY else log.warning
    event(
        "health.check.changed",
        **{
            "blog.health.check": name,
            "blog.health.status": result["status"],
            "blog.health.previous_status": previous or "unknown",
            **({"error.message": result["error"]} if "error" in result else {}),
        },
    )
