"""The attributes promoted to columns of the flat tables, shared by reader and store.

Every report filters or groups by these, so they are pulled out of the attribute
lists once, while flattening, and stored as plain columns; all other attributes
stay in the ``attributes`` JSON column for the post and trace views. Each promoted
value costs the reader about a thousand instructions, so only what a report or
view reads is promoted (``db.system.name`` and ``exception.stacktrace`` are not).
"""

from __future__ import annotations

# The raw columns the reader writes, per signal (``p_<column>`` for each promoted one).
SPAN_FIELDS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start", "end",
    "status_code", "status_message", "service_name", "scope_name", "attributes", "events",
)  # fmt: skip
LOG_FIELDS: tuple[str, ...] = (
    "time", "observed_time", "severity_number", "severity_text", "body", "trace_id",
    "span_id", "service_name", "scope_name", "attributes",
)  # fmt: skip
METRIC_FIELDS: tuple[str, ...] = (
    "name", "unit", "type", "time", "value", "count", "sum", "max", "service_name",
    "attributes",
)  # fmt: skip
# Their types: integers, 64-bit integers that OTLP/JSON writes as text (timestamps,
# and the promoted integer attributes, parsed once by the reader), floats; text else.
INT_COLUMNS = frozenset({"kind", "status_code", "severity_number", "count"})
TEXT_INT_COLUMNS = frozenset(
    {"start", "end", "time", "observed_time", "p_input_tokens", "p_output_tokens",
     "p_prompt_chars", "p_error_count", "p_error_first_ns"}
)  # fmt: skip
FLOAT_COLUMNS = frozenset({"value", "sum", "max"})

# column -> attribute key
SPAN_PROMOTED: dict[str, str] = {
    "post_id": "post_id",
    "stage_id": "stage_id",
    "db_query": "db.query.text",
    "gen_ai_operation": "gen_ai.operation.name",
    "gen_ai_model": "gen_ai.request.model",
    "llm_action": "blog.llm.action",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "prompt_chars": "blog.llm.prompt_chars",
    "error_type": "error.type",
    "stage_outcome": "blog.stage.outcome",
}
LOG_PROMOTED: dict[str, str] = {
    "post_id": "post_id",
    "stage_id": "stage_id",
    "error_type": "error.type",
    "exception_type": "exception.type",
    "exception_message": "exception.message",
    "fingerprint": "blog.error.fingerprint",
    "error_count": "blog.error.count",
    "error_first_ns": "blog.error.first_seen_ns",
    "error_post_ids": "blog.error.post_ids",  # an OTLP arrayValue, kept as its JSON
    "error_stage_ids": "blog.error.stage_ids",
}
