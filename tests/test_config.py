"""Settings resolve as arguments > TELEMETRY_* > OTEL_* > defaults, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.config import ConfigError, Settings, load_settings


def test_defaults_write_files_to_telemetry_data_and_export_nothing_else() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.files and settings.data_dir == Path("telemetry-data")
    assert settings.otlp_endpoint is None and not settings.console


def test_otel_variables_keep_their_standard_meaning() -> None:
    settings = load_settings(
        environ={
            "OTEL_SERVICE_NAME": "blog-worker",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=content%20ops",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_METRIC_EXPORT_INTERVAL": "15000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "512",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        }
    )
    assert settings.service_name == "blog-worker"
    assert settings.environment == "prod"
    assert settings.resource_attributes["team"] == "content ops"
    assert settings.otlp_endpoint == "http://collector:4318"
    assert settings.otlp_protocol == "http/protobuf"
    assert settings.otlp_headers == {"api-key": "abc"}
    assert settings.otlp_timeout_s == 2.5
    assert settings.metric_export_interval_s == 15.0
    assert settings.span_queue_size == 512
    assert settings.capture_message_content is True


def test_telemetry_variables_override_otel_ones_and_arguments_override_both() -> None:
    environ = {
        "OTEL_SERVICE_NAME": "from-otel",
        "TELEMETRY_SERVICE_NAME": "from-telemetry",
        "TELEMETRY_DATA_DIR": "/var/lib/blog/telemetry",
        "TELEMETRY_CONSOLE": "yes",
        "TELEMETRY_SLOW_QUERY_THRESHOLD_S": "0.25",
    }
    settings = load_settings(environ=environ)
    assert settings.service_name == "from-telemetry"
    assert settings.data_dir == Path("/var/lib/blog/telemetry")
    assert settings.console is True
    assert settings.slow_query_threshold_s == 0.25
    assert load_settings(environ=environ, service_name="from-argument").service_name == (
        "from-argument"
    )


def test_sdk_disabled_is_read_from_the_standard_variable() -> None:
    assert load_settings(environ={"OTEL_SDK_DISABLED": "true"}).disabled is True
    assert load_settings(environ={"OTEL_SDK_DISABLED": "false"}).disabled is False


@pytest.mark.parametrize(
    ("environ", "overrides", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, {}, "http:// or https://"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, {}, "'grpc' or 'http/protobuf'"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, {}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ({"OTEL_SDK_DISABLED": "maybe"}, {}, "not a boolean"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, {}, "key=value"),
        ({}, {"file_max_bytes": 0}, "file_max_bytes must be positive"),
        ({}, {"no_such_setting": 1}, "unknown setting"),
    ],
)
def test_misconfiguration_gets_a_clear_error(
    environ: dict[str, str], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ, **overrides)


def test_per_signal_endpoints_are_used_as_given() -> None:
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces",
        }
    )
    assert settings.otlp_endpoint_for("traces") == "http://jaeger:4318/v1/traces"
    assert settings.otlp_endpoint_for("logs") == "http://collector:4318"
    only_traces = load_settings(environ={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://j:4317"})
    assert only_traces.otlp_endpoint_for("metrics") is None
    with pytest.raises(ConfigError, match="http:// or https://"):
        load_settings(environ={"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "collector:4317"})
