"""Resource metrics: what the process and its dependencies are using right now.

Observable instruments whose callbacks run at each metrics collection:

- system and process figures from psutil (CPU, memory, threads, file
  descriptors) and disk space for the data directory's filesystem and any path
  the application names (no OTel package reports disk space);
- connection-pool figures for each psycopg_pool pool passed to ``instrument_pool``;
- cache requests by result and the hit ratio, from ``record_cache(hit)`` calls;
- ``blog.workflow.pending_tasks`` and any gauge the application adds with
  ``add_gauge``, from application callbacks.

Built-in callbacks are cheap and never block. Application callbacks run under a
time budget in their own thread: one that raises or hangs costs its own gauge
for that collection, and is reported through ``telemetry._diagnostics`` (at
most once per collection, rate-limited per gauge).
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psutil
from opentelemetry.metrics import (
    CallbackOptions,
    Meter,
    MeterProvider,
    Observation,
    get_meter_provider,
)
from opentelemetry.sdk import metrics as sdk_metrics

from telemetry import _diagnostics
from telemetry._timebox import TimeBoxed

if TYPE_CHECKING:
    from telemetry.config import Settings

__all__ = [
    "GaugeValue",
    "ResourceMetrics",
    "add_gauge",
    "add_paths",
    "install",
    "instrument_pool",
    "record_cache",
    "set_pending_tasks_callback",
]

METER_NAME = "telemetry"
DEFAULT_CALLBACK_TIMEOUT_S = 0.5
_MIN_CPU_WINDOW_S = 0.1

GaugeValue = float | int | Iterable[Observation]
"""What an application gauge callback returns: one number, or observations with attributes."""

_INSTRUMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_./-]{0,254}")


class _Pool(Protocol):
    """What ``instrument_pool`` needs from a pool: psycopg_pool's ``get_stats()``."""

    def get_stats(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class _Filesystem:
    mountpoint: str
    device: str


class ResourceMetrics:
    """The resource instruments of one MeterProvider, and the state their callbacks read.

    Create it with ``install()``; the module-level functions act on the installed one.
    """

    def __init__(
        self,
        meter: Meter,
        *,
        paths: Iterable[str | os.PathLike[str]] = (),
        callback_timeout_s: float = DEFAULT_CALLBACK_TIMEOUT_S,
    ) -> None:
        if callback_timeout_s <= 0:
            raise ValueError(f"callback_timeout_s must be positive, got {callback_timeout_s!r}")
        self._meter = meter
        self._callback_timeout_s = callback_timeout_s
        self._lock = threading.Lock()
        self._filesystems: dict[str, _Filesystem] = {}
        self._pools: dict[str, weakref.ref[_Pool]] = {}
        self._cache_counts = {"hit": 0, "miss": 0}
        self._pending_tasks: TimeBoxed[GaugeValue] | None = None
        self._gauges: set[str] = set()
        # CPU figures are deltas: take the baselines now, so the first collection
        # already reports real utilisation (psutil's first cpu_percent() is a fake 0.0).
        self._cpu_count = psutil.cpu_count() or 1
        self._system_cpu_window = _CpuWindow(_system_cpu_sample)
        self._watch_process()
        self.add_paths(paths)
        self._register()

    # --- what the application calls -------------------------------------------------

    def add_paths(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Report disk space for the filesystems holding ``paths`` (one series per filesystem)."""
        for path in paths:
            fs = _filesystem_of(Path(path))
            with self._lock:
                self._filesystems.setdefault(fs.mountpoint, fs)

    def instrument_pool(self, pool: _Pool, name: str | None = None) -> None:
        """Report a psycopg_pool pool's connections by state, pending requests and limits.

        The pool is held weakly: a closed and discarded pool simply stops reporting.
        """
        if not callable(getattr(pool, "get_stats", None)):
            raise TypeError(
                f"instrument_pool() needs a psycopg_pool pool (with get_stats()), "
                f"got {type(pool).__name__}"
            )
        pool_name = name or str(getattr(pool, "name", None) or f"pool-{len(self._pools) + 1}")
        with self._lock:
            self._pools[pool_name] = weakref.ref(pool)

    def record_cache(self, hit: bool) -> None:
        """Count one cache lookup as a hit or a miss (``blog.cache.requests``)."""
        result = "hit" if hit else "miss"
        with self._lock:
            self._cache_counts[result] += 1

    def set_pending_tasks_callback(self, callback: Callable[[], GaugeValue]) -> None:
        """Report ``blog.workflow.pending_tasks`` from ``callback`` (replacing any earlier one)."""
        self._pending_tasks = TimeBoxed(callback, "blog.workflow.pending_tasks callback")

    def add_gauge(
        self,
        name: str,
        callback: Callable[[], GaugeValue],
        *,
        unit: str = "",
        description: str = "",
    ) -> None:
        """Add an application gauge read from ``callback`` at each collection.

        ``callback`` returns a number, or ``Observation``s when the gauge has
        attributes. It runs under the collection's time budget: if it raises or
        does not return in time, this gauge is missing from that collection and
        a diagnostic says why; other gauges are unaffected.
        """
        if not isinstance(name, str) or not _INSTRUMENT_NAME.fullmatch(name):
            raise ValueError(
                f"gauge name {name!r} is not a valid instrument name (a letter, then up to "
                "254 letters, digits, '_', '.', '/' or '-')"
            )
        if not callable(callback):
            raise TypeError(f"gauge {name}: callback must be callable, got {type(callback)!r}")
        with self._lock:
            if name in self._gauges:
                raise ValueError(f"gauge {name!r} was already added")
            self._gauges.add(name)
        boxed = TimeBoxed(callback, f"gauge {name} callback")
        self._meter.create_observable_gauge(
            name,
            callbacks=[lambda options: self._run_app_callback(boxed, name, options)],
            unit=unit,
            description=description,
        )

    # --- instruments ----------------------------------------------------------------

    def _register(self) -> None:
        m = self._meter
        gauge, updown = m.create_observable_gauge, m.create_observable_up_down_counter
        gauge(
            "system.cpu.utilization",
            [self._guard(self._system_cpu)],
            unit="1",
            description="Fraction of CPU time not idle, all CPUs, since the last collection.",
        )
        updown(
            "system.memory.usage",
            [self._guard(self._memory_usage)],
            unit="By",
            description="Memory in use and free.",
        )
        gauge(
            "system.memory.utilization",
            [self._guard(self._memory_utilization)],
            unit="1",
            description="Fraction of memory in use and free.",
        )
        updown(
            "system.filesystem.usage",
            [self._guard(self._filesystem_usage)],
            unit="By",
            description="Space used and free on the data directory's and named filesystems.",
        )
        gauge(
            "system.filesystem.utilization",
            [self._guard(self._filesystem_utilization)],
            unit="1",
            description="Fraction of space used on each reported filesystem.",
        )
        gauge(
            "process.cpu.utilization",
            [self._guard(self._process_cpu)],
            unit="1",
            description="This process's CPU time since the last collection, per CPU.",
        )
        updown(
            "process.memory.usage",
            [self._guard(self._process_memory)],
            unit="By",
            description="Resident memory of this process.",
        )
        updown(
            "process.thread.count",
            [self._guard(self._process_threads)],
            unit="{thread}",
            description="Threads in this process.",
        )
        updown(
            "process.unix.file_descriptor.count",
            [self._guard(self._process_fds)],
            unit="{file_descriptor}",
            description="File descriptors open in this process.",
        )
        updown(
            "db.client.connection.count",
            [self._guard(self._pool_connections)],
            unit="{connection}",
            description="Pool connections by state (idle, used).",
        )
        updown(
            "db.client.connection.max",
            [self._guard(self._pool_max)],
            unit="{connection}",
            description="Most connections the pool allows.",
        )
        updown(
            "db.client.connection.idle.min",
            [self._guard(self._pool_min)],
            unit="{connection}",
            description="Connections the pool keeps open at least.",
        )
        updown(
            "db.client.connection.pending_requests",
            [self._guard(self._pool_pending)],
            unit="{request}",
            description="Requests waiting for a pool connection.",
        )
        # observed, not added: counts made before setup() are kept (a counter's
        # add() on the API's proxy before the SDK exists goes nowhere)
        m.create_observable_counter(
            "blog.cache.requests",
            [self._guard(self._cache_requests)],
            unit="{request}",
            description="Cache lookups by result (hit, miss), since start.",
        )
        gauge(
            "blog.cache.hit_ratio",
            [self._guard(self._cache_hit_ratio)],
            unit="1",
            description="Fraction of cache lookups that hit, since start.",
        )
        updown(
            "blog.workflow.pending_tasks",
            [self._pending_tasks_callback],
            unit="{task}",
            description="Workflow tasks waiting to run, as the application reports them.",
        )

    def _guard(
        self, read: Callable[[], Iterable[Observation]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """Wrap a built-in reading so a failure costs that instrument only, with a diagnostic."""

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            try:
                return list(read())
            except Exception as exc:
                _diagnostics.warn(
                    f"resources.{read.__name__}",
                    f"resource metric {read.__name__.lstrip('_')} failed: "
                    f"{type(exc).__name__}: {exc}",
                )
                return []

        return callback

    def _run_app_callback(
        self, boxed: TimeBoxed[GaugeValue], name: str, options: CallbackOptions
    ) -> list[Observation]:
        budget = min(self._callback_timeout_s, options.timeout_millis / 1000.0)
        try:
            return _observations(boxed.call(budget), name)
        except Exception as exc:
            _diagnostics.warn(
                f"resources.gauge.{name}",
                f"gauge {name} skipped this collection: {type(exc).__name__}: {exc}",
            )
            return []

    def _pending_tasks_callback(self, options: CallbackOptions) -> list[Observation]:
        boxed = self._pending_tasks
        if boxed is None:
            return []
        return self._run_app_callback(boxed, "blog.workflow.pending_tasks", options)

    # --- readings ---------------------------------------------------------------------

    def _watch_process(self) -> None:
        self._pid = os.getpid()
        self._process_handle = psutil.Process(self._pid)
        self._process_cpu_window = _CpuWindow(
            lambda: _process_cpu_sample(self._process_handle, self._cpu_count)
        )

    def _own(self) -> tuple[psutil.Process, _CpuWindow]:
        """This process and its CPU window, re-resolved after a fork (a child must not
        report its parent)."""
        if os.getpid() != self._pid:
            self._watch_process()
        return self._process_handle, self._process_cpu_window

    def _system_cpu(self) -> Iterator[Observation]:
        busy = self._system_cpu_window.utilization()
        if busy is not None:
            yield Observation(busy)

    def _memory_usage(self) -> Iterator[Observation]:
        vm = psutil.virtual_memory()
        yield Observation(vm.total - vm.available, {"system.memory.state": "used"})
        yield Observation(vm.available, {"system.memory.state": "free"})

    def _memory_utilization(self) -> Iterator[Observation]:
        vm = psutil.virtual_memory()
        used = (vm.total - vm.available) / vm.total
        yield Observation(used, {"system.memory.state": "used"})
        yield Observation(1.0 - used, {"system.memory.state": "free"})

    def _filesystem_usage(self) -> Iterator[Observation]:
        for fs, usage in self._disk_usages():
            yield Observation(usage.used, _fs_attributes(fs, "used"))
            yield Observation(usage.free, _fs_attributes(fs, "free"))

    def _filesystem_utilization(self) -> Iterator[Observation]:
        for fs, usage in self._disk_usages():
            # used / (used + free), as df shows it: blocks reserved for root do not count
            yield Observation(usage.used / (usage.used + usage.free), _fs_attributes(fs, "used"))

    def _disk_usages(self) -> Iterator[tuple[_Filesystem, Any]]:
        with self._lock:
            filesystems = list(self._filesystems.values())
        for fs in filesystems:
            yield fs, psutil.disk_usage(fs.mountpoint)

    def _process_cpu(self) -> Iterator[Observation]:
        busy = self._own()[1].utilization()
        if busy is not None:
            yield Observation(busy)

    def _process_memory(self) -> Iterator[Observation]:
        yield Observation(self._own()[0].memory_info().rss)

    def _process_threads(self) -> Iterator[Observation]:
        yield Observation(self._own()[0].num_threads())

    def _process_fds(self) -> Iterator[Observation]:
        process = self._own()[0]
        if hasattr(process, "num_fds"):
            yield Observation(process.num_fds())

    def _pool_stats(self) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
        with self._lock:
            pools = list(self._pools.items())
        for name, ref in pools:
            pool = ref()
            if pool is None:
                with self._lock:
                    self._pools.pop(name, None)
                continue
            yield {"db.client.connection.pool.name": name}, pool.get_stats()

    def _pool_connections(self) -> Iterator[Observation]:
        for attrs, stats in self._pool_stats():
            idle = stats.get("pool_available", 0)
            used = max(stats.get("pool_size", 0) - idle, 0)
            yield Observation(idle, {**attrs, "db.client.connection.state": "idle"})
            yield Observation(used, {**attrs, "db.client.connection.state": "used"})

    def _pool_max(self) -> Iterator[Observation]:
        for attrs, stats in self._pool_stats():
            yield Observation(stats.get("pool_max", 0), attrs)

    def _pool_min(self) -> Iterator[Observation]:
        for attrs, stats in self._pool_stats():
            yield Observation(stats.get("pool_min", 0), attrs)

    def _pool_pending(self) -> Iterator[Observation]:
        for attrs, stats in self._pool_stats():
            yield Observation(stats.get("requests_waiting", 0), attrs)

    def _cache_requests(self) -> Iterator[Observation]:
        with self._lock:
            counts = dict(self._cache_counts)
        for result, count in counts.items():
            if count:
                yield Observation(count, {"blog.cache.result": result})

    def _cache_hit_ratio(self) -> Iterator[Observation]:
        with self._lock:
            hits, misses = self._cache_counts["hit"], self._cache_counts["miss"]
        if hits + misses:
            yield Observation(hits / (hits + misses))


class _CpuWindow:
    """CPU utilisation between successive readings, from (busy, total) seconds samples.

    Several readers (files, OTLP, a Prometheus scrape) may collect moments apart;
    a window shorter than 0.1 s of CPU time (psutil's advice) gives a noisy
    figure, so then the last real figure is reported again and the baseline kept.
    """

    def __init__(self, sample: Callable[[], tuple[float, float]]) -> None:
        self._sample = sample
        self._lock = threading.Lock()
        self._baseline = sample()
        self._last: float | None = None

    def utilization(self) -> float | None:
        busy, total = self._sample()
        with self._lock:
            busy_delta, total_delta = busy - self._baseline[0], total - self._baseline[1]
            if total_delta >= _MIN_CPU_WINDOW_S:
                self._baseline = (busy, total)
                self._last = min(max(busy_delta / total_delta, 0.0), 1.0)
            return self._last


def _system_cpu_sample() -> tuple[float, float]:
    """(busy, total) CPU seconds over all CPUs since boot; iowait counts as idle."""
    times = psutil.cpu_times()
    total = sum(times)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def _process_cpu_sample(process: psutil.Process, cpu_count: int) -> tuple[float, float]:
    """(busy, available) CPU seconds of this process: its CPU time, and wall time x CPUs."""
    times = process.cpu_times()
    return times.user + times.system, time.monotonic() * cpu_count


def _observations(value: Any, name: str) -> list[Observation]:
    if isinstance(value, int | float):
        return [Observation(value)]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        items = list(value)
        if all(isinstance(item, Observation) for item in items):
            return items
    raise TypeError(
        f"gauge {name} callback returned {type(value).__name__}; "
        "return a number or an iterable of opentelemetry.metrics.Observation"
    )


def _filesystem_of(path: Path) -> _Filesystem:
    """The mount point and device holding ``path`` (or its nearest existing parent)."""
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    mount = path.resolve()
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    device = next(
        (p.device for p in psutil.disk_partitions(all=True) if p.mountpoint == str(mount)), ""
    )
    return _Filesystem(mountpoint=str(mount), device=device)


def _fs_attributes(fs: _Filesystem, state: str) -> dict[str, str]:
    attrs = {"system.filesystem.mountpoint": fs.mountpoint, "system.filesystem.state": state}
    if fs.device:
        attrs["system.device"] = fs.device
    return attrs


# --- the installed instance -----------------------------------------------------------

_install_lock = threading.Lock()
_current: ResourceMetrics | None = None
_current_provider: MeterProvider | None = None


def _reusable(provider: MeterProvider) -> bool:
    """Whether the current instance already reports to ``provider``.

    An instance made before ``setup()`` (a ``record_cache`` call at import time,
    say) sits on the API's proxy provider, whose instruments move to the real
    provider once that becomes the global: registering again would double them.
    """
    if _current is None:
        return False
    if _current_provider is provider:
        return True
    on_proxy = not isinstance(_current_provider, sdk_metrics.MeterProvider)
    return on_proxy and get_meter_provider() is provider


def install(
    settings: Settings | None = None,
    *,
    meter_provider: MeterProvider | None = None,
    paths: Iterable[str | os.PathLike[str]] = (),
    callback_timeout_s: float = DEFAULT_CALLBACK_TIMEOUT_S,
) -> ResourceMetrics:
    """Register the resource instruments on ``meter_provider`` (default: the global one).

    ``setup()`` calls this once with its settings and provider; disk space is then
    reported for the data directory's filesystem plus ``paths``. Installing again
    on the same provider adds the paths and returns the existing instance, so
    instruments are never registered twice. The module-level functions act on the
    latest install (gauges added before a new ``setup()`` stay with the old one).
    """
    global _current, _current_provider
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    all_paths = [*([settings.data_dir] if settings is not None else []), *paths]
    with _install_lock:
        if _current is not None and _reusable(provider):
            _current.add_paths(all_paths)
        else:
            _current = ResourceMetrics(
                provider.get_meter(METER_NAME),
                paths=all_paths,
                callback_timeout_s=callback_timeout_s,
            )
        _current_provider = provider
        return _current


def _resources() -> ResourceMetrics:
    return _current if _current is not None else install()


def record_cache(hit: bool) -> None:
    """Count one cache lookup as a hit or a miss; never raises."""
    try:
        _resources().record_cache(hit)
    except Exception as exc:
        _diagnostics.warn("resources.record_cache", f"record_cache failed: {exc!r}")


def instrument_pool(pool: _Pool, name: str | None = None) -> None:
    """Report a psycopg_pool pool's connection counts (see ``ResourceMetrics.instrument_pool``)."""
    _resources().instrument_pool(pool, name)


def set_pending_tasks_callback(callback: Callable[[], GaugeValue]) -> None:
    """Report ``blog.workflow.pending_tasks`` from ``callback`` at each collection."""
    _resources().set_pending_tasks_callback(callback)


def add_gauge(
    name: str, callback: Callable[[], GaugeValue], *, unit: str = "", description: str = ""
) -> None:
    """Add an application gauge (see ``ResourceMetrics.add_gauge``)."""
    _resources().add_gauge(name, callback, unit=unit, description=description)


def add_paths(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Also report disk space for the filesystems holding ``paths``."""
    _resources().add_paths(paths)
