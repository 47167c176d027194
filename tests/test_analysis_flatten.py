"""The reader's fast path (typed msgspec decoding) and its dict walk give the same rows,
and a line the fast path declines is read, or counted corrupt, by the dict walk."""

from __future__ import annotations

import json

import orjson
import pytest

from telemetry.analysis import flatten, typed
from telemetry.analysis.columns import Flattened


def _span(**extra: object) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": "ab" * 16, "spanId": "cd" * 8, "parentSpanId": "", "name": "SELECT",
        "kind": 3, "startTimeUnixNano": "1796233904034360199",
        "endTimeUnixNano": "1796233904037856842",
        "attributes": [
            {"key": "post_id", "value": {"stringValue": "post-1"}},
            {"key": "db.query.text", "value": {"stringValue": "SELECT 1"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "812"}},
            {"key": "other", "value": {"boolValue": True}},
        ],
        "status": {"code": 2, "message": "boom"},
        "events": [{"name": "exception", "timeUnixNano": "1"}],
    }  # fmt: skip
    span.update(extra)
    return span


def _spans_line(*spans: dict[str, object], resource: object = None) -> dict[str, object]:
    resource = resource or {"attributes": [{"key": "service.name", "value": {"stringValue": "b"}}]}
    scope = {"scope": {"name": "t"}, "spans": list(spans)}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}


def _log(**extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "timeUnixNano": "1796233904034360199", "observedTimeUnixNano": "1796233904034361199",
        "severityNumber": 17, "severityText": "error", "body": {"stringValue": "failed"},
        "traceId": "ab" * 16, "spanId": "cd" * 8,
        "attributes": [
            {"key": "error.type", "value": {"stringValue": "ValueError"}},
            {"key": "blog.error.count", "value": {"intValue": "3"}},
            {"key": "blog.error.post_ids",
             "value": {"arrayValue": {"values": [{"stringValue": "p1"}]}}},
        ],
    }  # fmt: skip
    record.update(extra)
    return record


def _a(key: str, stringValue: object = None, **value: object) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": stringValue} if stringValue else value}


def _logs_line(*records: dict[str, object]) -> dict[str, object]:
    scope = {"scope": {"name": "t"}, "logRecords": list(records)}
    return {"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [scope]}]}


REQUESTS = [
    _spans_line(_span(), _span(status={}, events=[], attributes=[])),
    _spans_line(_span(startTimeUnixNano=1796233904034360199, endTimeUnixNano=None)),
    _spans_line(_span(name="caf\u00e9 \u2603"), _span(status=None, events=None)),
    _spans_line(_span(attributes=[{"key": "post_id", "value": {"doubleValue": 1.0}}])),
    _spans_line(_span(attributes=[{"key": "post_id", "value": {}}])),
    # an attribute given twice: the later value counts
    _spans_line(
        _span(attributes=[_a("post_id", "first"), _a("post_id", "second")]),
        _span(
            attributes=[
                _a("gen_ai.usage.input_tokens", intValue="7"),
                _a("blog.llm.action", boolValue=False),
            ]
        ),
    ),
    _spans_line(_span(), resource={"attributes": [{"key": "service.name", "value": {}}]}),
    _spans_line(_span(attributes={})),  # the wrong shape, but empty
    _spans_line(_span(attributes=[{"key": "post_id"}])),  # corrupt
    _spans_line(_span(attributes=[{"key": "post_id", "value": "x"}])),  # corrupt
    {"resourceSpans": None, "resourceLogs": _logs_line(_log())["resourceLogs"]},  # corrupt
    _logs_line(_log(), _log(body={"intValue": "5"}), _log(body={}, traceId="", attributes=[])),
    _logs_line(_log(attributes=None)),
    _logs_line(_log(body="just text")),  # corrupt
    _logs_line(_log(timeUnixNano=5, severityText=None)),
    {"resourceMetrics": []},
    {"other": 1},  # corrupt
]


def _lines(pretty: bool) -> list[bytes]:
    if pretty:
        return [json.dumps(r, ensure_ascii=True).encode() + b"\n" for r in REQUESTS]
    return [orjson.dumps(r) + b"\n" for r in REQUESTS]


@pytest.mark.parametrize("pretty", [False, True])
def test_the_fast_path_reads_what_the_dict_walk_reads(
    monkeypatch: pytest.MonkeyPatch, pretty: bool
) -> None:
    lines = [*_lines(pretty), b'{"resourceSpans": [', b"\xff\xfe garbage\n"]
    assert sum(typed.read(Flattened(), line) for line in lines) == 6
    fast = flatten.flatten_lines(lines)
    monkeypatch.setattr(typed, "read", lambda out, line: False)
    slow = flatten.flatten_lines(lines)
    assert (fast.lines, fast.corrupt) == (slow.lines, slow.corrupt) == (len(lines), 7)
    fast_tables, slow_tables = fast.tables(), slow.tables()
    assert fast_tables.keys() == slow_tables.keys() == {"spans", "logs"}
    for signal, table in fast_tables.items():
        other = slow_tables[signal]
        for name in table.column_names:
            if name in ("attributes", "events") and pretty:
                # kept as written: the same JSON, maybe not the same spacing
                got = [None if v is None else json.loads(v) for v in table[name].to_pylist()]
                want = [None if v is None else json.loads(v) for v in other[name].to_pylist()]
                assert got == want, (signal, name)
            else:
                assert table[name].to_pylist() == other[name].to_pylist(), (signal, name)


def test_the_later_of_a_repeated_attribute_counts_and_an_empty_parent_is_none() -> None:
    spans = flatten.flatten_lines([orjson.dumps(REQUESTS[5]) + b"\n"]).tables()["spans"]
    assert spans["p_post_id"].to_pylist() == ["second", None]
    assert spans["p_input_tokens"].to_pylist() == [None, 7]
    assert spans["p_llm_action"].to_pylist() == [None, "False"]
    assert spans["parent_span_id"].to_pylist() == [None, None]


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (b'{"a":"plain \\"quoted\\" text"}', True),
        (b'{"a":"a backslash before u: \\\\u"}', True),
        (b'{"a":"caf\\u00e9"}', False),
        ('{"a":"caf\u00e9"}'.encode(), False),
    ],
)
def test_only_ascii_without_unicode_escapes_is_offered_to_the_fast_path(
    text: bytes, clean: bool
) -> None:
    assert typed.clean(text) is clean
