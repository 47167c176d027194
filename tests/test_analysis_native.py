"""The native scanner gives, for every line it accepts, exactly the rows the Python
readers give, declines every line it is not sure of (which the Python readers then
read or count as corrupt), and keeps rows in file order."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from benchmarks.synthetic import write_file_set
from telemetry.analysis import native, reader
from telemetry.analysis.columns import Flattened
from tests.test_analysis_flatten import REQUESTS, _a, _log, _logs_line, _span, _spans_line

pytestmark = pytest.mark.skipif(
    not native.ENABLED, reason="the native scanner is switched off (TELEMETRY_NATIVE_READER=0)"
)


def _read(block: bytes, *, use_native: bool) -> Flattened:
    saved = native.ENABLED
    native.ENABLED = use_native
    try:
        out = Flattened()
        reader.read_block(block, out)
        return out
    finally:
        native.ENABLED = saved


def _as_json(value: str | None) -> object:
    return None if value is None else json.loads(value)


def _assert_same_rows(block: bytes) -> Flattened:
    """Read ``block`` both ways: the same counts and the same rows, column by column
    (attribute lists and events compared as JSON: the scanner keeps them as written)."""
    fast, slow = _read(block, use_native=True), _read(block, use_native=False)
    counts = (fast.lines, fast.corrupt, fast.bytes_read)
    assert counts == (slow.lines, slow.corrupt, slow.bytes_read)
    fast_tables, slow_tables = fast.tables(), slow.tables()
    assert fast_tables.keys() == slow_tables.keys()
    for signal, table in fast_tables.items():
        other = slow_tables[signal]
        assert table.schema == other.schema, signal
        for name in table.column_names:
            got, want = table[name].to_pylist(), other[name].to_pylist()
            if name in ("attributes", "events"):
                got, want = [_as_json(v) for v in got], [_as_json(v) for v in want]
            assert got == want, (signal, name)
    return fast


def _scanned(line: bytes) -> int:
    """How many lines the scanner itself accepts (not the Python readers after it)."""
    _, lines, _ = native.Scanner().scan(line, 0)
    return lines


def test_the_scanner_is_built() -> None:
    # CI builds it (`make` installs the package with its extension); without a C
    # compiler the package still works, on its Python readers only.
    assert native._scan is not None, "telemetry.analysis._scan is not built: run `make`"


@pytest.mark.parametrize("pretty", [False, True])
def test_the_scanner_reads_what_the_python_readers_read(pretty: bool) -> None:
    dump = (lambda r: json.dumps(r, indent=1).encode()) if pretty else orjson.dumps
    lines = [dump(r).replace(b"\n", b" ") + b"\n" for r in REQUESTS]
    block = b"".join([*lines, b"\n", b'{"resourceSpans": [\n', b"\xff\xfe garbage\n"])
    out = _assert_same_rows(block)
    assert (out.lines, out.corrupt) == (len(lines) + 2, 7)


def test_a_file_set_reads_the_same_both_ways(tmp_path: Path) -> None:
    write_file_set(tmp_path, 3000, 3000)
    for name in ("traces.jsonl", "logs.jsonl"):
        block = (tmp_path / name).read_bytes()
        assert _scanned(block) == block.count(b"\n"), f"the scanner declined a line of {name}"
        _assert_same_rows(block)


def test_escapes_and_unicode_are_decoded_as_json_defines_them() -> None:
    name = 'caf\u00e9 \u2603 \U0001f600 "quoted" back\\slash\ttab\nnewline /slash'
    ascii_line = json.dumps(_spans_line(_span(name=name)), ensure_ascii=True).encode()
    utf8_line = json.dumps(_spans_line(_span(name=name)), ensure_ascii=False).encode()
    escaped_slash = ascii_line.replace(b"/slash", b"\\/slash")
    for line in (ascii_line, utf8_line, escaped_slash):
        assert _scanned(line + b"\n") == 1
        spans = _assert_same_rows(line + b"\n").tables()["spans"]
        assert spans["name"].to_pylist() == [name]


@pytest.mark.parametrize(
    "text",
    [
        b'"\\ud800"',  # a lone high surrogate
        b'"\\udc00"',  # a lone low surrogate
        b'"\\ud800\\u0041"',  # a high surrogate without its low one
        b'"\xed\xa0\x80"',  # a surrogate as UTF-8
        b'"\xc0\xaf"',  # an overlong sequence
        b'"\xf4\x90\x80\x80"',  # beyond U+10FFFF
        b'"\xe2\x82"',  # cut short
        b'"tab\tinside"',  # a raw control character
        b'"\\x41"',  # not a JSON escape
        b"1e400",  # infinite as a double: orjson rejects it
        b"01",
        b"[1,]",
        b"NaN",
    ],
)
def test_what_orjson_rejects_is_declined_and_counted_corrupt(text: bytes) -> None:
    line = orjson.dumps(_spans_line(_span(name="__X__"))).replace(b'"__X__"', text) + b"\n"
    assert _scanned(line) == 0
    out = _assert_same_rows(line)
    assert (out.lines, out.corrupt) == (1, 1)


@pytest.mark.parametrize(
    "span",
    [
        _span(kind="SPAN_KIND_CLIENT"),  # protojson may write enums by name
        _span(startTimeUnixNano=1796233904034360199),  # 64-bit as a JSON number
        _span(attributes=[_a("gen_ai.usage.input_tokens", "12.0")]),  # not a plain integer
        _span(attributes=[_a("gen_ai.usage.input_tokens", "+12")]),
        _span(attributes=[{"value": {"stringValue": "v"}}]),  # no key
        _span(attributes=[_a("post_id", intValue=7)]),  # an int64 as a JSON number
        _span(status=None),
    ],
)
def test_lines_of_another_shape_are_left_to_the_python_readers(span: dict[str, object]) -> None:
    line = orjson.dumps(_spans_line(span)) + b"\n"
    assert _scanned(line) == 0
    _assert_same_rows(line)


def test_keys_in_any_order_and_unknown_fields_are_read() -> None:
    attribute = {"value": {"stringValue": "post-9"}, "key": "post_id", "extra": [1, {"a": None}]}
    span = _span(attributes=[attribute], droppedAttributesCount=0, links=[{"traceId": "x"}])
    reordered = dict(reversed(list(span.items())))
    line = orjson.dumps(_spans_line(reordered)) + b"\n"
    assert _scanned(line) == 1
    spans = _assert_same_rows(line).tables()["spans"]
    assert spans["p_post_id"].to_pylist() == ["post-9"]


def test_rows_keep_their_file_order_around_declined_lines() -> None:
    lines = [
        orjson.dumps(_spans_line(_span(name="s0"), _span(name="s1"))),
        orjson.dumps(_spans_line(_span(name="s2", kind="SPAN_KIND_CLIENT"))),  # declined
        orjson.dumps(_logs_line(_log(body={"stringValue": "l0"}))),
        orjson.dumps(_spans_line(_span(name="s3"))),
        b"not json at all",
        orjson.dumps(_spans_line(_span(name="s4"))),
    ]
    block = b"\r\n".join(lines)  # CRLF endings, and no newline after the last line
    out = _assert_same_rows(block)
    tables = out.tables()
    assert tables["spans"]["name"].to_pylist() == ["s0", "s1", "s2", "s3", "s4"]
    assert tables["logs"]["body"].to_pylist() == ["l0"]
    assert (out.lines, out.corrupt) == (6, 1)


def test_a_huge_value_is_read_whole() -> None:
    prompt = "x" * (8 << 20)
    line = orjson.dumps(_spans_line(_span(attributes=[_a("post_id", prompt)]))) + b"\n"
    assert _scanned(line) == 1
    spans = _read(line, use_native=True).tables()["spans"]
    assert spans["p_post_id"].to_pylist() == [prompt]


def test_mutated_lines_read_the_same_both_ways() -> None:
    """Random damage to valid lines: whatever the scanner accepts, it reads exactly as
    the Python readers do, and what it declines they read or count as corrupt."""
    rng = random.Random(20261204)
    seeds = [
        orjson.dumps(_spans_line(_span(), _span(name="caf\\u00e9", parentSpanId="ef" * 8))),
        json.dumps(_logs_line(_log(), _log(traceId="")), ensure_ascii=True).encode(),
    ]
    alphabet = b'{}[]",:\\u0 1e-.tfn\xc3\xa9\xff\t'
    accepted = 0
    for _ in range(1500):
        line = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(line))
            action = rng.random()
            if action < 0.4:
                line[at] = rng.choice(alphabet)
            elif action < 0.7:
                del line[at : at + rng.randint(1, 8)]
            else:
                line[at:at] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        block = bytes(line).replace(b"\n", b" ") + b"\n"
        accepted += _scanned(block)
        _assert_same_rows(block)
    assert accepted > 100  # some damage leaves valid lines of the usual shape


def test_threads_scan_at_once_with_scanners_of_their_own() -> None:
    lines = [orjson.dumps(_spans_line(*(_span(name=f"t{i}") for i in range(50)))) + b"\n"] * 200
    block = b"".join(lines)
    results: list[pa.Table] = []

    def read() -> None:
        results.append(_read(block, use_native=True).tables()["spans"])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all(table.equals(results[0]) for table in results)
    assert results[0].num_rows == 50 * 200
