"""Settings: arguments > ``TELEMETRY_*`` env > ``OTEL_*`` env > defaults.

One frozen dataclass holds every knob the pipeline reads, resolved once at
``setup()``. The OpenTelemetry variables a user already knows keep their standard
meaning; ``TELEMETRY_*`` variables name the package's own knobs (and override the
``OTEL_*`` ones where both exist, so a deployment can pin a value for this
package without touching other OTel-instrumented processes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Protocol = Literal["grpc", "http/protobuf"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting has a value the package cannot use; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """Everything ``setup()`` needs, already validated."""

    service_name: str = "blog"
    service_version: str = "0.0.0"
    environment: str = "development"
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    disabled: bool = False

    # where telemetry goes
    files: bool = True
    data_dir: Path = Path("telemetry-data")
    file_max_bytes: int = 64 * 1024 * 1024
    file_backups: int = 10
    file_max_age_s: float | None = 7 * 24 * 3600.0
    file_compress: bool = False
    otlp_endpoint: str | None = None
    # per-signal endpoints, used as given (OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT)
    otlp_traces_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_protocol: Protocol = "grpc"
    otlp_headers: Mapping[str, str] = field(default_factory=dict)
    otlp_timeout_s: float = 5.0
    otlp_insecure: bool | None = None
    console: bool = False
    prometheus_port: int | None = None  # serve /metrics for scraping (0: any free port)
    prometheus_host: str = "0.0.0.0"

    # batching and shutdown bounds
    shutdown_timeout_s: float = 3.0
    metric_export_interval_s: float = 60.0
    span_queue_size: int = 2048
    log_queue_size: int = 2048

    # instrumentation
    instrument_db: bool = True
    slow_query_threshold_s: float = 0.5
    capture_message_content: bool = False
    max_content_chars: int = 4096
    max_attribute_chars: int = 8192
    log_level: str = "info"
    bridge_stdlib_logging: bool = True
    error_dedup_window_s: float = 10.0  # same fingerprint logged once per window (0: every time)

    def otlp_endpoint_for(self, signal: str) -> str | None:
        """Where ``signal`` ("traces", "logs", "metrics") goes over OTLP, or None.

        A per-signal endpoint is used as given (for HTTP, the full URL); the
        general one gets the signal's path (``/v1/traces``...) for HTTP.
        """
        specific: str | None = getattr(self, f"otlp_{signal}_endpoint")
        return specific or self.otlp_endpoint

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given fields replaced (validated like the rest)."""
        return _validated(replace(self, **overrides))


_FIELD_NAMES = {f.name for f in fields(Settings)}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings from arguments, then ``TELEMETRY_*``, then ``OTEL_*``, then defaults.

    Arguments whose value is ``None`` count as not given. Raises ``ConfigError``
    with the variable's name when a value cannot be used.
    """
    env = os.environ if environ is None else environ
    unknown = set(overrides) - _FIELD_NAMES
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    values.update(_from_otel_env(env))
    values.update(_from_telemetry_env(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"]).expanduser()
    return _validated(Settings(**values))


def _from_otel_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    resource = _parse_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES")
    if "service.name" in resource:
        values["service_name"] = resource["service.name"]
    if "service.version" in resource:
        values["service_version"] = resource["service.version"]
    if "deployment.environment.name" in resource:
        values["environment"] = resource["deployment.environment.name"]
    values["resource_attributes"] = resource
    if env.get("OTEL_SERVICE_NAME"):
        values["service_name"] = env["OTEL_SERVICE_NAME"]
    if "OTEL_SDK_DISABLED" in env:
        values["disabled"] = _parse_bool(env["OTEL_SDK_DISABLED"], "OTEL_SDK_DISABLED")
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint:
        values["otlp_endpoint"] = endpoint
    for signal in ("traces", "logs", "metrics"):
        specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
        if specific:
            values[f"otlp_{signal}_endpoint"] = specific
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
    if protocol:
        values["otlp_protocol"] = protocol
    if env.get("OTEL_EXPORTER_OTLP_HEADERS"):
        values["otlp_headers"] = _parse_pairs(
            env["OTEL_EXPORTER_OTLP_HEADERS"], "OTEL_EXPORTER_OTLP_HEADERS"
        )
    if env.get("OTEL_EXPORTER_OTLP_TIMEOUT"):
        ms = _parse_float(env["OTEL_EXPORTER_OTLP_TIMEOUT"], "OTEL_EXPORTER_OTLP_TIMEOUT")
        values["otlp_timeout_s"] = ms / 1000.0
    if env.get("OTEL_EXPORTER_OTLP_INSECURE"):
        values["otlp_insecure"] = _parse_bool(
            env["OTEL_EXPORTER_OTLP_INSECURE"], "OTEL_EXPORTER_OTLP_INSECURE"
        )
    if env.get("OTEL_METRIC_EXPORT_INTERVAL"):
        ms = _parse_float(env["OTEL_METRIC_EXPORT_INTERVAL"], "OTEL_METRIC_EXPORT_INTERVAL")
        values["metric_export_interval_s"] = ms / 1000.0
    if env.get("OTEL_BSP_MAX_QUEUE_SIZE"):
        values["span_queue_size"] = _parse_int(
            env["OTEL_BSP_MAX_QUEUE_SIZE"], "OTEL_BSP_MAX_QUEUE_SIZE"
        )
    if env.get("OTEL_BLRP_MAX_QUEUE_SIZE"):
        values["log_queue_size"] = _parse_int(
            env["OTEL_BLRP_MAX_QUEUE_SIZE"], "OTEL_BLRP_MAX_QUEUE_SIZE"
        )
    capture = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower()
    if capture:
        # the GenAI utils also accept modes such as SPAN_ONLY / SPAN_AND_EVENT
        values["capture_message_content"] = capture not in _FALSE and capture != "no_content"
    return values


# TELEMETRY_<FIELD> for every scalar field, e.g. TELEMETRY_DATA_DIR, TELEMETRY_CONSOLE.
def _from_telemetry_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = f"TELEMETRY_{f.name.upper()}"
        raw = env.get(name)
        if raw is None or f.name in ("resource_attributes", "otlp_headers"):
            continue
        values[f.name] = _coerce(raw, f.type, name)
    return values


def _coerce(raw: str, annotation: Any, name: str) -> Any:
    kind = str(annotation)
    if kind.startswith("bool"):
        return _parse_bool(raw, name)
    if kind.startswith("int"):
        return _parse_int(raw, name)
    if kind.startswith("float"):
        return None if raw.strip().lower() in ("", "none") else _parse_float(raw, name)
    if kind == "Path":
        return Path(raw)
    if kind.startswith("str |"):
        return raw or None
    return raw


def _validated(settings: Settings) -> Settings:
    if settings.otlp_protocol not in ("grpc", "http/protobuf"):
        raise ConfigError(
            f"OTLP protocol {settings.otlp_protocol!r} is not supported; "
            "use 'grpc' or 'http/protobuf' (OTEL_EXPORTER_OTLP_PROTOCOL)"
        )
    for name in (
        "otlp_endpoint",
        "otlp_traces_endpoint",
        "otlp_logs_endpoint",
        "otlp_metrics_endpoint",
    ):
        if getattr(settings, name) is not None:
            _check_endpoint(getattr(settings, name))
    if settings.prometheus_port is not None and not 0 <= settings.prometheus_port <= 65535:
        raise ConfigError(f"prometheus_port must be 0-65535, got {settings.prometheus_port!r}")
    positive = (
        "file_max_bytes",
        "otlp_timeout_s",
        "metric_export_interval_s",
        "span_queue_size",
        "log_queue_size",
        "max_content_chars",
        "max_attribute_chars",
    )
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(settings, name)!r}")
    if settings.file_backups < 0 or settings.shutdown_timeout_s < 0:
        raise ConfigError("file_backups and shutdown_timeout_s must not be negative")
    if settings.slow_query_threshold_s < 0:
        raise ConfigError("slow_query_threshold_s must not be negative")
    if settings.error_dedup_window_s < 0:
        raise ConfigError("error_dedup_window_s must not be negative")
    return replace(settings, data_dir=Path(settings.data_dir))


def _check_endpoint(endpoint: str) -> None:
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("http", "https") or not rest.strip("/"):
        raise ConfigError(
            f"OTLP endpoint {endpoint!r} is not a URL like 'http://collector:4317' "
            "(OTEL_EXPORTER_OTLP_ENDPOINT needs the http:// or https:// scheme)"
        )


def _parse_pairs(raw: str, name: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` (W3C-baggage-like, percent-decoded) as the OTel spec reads it."""
    from urllib.parse import unquote

    pairs: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: {item.strip()!r} is not key=value")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def _parse_bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _parse_int(raw: str, name: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def _parse_float(raw: str, name: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
