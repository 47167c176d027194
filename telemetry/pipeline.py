"""Builds the OpenTelemetry pipeline: Resource, providers, processors, exporters.

``setup()`` is the one call the blog makes at start-up. It resolves
:class:`~telemetry.config.Settings`, proves the data directory writable, builds
one Resource and the trace, metric and log providers, registers them as the
OpenTelemetry globals, wires the stdlib-logging bridge and the psycopg
instrumentation, and returns a :class:`Telemetry` handle whose ``flush()`` and
``shutdown()`` are bounded in time whatever state the collector is in.
"""

from __future__ import annotations

import atexit
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
)

from telemetry import _diagnostics
from telemetry.config import Settings, load_settings
from telemetry.context import WorkflowSpanProcessor
from telemetry.export import files
from telemetry.spans import RewritingSpanExporter

# Second-scale buckets for every duration histogram (unit "s"), from 1 ms to 2 min.
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
SCOPE = "telemetry"

_lock = threading.RLock()
_active: Telemetry | None = None
_generation = 0


class Telemetry:
    """The handle ``setup()`` returns: the providers, and bounded flush/shutdown."""

    def __init__(
        self,
        settings: Settings,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self._closers: list[Callable[[], None]] = []
        self._local_parts: list[Any] = []
        self._is_shut_down = False

    @property
    def enabled(self) -> bool:
        """False when ``OTEL_SDK_DISABLED`` made everything a no-op."""
        return self.tracer_provider is not None

    @property
    def data_dir(self) -> Path | None:
        """Where the local files are written, or ``None`` when files are off."""
        return self.settings.data_dir if self.enabled and self.settings.files else None

    def add_closer(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` at shutdown (before the providers flush): for instrumentations."""
        self._closers.append(closer)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Export everything buffered; give up after ``timeout_s`` (default: shutdown bound)."""
        if not self.enabled or self._is_shut_down:
            return True
        budget = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        return _run_bounded(self._flush_all, budget, "flush")

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Flush and stop every provider within ``timeout_s``; later calls do nothing.

        Returns False when the bound was reached (data still queued for a dead
        collector is dropped rather than holding the process).
        """
        global _active
        with _lock:
            if self._is_shut_down:
                return True
            self._is_shut_down = True
            if _active is self:
                _active = None
        for closer in reversed(self._closers):
            _call_quietly(closer, "shutdown hook")
        if not self.enabled:
            return True
        budget = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        return _run_bounded(lambda: self._shutdown_all(budget), budget, "shutdown")

    def _providers(self) -> list[Any]:
        return [p for p in (self.tracer_provider, self.logger_provider, self.meter_provider) if p]

    def _flush_all(self) -> None:
        from telemetry import errors

        errors.flush()  # held (de-duplicated) error events first, so they are exported too
        self._flush_local()
        for provider in self._providers():
            provider.force_flush()

    def _flush_local(self, *, metrics: bool = True) -> None:
        """Write everything buffered for the local files before any network export."""
        for part in self._local_parts:
            if not metrics and isinstance(part, MetricReader):
                continue
            try:
                part.force_flush()
            except Exception as exc:
                _diagnostics.warn("flush-local", f"could not flush local telemetry: {exc!r}")

    def _shutdown_all(self, budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        # Spans and records go to the files first; the meter provider, shut down
        # first, collects once more into its file reader before any OTLP export.
        self._flush_local(metrics=False)
        for provider in reversed(self._providers()):
            remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
            if isinstance(provider, MeterProvider):
                provider.shutdown(timeout_millis=remaining_ms)
            else:
                provider.shutdown()

    def _atexit(self) -> None:
        self.shutdown()


def _flush_multiprocessing_children(handle: Telemetry) -> None:
    """Make forked ``multiprocessing`` workers flush their telemetry when they end.

    Such workers leave through ``os._exit``, which skips ``atexit``; they do run
    ``multiprocessing``'s own finalizers, registered here once the child has
    started. (The SDK's batch processors restart their threads in the child
    themselves; the file writers reopen their descriptors.)
    """
    import multiprocessing.util

    def in_child(child_handle: Telemetry) -> None:
        if child_handle.enabled and not child_handle._is_shut_down:
            multiprocessing.util.Finalize(None, child_handle.shutdown, exitpriority=100)

    multiprocessing.util.register_after_fork(handle, in_child)


def _run_bounded(work: Callable[[], None], budget_s: float, what: str) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``budget_s`` for it."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # reported below, never raised into the app
            errors.append(exc)

    worker = threading.Thread(target=target, name=f"telemetry-{what}", daemon=True)
    worker.start()
    worker.join(budget_s)
    if worker.is_alive():
        _diagnostics.warn(
            f"bounded-{what}",
            f"telemetry {what} did not finish within {budget_s:.1f}s "
            "(is the OTLP endpoint reachable?); continuing without waiting",
        )
        return False
    if errors:
        _diagnostics.warn(f"{what}-error", f"telemetry {what} failed: {errors[0]!r}")
        return False
    return True


def _call_quietly(func: Callable[[], None], what: str) -> None:
    try:
        func()
    except Exception as exc:
        _diagnostics.warn(f"{what}:{func!r}", f"{what} failed: {exc!r}")


def active() -> Telemetry | None:
    """The handle of the running pipeline, if ``setup()`` was called and not shut down."""
    return _active


def generation() -> int:
    """A number that changes at each ``setup()``: modules re-create cached instruments on change."""
    return _generation


_T = TypeVar("_T")


class PerSetup(Generic[_T]):
    """A value built from the providers in force (a module's instruments), built again
    the first time it is asked for after each ``setup()``."""

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._value: _T | None = None
        self._generation = -1

    def get(self) -> _T:
        if self._value is None or self._generation != _generation:
            self._value = self._build()
            self._generation = _generation
        return self._value


def tracer() -> trace.Tracer:
    """The package's tracer from the active provider (a no-op one when disabled)."""
    return trace.get_tracer(SCOPE)


def meter() -> metrics.Meter:
    """The package's meter from the active provider (a no-op one when disabled)."""
    return metrics.get_meter(SCOPE)


def setup(**kwargs: Any) -> Telemetry:
    """Instrument the blog: one call at start-up; later calls return the same handle.

    Keyword arguments are :class:`~telemetry.config.Settings` fields (``data_dir``,
    ``otlp_endpoint``, ``otlp_protocol``, ``console``, ...) and override the
    ``TELEMETRY_*`` and ``OTEL_*`` environment variables. Raises
    :class:`~telemetry.config.ConfigError` or :class:`~telemetry.export.files.DataDirError`
    with a clear message when the configuration cannot work; nothing else raises.
    """
    global _active, _generation
    with _lock:
        if _active is not None:
            if kwargs:
                _diagnostics.warn(
                    "setup-twice",
                    "telemetry.setup() called again while active; keeping the first "
                    "configuration (call shutdown() first to change it)",
                )
            return _active
        settings = load_settings(**kwargs)
        handle = Telemetry(settings) if settings.disabled else _build(settings)
        _active = handle
        _generation += 1
        _install_instrumentations(handle)
        atexit.register(handle._atexit)
        _flush_multiprocessing_children(handle)
        return handle


def _build(settings: Settings) -> Telemetry:
    if settings.files:
        settings = settings.with_overrides(data_dir=files.check_writable(settings.data_dir))
    resource = build_resource(settings)
    tracer_provider = TracerProvider(
        resource=resource,
        span_limits=SpanLimits(max_attribute_length=settings.max_attribute_chars),
        shutdown_on_exit=False,
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(WorkflowSpanProcessor())
    writers = _file_writers(settings) if settings.files else {}
    local_parts: list[Any] = []  # flushed first: a dead collector must not cost the files
    for exporter in _span_exporters(settings, writers):
        span_processor = BatchSpanProcessor(
            RewritingSpanExporter(exporter), max_queue_size=settings.span_queue_size
        )
        tracer_provider.add_span_processor(span_processor)
        if isinstance(exporter, files.FileSpanExporter):
            local_parts.append(span_processor)
    for log_exporter in _log_exporters(settings, writers):
        log_processor = BatchLogRecordProcessor(
            log_exporter, max_queue_size=settings.log_queue_size
        )
        logger_provider.add_log_record_processor(log_processor)
        if isinstance(log_exporter, files.FileLogExporter):
            local_parts.append(log_processor)
    if settings.console:
        from telemetry.export import console

        tracer_provider.add_span_processor(
            SimpleSpanProcessor(RewritingSpanExporter(console.ConsoleSpanExporter()))
        )
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(console.ConsoleLogExporter())
        )
    readers = _metric_readers(settings, writers)
    if writers:
        local_parts.append(readers[0])  # the file reader comes first
    meter_provider = _meter_provider(resource, readers)
    _register_globals(tracer_provider, meter_provider, logger_provider)
    for writer in writers.values():
        os.register_at_fork(after_in_child=writer.reopen_after_fork)
    handle = Telemetry(settings, tracer_provider, meter_provider, logger_provider)
    handle._local_parts = local_parts
    return handle


def _meter_provider(resource: Resource, readers: list[MetricReader]) -> MeterProvider:
    """The MeterProvider, with the contrib psycopg meter switched off where the SDK allows.

    ``db.py`` records ``db.client.operation.duration`` itself (with
    ``db.collection.name``); the contrib's own histogram would cost every query a
    second record only for a view to drop it. The SDK's meter configurator is
    still experimental, so an SDK without it falls back to the dropping view.
    """
    kwargs: dict[str, Any] = {
        "resource": resource,
        "metric_readers": readers,
        "views": _views(),
        "shutdown_on_exit": False,
    }
    try:
        from opentelemetry.sdk.metrics._internal import _MeterConfig

        from telemetry.db import PSYCOPG_SCOPE

        def configure(scope: Any) -> Any:
            return _MeterConfig(is_enabled=getattr(scope, "name", None) != PSYCOPG_SCOPE)

        return MeterProvider(**kwargs, _meter_configurator=configure)
    except (ImportError, TypeError):
        return MeterProvider(**kwargs)


def _views() -> list[View]:
    """Second-scale buckets for the package's duration histograms; drop the contrib's
    query histogram, which ``db.py`` replaces with one that has ``db.collection.name``."""
    from telemetry.db import PSYCOPG_SCOPE

    return [
        View(
            instrument_type=Histogram,
            instrument_unit="s",
            meter_name=SCOPE,
            aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS_S),
        ),
        View(
            instrument_name="db.client.operation.duration",
            meter_name=PSYCOPG_SCOPE,
            aggregation=DropAggregation(),
        ),
    ]


def build_resource(settings: Settings) -> Resource:
    """One Resource for every signal: service, deployment, host and process attributes."""
    attributes: dict[str, Any] = {
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": sys.platform,
        "process.pid": os.getpid(),
        "process.executable.name": Path(sys.executable).name,
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
    }
    attributes.update(settings.resource_attributes)
    attributes.update(
        {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
            "deployment.environment.name": settings.environment,
        }
    )
    return Resource.create(attributes)


def _file_writers(settings: Settings) -> dict[str, files.RotatingLineWriter]:
    return files.writers_for(
        settings.data_dir,
        max_bytes=settings.file_max_bytes,
        backups=settings.file_backups,
        max_age_s=settings.file_max_age_s,
        compress=settings.file_compress,
    )


def _span_exporters(settings: Settings, writers: dict[str, files.RotatingLineWriter]) -> list[Any]:
    exporters: list[Any] = []
    if writers:
        exporters.append(files.FileSpanExporter(writers["traces"]))
    if settings.otlp_endpoint_for("traces"):
        from telemetry.export import otlp

        exporters.append(otlp.span_exporter(settings))
    return exporters


def _log_exporters(settings: Settings, writers: dict[str, files.RotatingLineWriter]) -> list[Any]:
    exporters: list[Any] = []
    if writers:
        exporters.append(files.FileLogExporter(writers["logs"]))
    if settings.otlp_endpoint_for("logs"):
        from telemetry.export import otlp

        exporters.append(otlp.log_exporter(settings))
    return exporters


def _metric_readers(
    settings: Settings, writers: dict[str, files.RotatingLineWriter]
) -> list[MetricReader]:
    interval_ms = settings.metric_export_interval_s * 1000
    timeout_ms = settings.otlp_timeout_s * 1000
    readers: list[MetricReader] = []
    if writers:
        readers.append(
            PeriodicExportingMetricReader(
                files.FileMetricExporter(writers["metrics"]),
                export_interval_millis=interval_ms,
                export_timeout_millis=timeout_ms,
            )
        )
    if settings.otlp_endpoint_for("metrics"):
        from telemetry.export import otlp

        readers.append(
            PeriodicExportingMetricReader(
                otlp.metric_exporter(settings),
                export_interval_millis=interval_ms,
                export_timeout_millis=timeout_ms,
            )
        )
    if settings.prometheus_port is not None:
        from telemetry.export.prometheus import PrometheusEndpointReader

        readers.append(PrometheusEndpointReader(settings.prometheus_port, settings.prometheus_host))
    return readers


def _register_globals(
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    logger_provider: LoggerProvider,
) -> None:
    """Make these providers the OpenTelemetry globals, replacing a shut-down earlier set.

    The API allows one global per process; a second ``setup()`` after
    ``shutdown()`` (tests, notebooks) re-arms the API's set-once guards.
    """
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)


def _install_instrumentations(handle: Telemetry) -> None:
    from telemetry import db, health, logs, resources

    logs.install(handle)
    if handle.enabled and handle.settings.instrument_db:
        db.install(handle)
    if handle.enabled:
        resources.install(handle.settings, meter_provider=handle.meter_provider)
        health.install(handle.settings, meter_provider=handle.meter_provider)
