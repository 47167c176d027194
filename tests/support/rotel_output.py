"""Parse what the rotel collector printed about the telemetry it received.

``rotel-agent --debug-log traces|logs|metrics --debug-log-verbosity detailed``
prints every item it accepted in the OpenTelemetry Collector's ``debug``
exporter layout: one block per resource (``ResourceSpans #0``, ``ResourceLog
#0``, ``ResourceMetrics #0``), then scopes, then items with indented fields and
``-> key: Type(value)`` attributes. String values are printed raw, so a value
with a newline continues on the following lines; a line that is not a known
field is therefore the continuation of the last value.

Only what the tests look at is kept: ids, names, kinds, status, severities,
bodies, attributes (typed), resource attributes, metric names, types and
data point values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Attributes = dict[str, Any]


@dataclass
class ReceivedEvent:
    name: str = ""
    attributes: Attributes = field(default_factory=dict)


@dataclass
class ReceivedSpan:
    name: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    kind: str = ""
    """As rotel prints it: ``SPAN_KIND_INTERNAL``, ``SPAN_KIND_CLIENT``, ..."""
    status_code: str = ""
    """``STATUS_CODE_UNSET``, ``STATUS_CODE_OK`` or ``STATUS_CODE_ERROR``."""
    status_message: str = ""
    attributes: Attributes = field(default_factory=dict)
    events: list[ReceivedEvent] = field(default_factory=list)
    resource: Attributes = field(default_factory=dict)
    scope: str = ""


@dataclass
class ReceivedLogRecord:
    body: Any = None
    """The body's value: a ``str`` for string bodies, ``None`` when empty."""
    severity_number: int = 0
    severity_text: str = ""
    trace_id: str = ""
    span_id: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: str = ""


@dataclass
class ReceivedMetric:
    """A metric's descriptor, printed even when rotel could not decode its data points."""

    name: str = ""
    type: str = ""
    """rotel's DataType; ``Empty`` when it received the metric without usable data."""
    unit: str = ""
    resource: Attributes = field(default_factory=dict)
    scope: str = ""


@dataclass
class ReceivedMetricPoint:
    name: str = ""
    type: str = ""
    """rotel's DataType: ``Sum``, ``Gauge``, ``Histogram``, ``ExponentialHistogram``, ..."""
    unit: str = ""
    attributes: Attributes = field(default_factory=dict)
    value: float | None = None
    """A Sum or Gauge point's value."""
    count: int | None = None
    """A histogram point's count."""
    sum: float | None = None
    resource: Attributes = field(default_factory=dict)
    scope: str = ""


@dataclass
class Received:
    """Everything rotel reported receiving, in arrival order."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    logs: list[ReceivedLogRecord] = field(default_factory=list)
    metrics: list[ReceivedMetricPoint] = field(default_factory=list)
    metric_descriptors: list[ReceivedMetric] = field(default_factory=list)

    def metric_names(self) -> set[str]:
        return {point.name for point in self.metrics}


# Fields printed as "    Name           : value" (spans, log records).
_PADDED_FIELD = re.compile(
    r"^    (Trace ID|Parent ID|ID|Span ID|Name|Kind|Status code|Status message)\s*: ?(.*)$"
)
# Fields printed as "Name: value" at column 0.
_PLAIN_FIELD = re.compile(
    r"^(SeverityText|SeverityNumber|Body|Value|Count|Sum|Min|Max|Flags|Timestamp|ObservedTimestamp"
    r"|StartTimestamp|Start time|End time|ExplicitBounds #\d+|Buckets #\d+, Count"
    r"|Scale|ZeroCount|Positive|Negative|Bucket \S+|Quantile.*?|EventName"
    r"|(?:Resource|Scope\w*|ScopeSpans|ScopeLogs|ScopeMetrics) SchemaURL): ?(.*)$"
)
_ARROW_FIELD = re.compile(r"^(\s+)-> ([^:]+?):{1,2} ?(.*)$")
_HEADER = re.compile(
    r"^(ResourceSpans|ResourceLog|ResourceMetrics|ScopeSpans|ScopeLogs|ScopeMetrics|Span|SpanEvent"
    r"|SpanLink|LogRecord|Metric|NumberDataPoints|HistogramDataPoints"
    r"|ExponentialHistogramDataPoints|SummaryDataPoints) #\d+$"
)
_SECTION = re.compile(
    r"^(Resource attributes|Attributes|Events|Links|Descriptor|Data point attributes):$"
)
_SCOPE = re.compile(r"^InstrumentationScope ?(\S*)")
_SEVERITY_NUMBER = re.compile(r"\((\d+)\)$")


def parse_value(text: str) -> Any:
    """Turn rotel's typed rendering (``Str(a)``, ``Int(3)``, ``Slice(...)``...) into Python."""
    value, _ = _parse_typed(text, 0, top_level=True)
    return value


def _parse_typed(text: str, pos: int, *, top_level: bool = False) -> tuple[Any, int]:
    if text.startswith("Empty", pos):
        return None, pos + len("Empty")
    open_paren = text.find("(", pos)
    if open_paren < 0:
        return text[pos:], len(text)
    kind = text[pos:open_paren]
    start = open_paren + 1
    if kind == "Str":
        if top_level:
            return text[start : text.rindex(")")], len(text)
        end = _closing_paren(text, start)
        return text[start:end], end + 1
    end = _closing_paren(text, start)
    inner = text[start:end]
    if kind == "Int":
        return int(inner), end + 1
    if kind == "Double":
        return float(inner), end + 1
    if kind == "Bool":
        return inner == "true", end + 1
    if kind == "Bytes":
        return bytes(int(b) for b in inner.strip("[]").split(",") if b.strip()), end + 1
    if kind == "Slice":
        return [_parse_typed(item, 0)[0] for item in _split_top_level(inner)], end + 1
    if kind == "Map":
        entries = {}
        for item in _split_top_level(inner):
            key, _, rendered = item.partition(":")
            entries[key] = _parse_typed(rendered, 0)[0]
        return entries, end + 1
    return inner, end + 1


def _closing_paren(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def _split_top_level(text: str) -> list[str]:
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    if "".join(current).strip():
        items.append("".join(current).strip())
    return items


class _Parser:
    """Line-by-line state machine over rotel's debug output."""

    def __init__(self) -> None:
        self.received = Received()
        self._resource: Attributes = {}
        self._scope = ""
        self._item: ReceivedSpan | ReceivedLogRecord | ReceivedMetricPoint | None = None
        self._metric = ReceivedMetric()
        self._event: ReceivedEvent | None = None
        self._section = ""
        # The value being read, which may continue on the next lines:
        # (object or attribute dict to set it on, field name or key, raw text, typed?).
        self._open: tuple[Any, str, str, bool] | None = None

    def feed(self, line: str) -> None:
        if self._is_structural(line):
            self._close_value()
            self._structural(line)
        elif self._open is not None:
            target, key, raw, typed = self._open
            self._open = (target, key, raw + "\n" + line, typed)

    def finish(self) -> Received:
        self._close_value()
        return self.received

    @staticmethod
    def _is_structural(line: str) -> bool:
        return bool(
            _HEADER.match(line)
            or _SECTION.match(line)
            or _PADDED_FIELD.match(line)
            or _PLAIN_FIELD.match(line)
            or _ARROW_FIELD.match(line)
            or _SCOPE.match(line)
            or line.startswith('{"v":')  # rotel's own log lines (--log-format json)
        )

    def _open_value(self, target: Any, key: str, raw: str, *, typed: bool) -> None:
        self._open = (target, key, raw, typed)

    def _close_value(self) -> None:
        if self._open is None:
            return
        target, key, raw, typed = self._open
        self._open = None
        value = parse_value(raw) if typed else raw
        if isinstance(target, dict):
            target[key] = value
        else:
            setattr(target, key, value)

    def _structural(self, line: str) -> None:
        if match := _HEADER.match(line):
            self._header(match.group(1))
        elif match := _SECTION.match(line):
            self._section = match.group(1)
        elif match := _SCOPE.match(line):
            self._scope = match.group(1)
        elif match := _PADDED_FIELD.match(line):
            self._padded(match.group(1), match.group(2))
        elif match := _ARROW_FIELD.match(line):
            self._arrow(len(match.group(1)), match.group(2), match.group(3))
        elif match := _PLAIN_FIELD.match(line):
            self._plain(match.group(1), match.group(2))

    def _header(self, kind: str) -> None:
        if kind not in ("SpanEvent", "SpanLink"):  # those sit inside "Events:" / "Links:"
            self._section = ""
        if kind.startswith("Resource"):
            self._resource = {}
            self._item = None
        elif kind == "Span":
            self._item = ReceivedSpan(resource=self._resource, scope=self._scope)
            self.received.spans.append(self._item)
        elif kind == "LogRecord":
            self._item = ReceivedLogRecord(resource=self._resource, scope=self._scope)
            self.received.logs.append(self._item)
        elif kind == "Metric":
            self._metric = ReceivedMetric(resource=self._resource, scope=self._scope)
            self.received.metric_descriptors.append(self._metric)
            self._item = None
        elif kind.endswith("DataPoints"):
            self._item = ReceivedMetricPoint(
                name=self._metric.name,
                type=self._metric.type,
                unit=self._metric.unit,
                resource=self._resource,
                scope=self._scope,
            )
            self.received.metrics.append(self._item)
        elif kind == "SpanEvent" and isinstance(self._item, ReceivedSpan):
            self._event = ReceivedEvent()
            self._item.events.append(self._event)
        elif kind == "SpanLink":
            self._event = None

    def _padded(self, name: str, value: str) -> None:
        item = self._item
        if isinstance(item, ReceivedSpan):
            attribute = {
                "Trace ID": "trace_id",
                "Parent ID": "parent_span_id",
                "ID": "span_id",
                "Name": "name",
                "Kind": "kind",
                "Status code": "status_code",
                "Status message": "status_message",
            }[name]
            self._open_value(item, attribute, value, typed=False)
        elif isinstance(item, ReceivedLogRecord) and name in ("Trace ID", "Span ID"):
            setattr(item, "trace_id" if name == "Trace ID" else "span_id", value)

    def _arrow(self, indent: int, key: str, value: str) -> None:
        if self._section == "Resource attributes":
            self._open_value(self._resource, key, value, typed=True)
        elif self._section == "Descriptor":
            if key == "Name":
                self._metric.name = value
            elif key == "DataType":
                self._metric.type = value
            elif key == "Unit":
                self._metric.unit = value
        elif self._section == "Events" and self._event is not None:
            if indent > 5:
                self._open_value(self._event.attributes, key, value, typed=True)
            elif key == "Name":
                self._event.name = value
        elif self._section in ("Attributes", "Data point attributes") and self._item is not None:
            self._open_value(self._item.attributes, key, value, typed=True)

    def _plain(self, name: str, value: str) -> None:
        item = self._item
        if isinstance(item, ReceivedLogRecord):
            if name == "Body":
                self._open_value(item, "body", value, typed=True)
            elif name == "SeverityText":
                item.severity_text = value
            elif name == "SeverityNumber" and (number := _SEVERITY_NUMBER.search(value)):
                item.severity_number = int(number.group(1))
        elif isinstance(item, ReceivedMetricPoint):
            if name == "Value":
                item.value = float(value)
            elif name == "Count":
                item.count = int(value)
            elif name == "Sum":
                item.sum = float(value)


def parse_rotel_output(text: str) -> Received:
    """Parse the whole of rotel's debug output into spans, log records and metric points."""
    parser = _Parser()
    # Split on newlines only: control characters inside values are data.
    for line in text.replace("\x00", "").split("\n"):
        parser.feed(line)
    return parser.finish()
