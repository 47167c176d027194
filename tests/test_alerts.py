"""The Prometheus alerting rules in collector-config/prometheus, checked by promtool.

``promtool check rules`` and ``promtool test rules`` run for real (promtool comes
from Debian's ``prometheus`` package; the set-up installs it where missing).
The rules must only use metric names the package emits: the instruments are
read from the package source and translated the way the collector's
Prometheus exporter names them.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "collector-config" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"

# instrument factory -> Prometheus metric type (resources.py aliases two of them)
_INSTRUMENT_KINDS = {
    "create_counter": "counter",
    "create_observable_counter": "counter",
    "create_histogram": "histogram",
    "create_up_down_counter": "gauge",
    "create_observable_up_down_counter": "gauge",
    "updown": "gauge",
    "create_gauge": "gauge",
    "create_observable_gauge": "gauge",
    "gauge": "gauge",
}
_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "%": "percent"}
_PROMQL_KEYWORDS = {
    "by", "without", "and", "or", "unless", "offset", "on", "ignoring", "group_left",
    "group_right", "bool", "le", "inf", "nan",
}  # fmt: skip


@pytest.fixture(scope="module")
def promtool() -> str:
    """Path of promtool, installing Debian's prometheus package if it is missing."""
    found = shutil.which("promtool")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "install-system-deps.sh")], check=True)
        found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing and scripts/install-system-deps.sh did not install it")
    return found


def alert_rules() -> list[dict[str, object]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", str(ALERTS_TEST)],
        capture_output=True,
        text=True,
        cwd=PROMETHEUS_DIR,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_has_a_case_that_fires_and_one_that_stays_quiet() -> None:
    cases = [
        case
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    names = [str(rule["alert"]) for rule in alert_rules()]

    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}

    assert sorted(firing) == sorted(names)
    assert sorted(quiet) == sorted(names)


def test_every_rule_waits_and_says_how_bad_it_is() -> None:
    for rule in alert_rules():
        assert re.fullmatch(r"\d+[mh]", str(rule.get("for", ""))), rule["alert"]
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] in {"warning", "critical"}, rule["alert"]
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"] and annotations["description"], rule["alert"]


def test_rules_use_only_metrics_the_package_emits() -> None:
    emitted = package_metric_names()
    used = {
        name
        for rule in alert_rules()
        for name in re.findall(r"\b[a-z_][a-z0-9_]*\b(?=\s*[{\[])", str(rule["expr"]))
        if name not in _PROMQL_KEYWORDS
    }

    assert used, "no metric names found in the rules"
    assert used <= emitted, f"not emitted by the package: {sorted(used - emitted)}"


def package_metric_names() -> set[str]:
    """Prometheus series names of every instrument declared in telemetry/."""
    names: set[str] = set()
    for path in (ROOT / "telemetry").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            declared = _instrument(node)
            if declared:
                names.update(prometheus_names(*declared))
    return names


def _instrument(node: ast.AST) -> tuple[str, str, str] | None:
    """(name, unit, kind) if ``node`` creates an instrument with a literal name and unit."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    factory = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    kind = _INSTRUMENT_KINDS.get(factory)
    first = node.args[0]
    units = [k.value for k in node.keywords if k.arg == "unit"]
    if kind is None or not isinstance(first, ast.Constant) or not isinstance(first.value, str):
        return None
    unit = units[0].value if units and isinstance(units[0], ast.Constant) else ""
    return first.value, str(unit), kind


def prometheus_names(name: str, unit: str, kind: str) -> set[str]:
    """The OTel -> Prometheus translation the collector's exporter applies."""
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    unit_word = "" if unit.startswith("{") else _UNIT_WORDS.get(unit, unit)
    if unit == "1":
        unit_word = "ratio" if kind == "gauge" else ""
    if unit_word and not base.endswith(f"_{unit_word}"):
        base = f"{base}_{unit_word}"
    if kind == "counter":
        return {f"{base}_total"}
    if kind == "histogram":
        return {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return {base}


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("db.client.operation.duration", "s", "histogram",
         "db_client_operation_duration_seconds_bucket"),
        ("blog.errors", "{error}", "counter", "blog_errors_total"),
        ("blog.health.status", "1", "gauge", "blog_health_status_ratio"),
        ("process.memory.usage", "By", "gauge", "process_memory_usage_bytes"),
        ("blog.workflow.pending_tasks", "{task}", "gauge", "blog_workflow_pending_tasks"),
    ],
)  # fmt: skip
def test_translation_follows_the_otel_prometheus_rules(
    name: str, unit: str, kind: str, expected: str
) -> None:
    assert expected in prometheus_names(name, unit, kind)
