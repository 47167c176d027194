"""Workflow context: ``post_id``, ``stage_id`` and friends, wherever work happens.

The keys live in a ``ContextVar`` (copy-on-write dict), so they follow asyncio
tasks automatically and threads started with :class:`Thread` or :func:`wrap`.
They are mirrored into OpenTelemetry baggage, so the standard propagators carry
them across process boundaries, and :class:`WorkflowSpanProcessor` stamps them on
every span at start (psycopg, LLM and the user's own spans alike). The log
pipeline reads the same variable for log records.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar

from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

AttributeValue = str | int | float | bool
P = ParamSpec("P")
R = TypeVar("R")

WORKFLOW_KEYS = ("post_id", "stage_id")

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_workflow: contextvars.ContextVar[Mapping[str, AttributeValue]] = contextvars.ContextVar(
    "telemetry_workflow", default=_EMPTY
)


def current_context() -> dict[str, AttributeValue]:
    """The workflow keys in force here (a copy: changing it changes nothing)."""
    return dict(_workflow.get())


def current_mapping() -> Mapping[str, AttributeValue]:
    """The workflow keys in force here, read-only and without a copy (hot paths)."""
    return _workflow.get()


class Binding:
    """Workflow keys bound in the current context; undone on ``__exit__`` or :meth:`unbind`.

    ``bind(post_id="p1")`` takes effect at once for the rest of the current task
    or thread; ``with bind(post_id="p1"):`` limits it to the block.
    """

    __slots__ = ("_baggage_token", "_done", "_token")

    def __init__(self, attributes: Mapping[str, AttributeValue]) -> None:
        merged = {**_workflow.get(), **attributes}
        self._token = _workflow.set(MappingProxyType(merged))
        ctx = otel_context.get_current()
        for key, value in attributes.items():
            ctx = baggage.set_baggage(key, str(value), ctx)
        self._baggage_token = otel_context.attach(ctx)
        self._done = False

    def unbind(self) -> None:
        """Restore the keys that were in force before this binding."""
        if self._done:
            return
        self._done = True
        otel_context.detach(self._baggage_token)
        _workflow.reset(self._token)

    def __enter__(self) -> Binding:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unbind()


def bind(**attributes: Any) -> Binding:
    """Bind workflow keys (``post_id=...``, ``stage_id=...``, any other) in this context.

    Values must be str, int, float or bool; anything else is stored as its ``str()``.
    """
    return Binding({key: _attribute_value(value) for key, value in attributes.items()})


def _attribute_value(value: Any) -> AttributeValue:
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


class WorkflowSpanProcessor(SpanProcessor):
    """Stamps the workflow keys in force on every span when it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = _workflow.get()
        if attributes:
            span.set_attributes(attributes)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def wrap(func: Callable[P, R]) -> Callable[P, R]:
    """Return ``func`` bound to a copy of the current context (for executors and callbacks).

    ``executor.submit(telemetry.wrap(work), post)`` runs ``work`` with the
    caller's ``post_id``/``stage_id`` and current span.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(func, *args, **kwargs)

    return run


class Thread(threading.Thread):
    """A ``threading.Thread`` that runs in a copy of its creator's context.

    Plain threads start with an empty context; this one carries the workflow
    keys and the current span, so records made in it belong to the same post.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._telemetry_context = contextvars.copy_context()

    def run(self) -> None:
        self._telemetry_context.run(super().run)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context and workflow baggage into ``carrier`` (e.g. headers)."""
    propagate.inject(carrier)
    return carrier


@contextmanager
def extract(carrier: Mapping[str, str]) -> Iterator[dict[str, AttributeValue]]:
    """Continue a trace and workflow from another process's ``carrier``.

    Inside the block, new spans are children of the remote span and the
    workflow keys carried as baggage are bound again.
    """
    ctx = propagate.extract(carrier)
    token = otel_context.attach(ctx)
    try:
        carried = {
            key: value
            for key, value in baggage.get_all(ctx).items()
            if key in WORKFLOW_KEYS and isinstance(value, str)
        }
        with bind(**carried):
            yield dict(carried)
    finally:
        otel_context.detach(token)
