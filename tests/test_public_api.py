"""The public API is one import; its names load lazily, so the CLI stays fast."""

from __future__ import annotations

import subprocess
import sys

import telemetry


def test_every_public_name_resolves_and_is_listed_once() -> None:
    assert sorted(telemetry.__all__) == sorted(set(telemetry.__all__))
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
    assert set(telemetry.__all__) <= set(dir(telemetry))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        telemetry.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_or_the_cli_loads_no_sdk() -> None:
    code = (
        "import sys, telemetry, telemetry.cli; "
        "print(sorted(m for m in ('opentelemetry.sdk', 'structlog', 'psutil', 'duckdb') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_not_shadowed_by_submodules() -> None:
    import pkgutil

    for module in pkgutil.walk_packages(telemetry.__path__, "telemetry."):
        __import__(module.name)
    assert callable(telemetry.workflow) and callable(telemetry.stage)
    submodules = {module.name for module in pkgutil.iter_modules(telemetry.__path__)}
    assert not submodules & set(telemetry.__all__)
