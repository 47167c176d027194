"""structlog in front, OpenTelemetry LoggerProvider behind.

Each structlog event becomes one OTel LogRecord, emitted directly to the
LoggerProvider (never through stdlib ``logging``, which measured 1.5x to 4x
slower): severity from the method, body = the event, the other keys as
attributes, the current span's trace and span ids, and ``post_id``/``stage_id``
from the workflow context. Nothing is rendered to JSON unless an output asks for
it (the console view renders its own lines; the file exporter encodes batches in
the background).

Records from stdlib ``logging`` (libraries) reach the same pipeline through
:class:`StdlibBridge`; the SDK's own loggers and the package's diagnostics are
never bridged, so an exporter's complaint cannot loop back into the exporter.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import _logs
from opentelemetry._logs import SeverityNumber

from telemetry import _diagnostics, pipeline
from telemetry.context import current_mapping
from telemetry.scrub import is_secret_key, scrub_text, truncate

if TYPE_CHECKING:
    from telemetry.pipeline import Telemetry

SCOPE = "telemetry.logs"

_SEVERITY: dict[str, tuple[SeverityNumber, str]] = {
    "debug": (SeverityNumber.DEBUG, "DEBUG"),
    "info": (SeverityNumber.INFO, "INFO"),
    "msg": (SeverityNumber.INFO, "INFO"),
    "warning": (SeverityNumber.WARN, "WARN"),
    "warn": (SeverityNumber.WARN, "WARN"),
    "error": (SeverityNumber.ERROR, "ERROR"),
    "exception": (SeverityNumber.ERROR, "ERROR"),
    "critical": (SeverityNumber.FATAL, "FATAL"),
    "fatal": (SeverityNumber.FATAL, "FATAL"),
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_DROP_KEYS = frozenset({"event", "exc_info", "level", "logger", "stack_info", "exception"})

_max_chars = 8192


def attribute_value(key: str, value: Any, limit: int | None = None) -> Any:
    """Make ``value`` a safe OTel attribute: scrubbed, bounded, and serialisable.

    Strings are scrubbed of secrets and cut at ``limit`` characters (marked);
    sequences of primitives are kept; anything else (objects, mappings, bytes)
    becomes its ``repr`` so it is recorded instead of lost.
    """
    limit = _max_chars if limit is None else limit
    if is_secret_key(key) and value not in (None, ""):
        return "[REDACTED]"
    if isinstance(value, str):
        return truncate(scrub_text(value), limit)
    if isinstance(value, bool | int | float):
        return value
    primitive = str | bool | int | float
    if isinstance(value, list | tuple) and all(isinstance(v, primitive) for v in value):
        items = [truncate(scrub_text(v), limit) if isinstance(v, str) else v for v in value]
        if len({type(v) for v in items}) <= 1:
            return items
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return truncate(scrub_text(text), limit)


def _exception_from(exc_info: Any) -> BaseException | None:
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1]
    return sys.exc_info()[1]


def exception_attributes(exc: BaseException) -> dict[str, str]:
    """``exception.type/message/stacktrace`` for ``exc``, scrubbed of secrets.

    Built here rather than by the SDK so that a message quoting values (such as
    PostgreSQL's ``DETAIL: Key (slug)=(...)``) is scrubbed like everything else.
    """
    stacktrace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "exception.type": type(exc).__qualname__,
        "exception.message": truncate(scrub_text(str(exc)), _max_chars),
        "exception.stacktrace": truncate(scrub_text(stacktrace), _max_chars * 4),
    }


class OTelLogger:
    """The structlog "logger": turns a finished event dict into an OTel LogRecord."""

    __slots__ = ("_generation", "_logger", "name")

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "app"
        self._generation = -1
        self._logger: _logs.Logger | None = None

    def _otel_logger(self) -> _logs.Logger:
        generation = pipeline.generation()
        if self._logger is None or self._generation != generation:
            self._logger = _logs.get_logger(self.name)
            self._generation = generation
        return self._logger

    def emit(self, method: str, event_dict: MutableMapping[str, Any]) -> None:
        """Emit one event; any failure is reported as a diagnostic, never raised."""
        try:
            self._emit(method, event_dict)
        except Exception as exc:
            _diagnostics.warn("log-emit", f"could not emit log event: {exc!r}")

    def _emit(self, method: str, event_dict: MutableMapping[str, Any]) -> None:
        severity_number, severity_text = _SEVERITY.get(method, _SEVERITY["info"])
        body = event_dict.get("event")
        attributes = dict(current_mapping())
        for key, value in event_dict.items():
            if key not in _DROP_KEYS and value is not None:
                attributes[key] = attribute_value(key, value)
        exception = _exception_from(event_dict.get("exc_info"))
        if exception is not None:
            attributes.update(exception_attributes(exception))
        self._otel_logger().emit(
            timestamp=time.time_ns(),
            severity_number=severity_number,
            severity_text=severity_text,
            body=truncate(scrub_text(str(body)), _max_chars) if body is not None else None,
            attributes=attributes,
        )

    def _method(name: str) -> Any:  # type: ignore[misc]  # builds the class's methods
        def log(self: OTelLogger, event_dict: MutableMapping[str, Any]) -> None:
            self.emit(name, event_dict)

        log.__name__ = name
        return log

    debug = _method("debug")
    info = _method("info")
    msg = _method("msg")
    warning = _method("warning")
    warn = _method("warn")
    error = _method("error")
    exception = _method("exception")
    critical = _method("critical")
    fatal = _method("fatal")
    del _method


def _to_logger(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[MutableMapping[str, Any]], dict[str, Any]]:
    """Last processor: hand the event dict itself to :class:`OTelLogger` (no rendering)."""
    return (event_dict,), {}


def _logger_factory(*args: Any) -> OTelLogger:
    return OTelLogger(args[0] if args else None)


def configure_structlog(level: str = "info") -> None:
    """Point structlog at the OTel pipeline: level filtering, contextvars, direct emit."""
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, _to_logger],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level.lower(), 20)),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger whose events become OpenTelemetry log records.

    ``initial`` keys are bound on the logger (``get_logger(__name__, component="x")``).
    """
    if not structlog.is_configured():
        configure_structlog()
    logger = structlog.get_logger(name)
    return logger.bind(**initial) if initial else logger


class StdlibBridge(logging.Handler):
    """Forwards stdlib ``logging`` records into the same OTel pipeline.

    Records from the SDK's own loggers and from the package's diagnostics are
    ignored, so telemetry problems never feed back into telemetry.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._loggers: dict[str, OTelLogger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_diagnostics.INTERNAL_LOGGER_PREFIXES):
            return
        try:
            logger = self._loggers.get(record.name)
            if logger is None:
                logger = self._loggers.setdefault(record.name, OTelLogger(record.name))
            logger.emit(_method_for(record.levelno), _event_dict(record))
        except Exception as exc:
            _diagnostics.warn("stdlib-bridge", f"could not bridge a log record: {exc!r}")


def _method_for(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def _event_dict(record: logging.LogRecord) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": record.getMessage(),
        "logger.name": record.name,
        "code.file.path": record.pathname,
        "code.line.number": record.lineno,
        "code.function.name": record.funcName,
    }
    if record.exc_info:
        event["exc_info"] = record.exc_info
    extra = _extra_fields(record.__dict__)
    event.update(extra)
    return event


_STANDARD_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _extra_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in _STANDARD_RECORD_KEYS}


class _SdkDiagnostics(logging.Handler):
    """Routes the SDK's own warnings (an unreachable collector...) to rate-limited diagnostics.

    A dead endpoint makes the OTLP exporters log every retry; one line per kind
    of message per minute says the same without flooding stderr, and none of it
    enters the pipeline.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        _diagnostics.warn(f"sdk:{record.name}:{record.msg}", f"{record.name}: {message}")


_bridge: StdlibBridge | None = None
_sdk_handler: _SdkDiagnostics | None = None


def install(handle: Telemetry) -> None:
    """Configure structlog and (unless disabled) bridge stdlib logging, for ``handle``."""
    global _bridge, _max_chars
    _max_chars = handle.settings.max_attribute_chars
    configure_structlog(handle.settings.log_level)
    _quiet_sdk_logging(handle)
    if handle.settings.bridge_stdlib_logging and handle.enabled and _bridge is None:
        _bridge = StdlibBridge()
        logging.getLogger().addHandler(_bridge)
        handle.add_closer(_uninstall_bridge)


def _quiet_sdk_logging(handle: Telemetry) -> None:
    global _sdk_handler
    if _sdk_handler is not None or not handle.enabled:
        return
    sdk_logger = logging.getLogger("opentelemetry")
    _sdk_handler = _SdkDiagnostics()
    sdk_logger.addHandler(_sdk_handler)
    sdk_logger.propagate = False

    def restore() -> None:
        global _sdk_handler
        if _sdk_handler is not None:
            sdk_logger.removeHandler(_sdk_handler)
            sdk_logger.propagate = True
            _sdk_handler = None

    handle.add_closer(restore)


def _uninstall_bridge() -> None:
    global _bridge
    if _bridge is not None:
        logging.getLogger().removeHandler(_bridge)
        _bridge = None
