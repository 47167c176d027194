"""blog-telemetry: one call at start-up instruments the blog.

import telemetry

telemetry.setup()                      # files under ./telemetry-data, OTLP if configured
log = telemetry.get_logger(__name__)

with telemetry.stage(post_id="p1", stage_id="draft"):
    with telemetry.llm_call(action="draft", model="gpt-4o", prompt=prompt) as call:
        call.record(input_tokens=812, output_tokens=455)
    log.info("draft.saved", words=900)
"""

from telemetry.config import ConfigError, Settings, load_settings
from telemetry.context import Thread, bind, current_context, extract, inject, wrap
from telemetry.errors import record_error, register_state_provider
from telemetry.export.files import DataDirError
from telemetry.llm import llm_call
from telemetry.logs import get_logger
from telemetry.pipeline import Telemetry, active, setup
from telemetry.resources import add_gauge, instrument_pool, record_cache
from telemetry.workflow import stage, workflow

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
