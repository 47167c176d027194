"""blog-telemetry: one call at start-up instruments the blog.

import telemetry

telemetry.setup()                      # files under ./telemetry-data, OTLP if configured
log = telemetry.get_logger(__name__)

with telemetry.stage(post_id="p1", stage_id="draft"):
    with telemetry.llm_call(action="draft", model="gpt-4o", prompt=prompt) as call:
        call.record(input_tokens=812, output_tokens=455)
    log.info("draft.saved", words=900)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.config import ConfigError, Settings, load_settings
    from telemetry.context import Thread, bind, current_context, extract, inject, wrap
    from telemetry.errors import record_error, register_state_provider
    from telemetry.export.files import DataDirError
    from telemetry.llm import llm_call
    from telemetry.logs import get_logger
    from telemetry.pipeline import Telemetry, active, setup
    from telemetry.resources import add_gauge, instrument_pool, record_cache
    from telemetry.stages import stage, workflow

# Public name -> the module that defines it. Imported on first use (PEP 562), so
# ``import telemetry`` stays cheap for the CLI, which needs none of the SDK.
_EXPORTS = {
    "ConfigError": "telemetry.config",
    "DataDirError": "telemetry.export.files",
    "Settings": "telemetry.config",
    "Telemetry": "telemetry.pipeline",
    "Thread": "telemetry.context",
    "active": "telemetry.pipeline",
    "add_gauge": "telemetry.resources",
    "bind": "telemetry.context",
    "current_context": "telemetry.context",
    "extract": "telemetry.context",
    "get_logger": "telemetry.logs",
    "inject": "telemetry.context",
    "instrument_pool": "telemetry.resources",
    "llm_call": "telemetry.llm",
    "load_settings": "telemetry.config",
    "record_cache": "telemetry.resources",
    "record_error": "telemetry.errors",
    "register_state_provider": "telemetry.errors",
    "setup": "telemetry.pipeline",
    "stage": "telemetry.stages",
    "workflow": "telemetry.stages",
    "wrap": "telemetry.context",
}

__all__ = [
    "ConfigError",
    "DataDirError",
    "Settings",
    "Telemetry",
    "Thread",
    "active",
    "add_gauge",
    "bind",
    "current_context",
    "extract",
    "get_logger",
    "inject",
    "instrument_pool",
    "llm_call",
    "load_settings",
    "record_cache",
    "record_error",
    "register_state_provider",
    "setup",
    "stage",
    "workflow",
    "wrap",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
