"""Zero-code start-up: ``opentelemetry-instrument python app.py``.

The ``opentelemetry-instrument`` launcher loads the distro and configurator
registered under the ``opentelemetry_distro`` / ``opentelemetry_configurator``
entry points. Ours make that launcher build this package's pipeline (files by
default, OTLP when configured, workflow stamping, psycopg) instead of the SDK's
generic one, so a blog started that way gets everything ``setup()`` gives.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from telemetry import _diagnostics


class BlogDistro(BaseDistro):
    """Lets the launcher's other instrumentors load; the pipeline comes from the configurator."""

    def _configure(self, **kwargs: Any) -> None:
        return None


class BlogConfigurator(_BaseConfigurator):
    """Runs ``telemetry.setup()`` from the environment when the launcher starts."""

    def _configure(self, **kwargs: Any) -> None:
        from telemetry.pipeline import setup

        try:
            setup()
        except Exception as exc:  # a bad configuration must not stop the app from starting
            _diagnostics.warn("autoinstrument", f"telemetry was not set up: {exc}")
