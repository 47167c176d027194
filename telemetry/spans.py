"""What happens to a finished span before any exporter sees it.

Runs in the export threads (never on the application's path): values that look
like secrets are scrubbed from attributes and event attributes (an exception
message quoting a PostgreSQL ``DETAIL`` line included), inline SQL literals are
replaced by ``?``, and psycopg spans get ``db.operation.name``,
``db.collection.name``, ``server.address``/``server.port`` (for the contrib's
older ``net.peer.*``) and a ``{operation} {collection}`` name, so a trace reads
``SELECT posts`` rather than ``SELECT``. A span that needs none of this is
passed through as is; the others are copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from telemetry.db import PSYCOPG_SCOPE, describe_query, sanitize_query
from telemetry.scrub import scrub_mapping, scrub_text


class RewritingSpanExporter(SpanExporter):
    """Wraps an exporter; hands it scrubbed, enriched copies of the spans that need it."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([rewrite(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def rewrite(span: ReadableSpan) -> ReadableSpan:
    """``span`` itself, or a copy with secrets out and database names in."""
    name = span.name
    attributes: Mapping[str, Any] = span.attributes or {}
    changed = False
    scrubbed = scrub_mapping(attributes) if attributes else None
    if scrubbed is not None:
        attributes, changed = scrubbed, True
    query = attributes.get("db.query.text")
    sanitized = sanitize_query(query) if isinstance(query, str) else query
    if sanitized != query:
        attributes, changed = {**attributes, "db.query.text": sanitized}, True
    scope = span.instrumentation_scope
    if scope is not None and scope.name == PSYCOPG_SCOPE and isinstance(query, str):
        db_name, db_attributes = _database_names(query, attributes)
        name = db_name or name
        renamed = _stable_network_names(attributes)
        if db_attributes or renamed is not None:
            attributes, changed = {**(renamed or attributes), **db_attributes}, True
        changed = changed or name != span.name
    events = _scrubbed_events(span.events)
    if events is not None:
        changed = True
    status = span.status
    description = scrub_text(status.description) if status.description else status.description
    if description != status.description:
        status, changed = Status(status.status_code, description), True
    if not changed:
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events if events is not None else span.events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _database_names(query: str, attributes: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The span name ``{operation} {collection}`` and the attributes naming both."""
    added: dict[str, Any] = {}
    operation, collection = describe_query(query)
    if operation and "db.operation.name" not in attributes:
        added["db.operation.name"] = operation
    if collection and "db.collection.name" not in attributes:
        added["db.collection.name"] = collection
    name = f"{operation} {collection}" if collection else operation
    return name, added


# The contrib still reports the server with the pre-1.26 network attribute names.
_OLD_NETWORK_NAMES = {"net.peer.name": "server.address", "net.peer.port": "server.port"}


def _stable_network_names(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    if not any(old in attributes for old in _OLD_NETWORK_NAMES):
        return None
    return {_OLD_NETWORK_NAMES.get(key, key): value for key, value in attributes.items()}


def _scrubbed_events(events: Sequence[Event]) -> list[Event] | None:
    if not events:
        return None
    result: list[Event] = []
    changed = False
    for event in events:
        attributes = scrub_mapping(event.attributes) if event.attributes else None
        if attributes is None:
            result.append(event)
            continue
        changed = True
        result.append(Event(event.name, attributes, event.timestamp))
    return result if changed else None
