"""What ``stage``, ``workflow`` and ``llm_call`` share: one object that is a context
manager (``with`` and ``async with``) and a decorator (sync and async functions).

A subclass writes ``__enter__``/``__exit__`` once; the async forms call them (the
telemetry work is synchronous and short), and :func:`decorate` runs each call of a
decorated function in a fresh instance, so one decorated function can run in many
tasks at once.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

from telemetry import _diagnostics

F = TypeVar("F", bound=Callable[..., Any])
CallArgs = Callable[[tuple[Any, ...], dict[str, Any]], Any]
Fresh = Callable[[tuple[Any, ...], dict[str, Any]], "Scope"]


class Scope(ABC):
    """Base for objects used as ``with x:`` and ``async with x:``.

    ``__exit__`` runs the subclass's :meth:`_finish` (its telemetry: events,
    metrics, the failure) and then, whatever happened there, :meth:`_close`
    (ends the span, restores the context). A telemetry failure is reported as a
    diagnostic; the application's own exception propagates unchanged.
    """

    @abstractmethod
    def __enter__(self) -> Any: ...

    @abstractmethod
    def _finish(self, exc: BaseException | None) -> None:
        """Record the outcome: ``exc`` is the exception leaving the block, if any."""

    @abstractmethod
    def _close(self) -> None:
        """End the span and undo what ``__enter__`` bound; must not raise."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._finish(exc)
        except Exception as inner:
            name = type(self).__name__
            _diagnostics.warn(f"{name}-exit", f"{name} telemetry failed: {inner!r}")
        finally:
            self._close()

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def argument(
    func: Callable[..., Any], name: str
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """A reader of ``func``'s argument ``name`` from a call's args (None when absent)."""
    signature = inspect.signature(func)
    if name not in signature.parameters:
        return lambda args, kwargs: None

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return signature.bind_partial(*args, **kwargs).arguments.get(name)

    return read


def decorate(func: F, fresh: Fresh, on_result: Callable[[Any, Any], None] | None = None) -> F:
    """Wrap ``func`` so each call runs inside ``fresh(args, kwargs)``.

    ``on_result(scope_value, result)`` sees the function's result before the
    scope closes (``llm_call`` records token usage from it).
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            async with fresh(args, kwargs) as value:
                result = await func(*args, **kwargs)
                if on_result is not None:
                    on_result(value, result)
                return result

        return cast(F, run_async)

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with fresh(args, kwargs) as value:
            result = func(*args, **kwargs)
            if on_result is not None:
                on_result(value, result)
            return result

    return cast(F, run)
