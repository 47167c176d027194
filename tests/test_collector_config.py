"""The collector configs in collector-config/, checked statically.

No container engine runs here, so otelcol-contrib itself cannot load them;
these tests check what it would reject or what would silently break the
pipeline: components a pipeline names but nobody defined, component types
under names otelcol-contrib no longer uses, and ports, paths and bounds that
disagree with docker-compose.yaml, prometheus.yml or the package's defaults.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetry.config import Settings

CONFIG_DIR = Path(__file__).resolve().parents[1] / "collector-config"
KINDS = ("receivers", "processors", "exporters", "connectors")

# Component types as otelcol-contrib names them now. The collector moved to
# lower_snake_case in 2026 (collector #14396, contrib #45339), keeping the old
# names only as deprecated aliases: otlp -> otlp_grpc and otlphttp -> otlp_http
# exporters (#14403, #14397), otlpjsonfile -> otlp_json_file (#48728),
# resourcedetection -> resource_detection (#48525), loadbalancing ->
# load_balancing (#48533). Names that needed no change stay as they were.
CURRENT_TYPES = {
    "receivers": {"otlp", "otlp_json_file", "file_log", "prometheus", "host_metrics"},
    "processors": {
        "memory_limiter", "batch", "resource_detection", "redaction", "transform",
        "tail_sampling", "filter", "attributes",
    },
    "exporters": {
        "otlp_grpc", "otlp_http", "file", "prometheus", "debug", "load_balancing",
    },
    "extensions": {"health_check", "file_storage", "pprof", "zpages"},
    "connectors": {"forward", "span_metrics"},
}  # fmt: skip
DEPRECATED_ALIASES = {
    "exporters": {"otlp", "otlphttp", "loadbalancing", "logging"},
    "receivers": {"otlpjsonfile", "filelog", "hostmetrics"},
    "processors": {"resourcedetection", "memorylimiter"},
    "extensions": {"healthcheck", "filestorage"},
}
SIGNAL_FILES = {"traces": "traces.jsonl", "logs": "logs.jsonl", "metrics": "metrics.jsonl"}


def load(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CONFIG_DIR / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def merged(*names: str) -> dict[str, Any]:
    """Merge configs like ``otelcol-contrib --config a --config b``: maps deep, lists replaced."""
    result: dict[str, Any] = {}
    for name in names:
        result = _merge(result, load(name))
    return result


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


CONFIGS = {
    "agent": lambda: merged("agent.yaml"),
    "agent+scaleout": lambda: merged("agent.yaml", "agent-scaleout.yaml"),
    "gateway": lambda: merged("gateway.yaml"),
}


def component_type(component_id: str) -> str:
    """``file/traces`` -> ``file``: the part before the slash is the type."""
    return component_id.split("/", 1)[0]


@pytest.fixture(params=sorted(CONFIGS))
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return CONFIGS[request.param]()


def test_pipelines_name_only_defined_components(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert pipelines
    for pipeline_id, pipeline in pipelines.items():
        assert component_type(pipeline_id) in SIGNAL_FILES, pipeline_id
        assert pipeline.get("receivers") and pipeline.get("exporters"), pipeline_id
        for kind in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(kind, []):
                assert component_id in config.get(kind, {}), f"{pipeline_id}: {component_id}"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"], extension


def test_every_component_type_is_a_current_otelcol_contrib_name(config: dict[str, Any]) -> None:
    for kind in (*KINDS, "extensions"):
        for component_id in config.get(kind) or {}:
            name = component_type(component_id)
            assert name not in DEPRECATED_ALIASES.get(kind, set()), f"deprecated: {component_id}"
            assert name in CURRENT_TYPES[kind], f"unknown {kind[:-1]} type: {component_id}"


def test_every_defined_component_is_used(config: dict[str, Any]) -> None:
    used = {
        component_id
        for pipeline in config["service"]["pipelines"].values()
        for kind in ("receivers", "processors", "exporters")
        for component_id in pipeline.get(kind, [])
    }
    defined = {
        component_id
        for kind in ("receivers", "processors", "exporters")
        for component_id in config.get(kind) or {}
    }
    unused = defined - used
    # the scale-out overlay replaces the agent's Jaeger exporter by the gateways
    assert unused <= {"otlp_grpc/jaeger"}, sorted(unused)


def test_memory_limiter_comes_first_and_batch_last(config: dict[str, Any]) -> None:
    for pipeline_id, pipeline in config["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", pipeline_id
        assert processors[-1] == "batch", pipeline_id


def test_agent_files_have_the_package_layout_and_bounds() -> None:
    agent = load("agent.yaml")
    defaults = Settings()
    directories = set()
    for signal, pipeline in agent["service"]["pipelines"].items():
        [file_exporter] = [e for e in pipeline["exporters"] if component_type(e) == "file"]
        settings = agent["exporters"][file_exporter]
        path = Path(settings["path"])
        assert path.name == SIGNAL_FILES[signal]
        directories.add(path.parent)
        assert settings.get("format", "json") == "json"
        assert "compression" not in settings  # zstd frames would not be JSON lines
        rotation = settings["rotation"]
        assert rotation["max_megabytes"] * 1024 * 1024 == defaults.file_max_bytes
        assert rotation["max_backups"] == defaults.file_backups
        assert rotation["max_days"] * 86400 == defaults.file_max_age_s
    assert len(directories) == 1, "one data dir holds all three files, like the package's"


def test_agent_ships_an_apps_file_set_per_signal_with_checkpoints() -> None:
    agent = load("agent.yaml")
    for signal, pipeline in agent["service"]["pipelines"].items():
        [receiver] = [r for r in pipeline["receivers"] if component_type(r) == "otlp_json_file"]
        settings = agent["receivers"][receiver]
        assert all(Path(pattern).name.startswith(signal) for pattern in settings["include"])
        assert settings["storage"] in agent["service"]["extensions"]


def test_jaeger_export_survives_outages_through_a_persistent_queue() -> None:
    for config in (load("agent.yaml"), load("gateway.yaml")):
        jaeger = config["exporters"]["otlp_grpc/jaeger"]
        assert jaeger["endpoint"] == "jaeger:4317"
        assert jaeger["retry_on_failure"]["enabled"] is True
        queue = jaeger["sending_queue"]
        assert queue["enabled"] is True
        assert queue["storage"] in config["service"]["extensions"]
        assert component_type(queue["storage"]) == "file_storage"


def test_secrets_are_scrubbed_before_anything_is_exported() -> None:
    agent = load("agent.yaml")
    for signal in ("traces", "logs"):
        processors = agent["service"]["pipelines"][signal]["processors"]
        assert {"redaction", "transform/scrub"} <= set(processors), signal
    statements = " ".join(agent["processors"]["transform/scrub"]["log_statements"])
    assert "log.body" in statements
    patterns = [re.compile(p) for p in agent["processors"]["redaction"]["blocked_values"]]
    for secret in (
        "password=hunter2",
        "postgresql://blog:s3cret@db:5432/blog",
        "sk-abcdefghijklmnopqrstuvwxyz",
    ):
        assert any(pattern.search(secret) for pattern in patterns), secret


def test_scaleout_agents_route_traces_by_trace_id_to_the_gateways() -> None:
    config = merged("agent.yaml", "agent-scaleout.yaml")
    balancing = config["exporters"]["load_balancing"]
    assert balancing["routing_key"] == "traceID"
    assert balancing["resolver"]["dns"]["port"] == 4317
    assert balancing["protocol"]["otlp"]["sending_queue"]["storage"] == "file_storage"
    traces = config["service"]["pipelines"]["traces"]["exporters"]
    assert "load_balancing" in traces and "file/traces" in traces  # local files stay complete


def test_gateway_keeps_every_error_and_slow_stage_and_samples_the_rest() -> None:
    policies = load("gateway.yaml")["processors"]["tail_sampling"]["policies"]
    by_type = {policy["type"]: policy for policy in policies}
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    conditions = [
        condition
        for policy in policies
        if policy["type"] == "ottl_condition"
        for condition in policy["ottl_condition"]["span"]
    ]
    assert any('"^stage "' in condition for condition in conditions)
    assert 0 < by_type["probabilistic"]["probabilistic"]["sampling_percentage"] < 100


def test_compose_wires_the_app_collector_jaeger_and_prometheus() -> None:
    compose = load("docker-compose.yaml")
    services = compose["services"]
    agent = load("agent.yaml")
    prometheus = load("prometheus/prometheus.yml")

    protocols = agent["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    published = {str(port).split(":")[0] for port in services["otelcol"]["ports"]}
    assert {"4317", "4318", "13133", "8889"} <= published
    assert agent["extensions"]["health_check"]["endpoint"].endswith(":13133")

    app = services["blog"]["environment"]
    assert app["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otelcol:4317"
    assert app["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert {"DATABASE_URL", "REDIS_URL"} <= set(app)
    assert app["DATABASE_URL"].split("@")[1].startswith("postgres:")
    assert app["REDIS_URL"].startswith("redis://redis:")
    assert (CONFIG_DIR / services["blog"]["build"]["dockerfile"].split("/")[-1]).is_file()

    assert "jaeger" in services and "16686:16686" in services["jaeger"]["ports"]
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2")

    mounts = {
        volume.split(":")[1]: volume.split(":")[0] for volume in services["otelcol"]["volumes"]
    }
    assert mounts["/etc/otelcol/agent.yaml"] == "./agent.yaml"
    assert services["otelcol"]["command"] == ["--config=/etc/otelcol/agent.yaml"]
    file_dir = str(Path(agent["exporters"]["file/traces"]["path"]).parent)
    assert mounts[file_dir] == f"../{Settings().data_dir}"  # the package's default data dir
    assert mounts[agent["extensions"]["file_storage"]["directory"]]
    shipped = Path(agent["receivers"]["otlp_json_file/traces"]["include"][0]).parent
    assert str(shipped) in mounts

    [scrape] = prometheus["scrape_configs"]
    assert scrape["static_configs"][0]["targets"] == [
        "otelcol:" + agent["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    ]
    assert prometheus["rule_files"] == ["alerts.yml"]
    assert (CONFIG_DIR / "prometheus" / "alerts.yml").is_file()


def test_the_readme_says_how_to_validate_with_otelcol_contrib() -> None:
    readme = (CONFIG_DIR / "README.md").read_text()
    for name in ("agent.yaml", "gateway.yaml"):
        assert f"otelcol-contrib validate --config {name}" in readme
