"""Error tracking: ``record_error()``, stable fingerprints, de-duplication, state providers.

``record_error(exc, **context)`` (called by hand, and by ``stage()`` and
``llm_call()`` for an exception leaving them) does three things:

- the current span gets the exception event, status ERROR, ``error.type`` and
  ``blog.error.fingerprint``;
- the counter ``blog.errors`` is incremented by ``error.type``;
- one structlog error event ``error.recorded`` carries the type, message, stack
  trace, fingerprint, the workflow keys in force, the caller's ``context`` and,
  inside a stage, the workflow state returned by the providers the application
  registered with ``register_state_provider()``.

The fingerprint groups occurrences of the same bug: the exception's type, its
message with volatile parts (numbers, ids, quoted values, addresses) replaced,
and the innermost frames of the application's own code (module, function and
source line, never line numbers or paths). It is the same in every process and
run of the same code.

Spans and the counter see every occurrence; the log event does not: repeats of a
fingerprint inside ``error_dedup_window_s`` are folded into the first one, which
is emitted when the window closes (or at ``flush()``/``shutdown()``) with
``blog.error.count``, the first and last time seen and the posts and stages
the repeats hit (``blog.error.post_ids`` / ``blog.error.stage_ids``, bounded).
Nothing here raises into the application.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from telemetry import _diagnostics, pipeline
from telemetry.scrub import scrub_text

StateProvider = Callable[[Mapping[str, Any]], Any]

EVENT = "error.recorded"
_SEEN = "_telemetry_error_fingerprint"  # set on an exception once it is recorded
_DEFAULT_WINDOW_S = 10.0
_APP_FRAMES = 3
_MAX_STATE_CHARS = 4096
_MAX_MESSAGE_CHARS = 2048

# Volatile parts of messages, most specific first.
_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<str>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
     "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
     "<time>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\b[A-Za-z]+[-_]\d+\b"), "<id>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<n>"),
)  # fmt: skip


def normalise_message(message: str) -> str:
    """``message`` with the parts that differ between occurrences replaced by placeholders."""
    text = message[:_MAX_MESSAGE_CHARS]
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(os.path.dirname(os.path.abspath(__file__)))  # the telemetry package itself
    return tuple(os.path.join(os.path.abspath(r), "") for r in roots)


_LIBRARY_ROOTS = _library_roots()


def _is_app_frame(filename: str) -> bool:
    if filename.startswith("<"):
        return False
    return not os.path.abspath(filename).startswith(_LIBRARY_ROOTS)


def app_frames(exc: BaseException, limit: int = _APP_FRAMES) -> list[str]:
    """The innermost ``limit`` frames of application code, as ``module:function:line text``."""
    frames: list[str] = []
    tb = exc.__traceback__
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    for entry in reversed(entries):
        code = entry.tb_frame.f_code
        if not _is_app_frame(code.co_filename):
            continue
        module = _module_name(entry.tb_frame.f_globals)
        summary = traceback.FrameSummary(code.co_filename, entry.tb_lineno, code.co_name)
        frames.append(f"{module}:{code.co_name}:{(summary.line or '').strip()}")
        if len(frames) == limit:
            break
    return frames


def _module_name(namespace: Mapping[str, Any]) -> str:
    """The module's import name, also when it runs as ``__main__`` (``python -m``)."""
    spec = namespace.get("__spec__")
    name = getattr(spec, "name", None) or namespace.get("__name__") or "?"
    return str(name)


def exception_type(exc: BaseException) -> str:
    """The exception's fully qualified type name (``psycopg.errors.UniqueViolation``)."""
    cls = type(exc)
    module = cls.__module__
    if module == "__main__":
        main = sys.modules.get("__main__")
        module = _module_name(vars(main)) if main is not None else module
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def fingerprint(exc: BaseException) -> str:
    """A 16-hex-digit id shared by occurrences of the same bug, in any process."""
    parts = [exception_type(exc), normalise_message(str(exc)), *app_frames(exc)]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()


# -- workflow state providers --------------------------------------------------------

_providers: dict[str, StateProvider] = {}


def register_state_provider(name: str, provider: StateProvider) -> None:
    """Add the workflow state ``provider(context)`` returns to errors raised inside a stage.

    ``context`` holds the workflow keys in force (``post_id``, ``stage_id``, ...).
    The result is serialised to JSON under ``blog.workflow.state.<name>``; a
    provider that raises, returns something that cannot be serialised or is
    very large is recorded as such, truncated and marked, never fatal.
    """
    if not name or not callable(provider):
        raise ValueError("register_state_provider needs a name and a callable")
    _providers[name] = provider


def unregister_state_provider(name: str) -> None:
    """Remove a provider added with ``register_state_provider`` (no error if absent)."""
    _providers.pop(name, None)


def _state_text(value: Any) -> str:
    try:
        text = orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception as exc:  # cycles, or repr() itself failing
        text = f"<not serialisable: {type(exc).__name__}: {exc}>"
    if len(text) > _MAX_STATE_CHARS:
        text = f"{text[:_MAX_STATE_CHARS]}...<truncated {len(text) - _MAX_STATE_CHARS} chars>"
    return text


def _workflow_state(context: Mapping[str, Any]) -> dict[str, str]:
    state: dict[str, str] = {}
    for name, provider in list(_providers.items()):
        try:
            state[f"blog.workflow.state.{name}"] = _state_text(provider(context))
        except Exception as exc:
            state[f"blog.workflow.state.{name}"] = f"<provider failed: {type(exc).__name__}: {exc}>"
            _diagnostics.warn(f"state-provider-{name}", f"state provider {name!r} failed: {exc!r}")
    return state


# -- de-duplication ----------------------------------------------------------------------


_MAX_AFFECTED = 50


@dataclass
class _Pending:
    attributes: dict[str, Any]
    context: contextvars.Context
    first_ns: int
    last_ns: int
    count: int
    deadline: float
    posts: set[str]
    stages: set[str]

    def add(self, now_ns: int, post_id: Any, stage_id: Any) -> None:
        """Count one more occurrence and note which post and stage it hit (bounded)."""
        self.count += 1
        self.last_ns = max(self.last_ns, now_ns)
        if post_id is not None and len(self.posts) < _MAX_AFFECTED:
            self.posts.add(str(post_id))
        if stage_id is not None and len(self.stages) < _MAX_AFFECTED:
            self.stages.add(str(stage_id))


def _workflow_keys() -> tuple[Any, Any]:
    from telemetry.context import current_context

    keys = current_context()
    return keys.get("post_id"), keys.get("stage_id")


class _Deduplicator:
    """Holds the first occurrence of each fingerprint until its window closes."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._thread: threading.Thread | None = None

    def observe(self, key: str, window_s: float, make: Callable[[], dict[str, Any]]) -> None:
        now_ns = time.time_ns()
        post_id, stage_id = _workflow_keys()
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                pending.add(now_ns, post_id, stage_id)
                return
        attributes = make()  # outside the lock: providers may be slow
        entry = _Pending(attributes, contextvars.copy_context(), now_ns, now_ns, 0,
                         time.monotonic() + window_s, set(), set())  # fmt: skip
        entry.add(now_ns, post_id, stage_id)
        if window_s <= 0:
            _emit(entry)
            return
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:  # another thread recorded it meanwhile
                pending.add(now_ns, post_id, stage_id)
                return
            self._pending[key] = entry
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="telemetry-errors", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def pending(self) -> int:
        """How many fingerprints are waiting for their window to close."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Emit every held event now (window closed early: flush, shutdown, exit)."""
        with self._lock:
            due = list(self._pending.values())
            self._pending.clear()
        for entry in due:
            _emit(entry)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    if not self._lock.wait(timeout=60.0) and not self._pending:
                        self._thread = None  # idle for a minute: let the thread go
                        return
                now = time.monotonic()
                due = [k for k, p in self._pending.items() if p.deadline <= now]
                if not due:
                    wait = min(p.deadline for p in self._pending.values()) - now
                    self._lock.wait(timeout=wait)
                    continue
                entries = [self._pending.pop(k) for k in due]
            for entry in entries:
                _emit(entry)

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's held events are the parent's to emit."""
        self._lock = threading.Condition()
        self._pending = {}
        self._thread = None


_dedup = _Deduplicator()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dedup.reset_after_fork)


def _emit(entry: _Pending) -> None:
    attributes = {
        **entry.attributes,
        "blog.error.count": entry.count,
        "blog.error.first_seen_ns": entry.first_ns,
        "blog.error.last_seen_ns": entry.last_ns,
    }
    if entry.count > 1:  # the posts and stages the folded repeats hit, too
        attributes["blog.error.post_ids"] = sorted(entry.posts)
        attributes["blog.error.stage_ids"] = sorted(entry.stages)
    try:
        # In the first occurrence's context: its span's trace/span ids and the
        # workflow keys that were bound then.
        entry.context.run(_log().error, EVENT, **attributes)
    except Exception as exc:
        _diagnostics.warn("error-emit", f"could not log a recorded error: {exc!r}")


def flush() -> None:
    """Emit the held error events now; ``Telemetry.flush()``/``shutdown()`` call this."""
    _dedup.flush()


def pending() -> int:
    """How many error events are held, waiting for their de-duplication window to close."""
    return _dedup.pending()


# -- instruments, bound to the pipeline in force ------------------------------------------


class _Instruments:
    def __init__(self) -> None:
        self.errors = pipeline.meter().create_counter(
            "blog.errors", unit="{error}", description="Errors recorded, by error.type."
        )
        handle = pipeline.active()
        self.window_s = handle.settings.error_dedup_window_s if handle else _DEFAULT_WINDOW_S
        if handle is not None:
            handle.add_closer(flush)


_instruments = pipeline.PerSetup(_Instruments)
_logger: Any = None


def _log() -> Any:
    global _logger
    if _logger is None:
        from telemetry.logs import get_logger

        _logger = get_logger("telemetry.errors")
    return _logger


# -- the entry point -------------------------------------------------------------------------


def record_error(exc: BaseException, /, *, span: Span | None = None, **context: Any) -> str:
    """Record ``exc`` on the span, the ``blog.errors`` counter and the error log.

    ``span`` defaults to the current span; ``context`` is added to the log event
    (anything that helps to reproduce the error: ids, sizes, options). Returns
    the fingerprint. Never raises.
    """
    try:
        return _record(exc, span if span is not None else trace.get_current_span(), context)
    except Exception as inner:
        _diagnostics.warn("record-error", f"could not record an error: {inner!r}")
        return ""


def _record(exc: BaseException, span: Span, context: dict[str, Any]) -> str:
    error_type = type(exc).__qualname__
    # One exception is one occurrence, however many scopes it leaves (an LLM call,
    # then its stage): each span is marked, but it is counted and logged once.
    known = getattr(exc, _SEEN, None)
    fp = known if isinstance(known, str) else fingerprint(exc)
    if span.is_recording():
        span.record_exception(exc, attributes={"blog.error.fingerprint": fp})
        span.set_status(Status(StatusCode.ERROR, scrub_text(f"{error_type}: {exc}")[:1024]))
        span.set_attribute("error.type", error_type)
        span.set_attribute("blog.error.fingerprint", fp)
    if known is not None:
        return fp
    with contextlib.suppress(AttributeError, TypeError):  # exceptions with __slots__
        setattr(exc, _SEEN, fp)
    instruments = _instruments.get()
    instruments.errors.add(1, {"error.type": error_type})

    def event_attributes() -> dict[str, Any]:
        from telemetry.context import current_context

        workflow = current_context()
        attributes: dict[str, Any] = {
            **context,
            "error.type": error_type,
            "exception.type": exception_type(exc),
            "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(exc)),
            "blog.error.fingerprint": fp,
        }
        if workflow.get("stage_id") is not None:
            attributes.update(_workflow_state(workflow))
        return attributes

    _dedup.observe(fp, instruments.window_s, event_attributes)
    return fp
