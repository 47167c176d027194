"""Shared test set-up: every module in tests/fixtures/ is a pytest plugin.

Each real server the tests use (PostgreSQL, the rotel collector, Redis) has its
own fixture module there, started by the fixtures themselves.
"""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if not path.name.startswith("_")
)
