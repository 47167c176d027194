"""Workflow stages: ``stage()`` and ``workflow()``, sync, async and as decorators.

(The module is ``stages`` so that ``telemetry.workflow`` stays the function.)

``with stage(post_id="p1", stage_id="draft"):`` binds the workflow keys, opens
span ``stage draft`` (every span and log record inside carries both keys),
counts the stage as active, logs ``stage.started`` / ``stage.completed`` /
``stage.failed`` and records ``blog.stage.duration`` by ``stage_id`` and outcome.
An exception inside is recorded on the span (status ERROR) and re-raised
unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span

from telemetry import _diagnostics, pipeline
from telemetry._scope import Scope, argument, decorate
from telemetry.context import Binding, bind, current_mapping

F = TypeVar("F", bound=Callable[..., Any])


class _Instruments:
    """The stage metrics, re-created when ``setup()`` builds a new pipeline."""

    def __init__(self) -> None:
        meter = pipeline.meter()
        self.duration = meter.create_histogram(
            "blog.stage.duration", unit="s", description="Duration of workflow stages."
        )
        self.active = meter.create_up_down_counter(
            "blog.stage.active", unit="{stage}", description="Workflow stages running now."
        )
        from telemetry.logs import get_logger

        self.log = get_logger("telemetry.stages")


_instruments = pipeline.PerSetup(_Instruments)


def record_failure(span: Span, exc: BaseException) -> str:
    """Mark ``span`` failed with ``exc`` (event, status, ``error.type``); return the type name.

    The one place where an exception leaving a stage or an LLM call is recorded:
    ``telemetry.errors.record_error`` adds the fingerprint, the ``blog.errors``
    counter and the de-duplicated error event.
    """
    from telemetry import errors

    errors.record_error(exc, span=span)  # never raises
    return type(exc).__qualname__


class _SpanScope(Scope):
    """Shared body of ``stage`` and ``workflow``: bind keys, open a span, close both."""

    _span_name: str
    _binding: Binding | None
    _span: Span | None
    _token: object | None

    def __init__(self, attributes: dict[str, Any]) -> None:
        self._attributes = {k: v for k, v in attributes.items() if v is not None}
        self._binding = None
        self._span = None
        self._token = None
        self._started = 0.0

    def _open(self) -> Span:
        self._binding = bind(**self._attributes)
        self._span = pipeline.tracer().start_span(self._span_name)
        self._token = trace.use_span(self._span, end_on_exit=False)
        self._token.__enter__()
        self._started = time.perf_counter()
        return self._span

    def _close(self) -> None:
        try:
            if self._token is not None:
                self._token.__exit__(None, None, None)  # type: ignore[attr-defined]
            if self._span is not None:
                self._span.end()
        finally:
            if self._binding is not None:
                self._binding.unbind()


class stage(_SpanScope):
    """A workflow stage: context manager (``with`` / ``async with``) and decorator.

    ``post_id`` may be omitted when an enclosing ``workflow()`` or ``bind()``
    already set it; used as a decorator, a ``post_id`` argument of the decorated
    function is picked up per call. ``attempt`` numbers retries (1 = first run).
    """

    def __init__(
        self,
        stage_id: str,
        post_id: str | int | None = None,
        *,
        attempt: int = 1,
        **attributes: Any,
    ) -> None:
        super().__init__({"post_id": post_id, "stage_id": stage_id, **attributes})
        self.stage_id = stage_id
        self.post_id = post_id
        self.attempt = attempt
        self._extra = attributes
        self._span_name = f"stage {stage_id}"

    def __enter__(self) -> Span:
        span = self._open()
        try:
            span.set_attribute("blog.stage.attempt", self.attempt)
            instruments = _instruments.get()
            instruments.active.add(1, {"stage_id": self.stage_id})
            instruments.log.info("stage.started", attempt=self.attempt)
        except Exception as exc:
            _diagnostics.warn("stage-enter", f"stage telemetry failed: {exc!r}")
        return span

    def _finish(self, exc: BaseException | None) -> None:
        duration = time.perf_counter() - self._started
        instruments = _instruments.get()
        span = self._span
        outcome = "ok" if exc is None else "error"
        metric_attributes = {"stage_id": self.stage_id, "blog.stage.outcome": outcome}
        if span is not None:
            span.set_attribute("blog.stage.outcome", outcome)
        if exc is None:
            instruments.log.info(
                "stage.completed", duration_s=round(duration, 6), attempt=self.attempt
            )
        else:
            error_type = record_failure(span, exc) if span is not None else type(exc).__qualname__
            metric_attributes["error.type"] = error_type
            instruments.log.error(
                "stage.failed",
                duration_s=round(duration, 6),
                attempt=self.attempt,
                exc_info=exc,
                **{"error.type": error_type},
            )
        instruments.duration.record(duration, metric_attributes)
        instruments.active.add(-1, {"stage_id": self.stage_id})

    def __call__(self, func: F) -> F:
        """Use as a decorator: each call of ``func`` runs as a fresh stage."""
        post_id_of = argument(func, "post_id")

        def fresh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> stage:
            post_id = self.post_id if self.post_id is not None else post_id_of(args, kwargs)
            return stage(self.stage_id, post_id, attempt=self.attempt, **self._extra)

        return decorate(func, fresh)


class workflow(_SpanScope):
    """The span around all of a post's stages: binds ``post_id`` for everything inside."""

    def __init__(self, post_id: str | int, **attributes: Any) -> None:
        super().__init__({"post_id": post_id, **attributes})
        self._span_name = "workflow"

    def __enter__(self) -> Span:
        return self._open()

    def _finish(self, exc: BaseException | None) -> None:
        if exc is not None and self._span is not None:
            record_failure(self._span, exc)


def current_stage() -> str | None:
    """The ``stage_id`` in force here, if any."""
    value = current_mapping().get("stage_id")
    return None if value is None else str(value)
