"""The reports' numbers against what the blog did, computed here from the mix itself.

The same mix is written as the package's own files (SDK + OTLP/JSON encoders) and
as a collector's rotated, partly compressed, all-signals-in-one-file output; both
must give exactly the expected figures.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from telemetry.analysis import reports, views
from telemetry.analysis.reports import Window
from telemetry.analysis.store import open_store
from tests.support.blog_mix import make_mix, write_collector_files, write_sdk_files

MIX = make_mix(posts=12)


def p95(values: list[float]) -> float:
    """Linear interpolation between closest ranks (numpy's default, R type 7)."""
    return statistics.quantiles(values, n=20, method="inclusive")[18]


@pytest.fixture(params=["sdk", "collector"])
def con(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if request.param == "sdk":
        write_sdk_files(MIX, tmp_path)
    else:
        write_collector_files(MIX, tmp_path)
    connection, stats = open_store(tmp_path)
    assert stats.corrupt == {}
    yield connection
    connection.close()


def _by(result: reports.Result, *keys: str) -> dict[tuple[object, ...], dict[str, object]]:
    return {tuple(r[k] for k in keys): r for r in result.records()}


def test_the_mix_has_what_the_reports_need() -> None:
    assert any(r.error for r in MIX.runs)
    assert any(e.count > 1 for e in MIX.errors)
    assert len({(r.post_id, r.stage_id) for r in MIX.runs}) < len(MIX.runs)  # retries


def test_queries_report_matches_the_queries_made(con: duckdb.DuckDBPyConnection) -> None:
    durations: dict[str, list[float]] = defaultdict(list)
    for run in MIX.runs:
        for call in run.calls:
            if call.kind == "db":
                durations[call.query or ""].append(call.duration_ns / 1e9)
    rows = _by(reports.queries(con, Window()), "query")
    assert set(rows) == {(q,) for q in durations}
    for query, values in durations.items():
        row = rows[(query,)]
        assert row["executions"] == len(values)
        assert row["avg"] == pytest.approx(statistics.fmean(values), rel=1e-9)
        assert row["p50"] == pytest.approx(statistics.median(values), rel=1e-9)
        assert row["p95"] == pytest.approx(p95(values), rel=1e-9)
        assert row["max"] == pytest.approx(max(values), rel=1e-9)
        assert row["total"] == pytest.approx(sum(values), rel=1e-9)
        assert row["errors"] == 0
    averages = [r["avg"] for r in reports.queries(con, Window()).records()]
    assert averages == sorted(averages, reverse=True)


def test_stages_report_counts_runs_failures_and_retries(con: duckdb.DuckDBPyConnection) -> None:
    rows = _by(reports.stages(con, Window()), "stage_id")
    for stage_id in {r.stage_id for r in MIX.runs}:
        runs = [r for r in MIX.runs if r.stage_id == stage_id]
        seconds = [r.duration_ns / 1e9 for r in runs]
        row = rows[(stage_id,)]
        assert row["runs"] == len(runs)
        assert row["avg"] == pytest.approx(statistics.fmean(seconds), rel=1e-9)
        assert row["max"] == pytest.approx(max(seconds), rel=1e-9)
        if len(seconds) > 1:
            assert row["p95"] == pytest.approx(p95(seconds), rel=1e-9)
        assert row["failures"] == sum(1 for r in runs if r.error)
        assert row["retries"] == len(runs) - len({r.post_id for r in runs})


def test_llm_report_sums_tokens_per_action_and_model(con: duckdb.DuckDBPyConnection) -> None:
    calls = defaultdict(list)
    for run in MIX.runs:
        for call in run.calls:
            if call.kind == "llm":
                calls[(call.action, call.model)].append(call)
    rows = _by(reports.llm(con, Window()), "action", "model")
    assert set(rows) == set(calls)
    for key, made in calls.items():
        row = rows[key]
        assert row["calls"] == len(made)
        assert row["input tokens"] == sum(c.input_tokens for c in made)
        assert row["output tokens"] == sum(c.output_tokens for c in made)
        prompt_chars = statistics.fmean(c.prompt_chars for c in made)
        assert row["avg prompt chars"] == pytest.approx(prompt_chars)
        assert row["avg"] == pytest.approx(statistics.fmean(c.duration_ns / 1e9 for c in made))
        assert row["failures"] == sum(1 for c in made if c.error)


def test_errors_report_counts_repeats_and_names_posts(con: duckdb.DuckDBPyConnection) -> None:
    rows = _by(reports.errors(con, Window()), "error.type", "fingerprint")
    expected: dict[str, list] = defaultdict(list)
    for err in MIX.errors:
        expected[err.error_type].append(err)
    assert set(rows) == {(t, f"fp-{t}") for t in expected}
    for error_type, errs in expected.items():
        row = rows[(error_type, f"fp-{error_type}")]
        assert row["count"] == sum(e.count for e in errs)
        assert row["first seen"] == min(e.time_ns for e in errs)
        assert row["last seen"] == max(e.time_ns for e in errs)
        assert row["posts"] == len({e.post_id for e in errs})
        assert row["stages"] == ", ".join(sorted({e.stage_id for e in errs}))
        first = min(errs, key=lambda e: e.time_ns)
        assert row["message"] == first.message


def test_since_and_until_select_a_window(con: duckdb.DuckDBPyConnection) -> None:
    middle = sorted(e.time_ns for e in MIX.errors)[len(MIX.errors) // 2]
    before = reports.errors(con, Window(until_ns=middle)).records()
    after = reports.errors(con, Window(since_ns=middle)).records()
    total = sum(e.count for e in MIX.errors)
    assert sum(r["count"] for r in before) == sum(e.count for e in MIX.errors if e.time_ns < middle)
    assert sum(r["count"] for r in before) + sum(r["count"] for r in after) == total


def test_trends_bucket_errors_by_time(con: duckdb.DuckDBPyConnection) -> None:
    bucket = 10**9  # 1 s
    expected: dict[tuple[int, str], int] = defaultdict(int)
    for err in MIX.errors:
        expected[(err.time_ns // bucket * bucket, err.error_type)] += err.count
    rows = reports.trends(con, Window(), bucket="1s").records()
    assert {(r["bucket start"], r["error.type"]): r["count"] for r in rows} == expected


def test_post_view_follows_the_stages_in_order(con: duckdb.DuckDBPyConnection) -> None:
    post_id = next(r.post_id for r in MIX.runs if r.error)
    runs = [r for r in MIX.runs if r.post_id == post_id]
    rows = views.post(con, post_id, Window()).records()
    assert [(r["stage_id"], r["attempt"]) for r in rows] == [
        (run.stage_id, sum(1 for o in runs[: i + 1] if o.stage_id == run.stage_id))
        for i, run in enumerate(runs)
    ]
    for row, run in zip(rows, runs, strict=True):
        assert row["duration"] == pytest.approx(run.duration_ns / 1e9)
        assert row["outcome"] == ("error" if run.error else "ok")
        assert row["queries"] == sum(1 for c in run.calls if c.kind == "db")
        assert row["input tokens"] == sum(c.input_tokens for c in run.calls)


def test_trace_view_builds_the_span_tree(con: duckdb.DuckDBPyConnection) -> None:
    run = MIX.runs[0]
    trace_id = con.execute(
        "SELECT any_value(trace_id) FROM spans WHERE post_id = ?", [run.post_id]
    ).fetchone()
    assert trace_id is not None
    roots = views.trace(con, trace_id[0])
    stages_in_trace = [r for r in MIX.runs if r.post_id == run.post_id]
    assert [n.name for n in roots] == [f"stage {r.stage_id}" for r in stages_in_trace]
    assert [len(n.children) for n in roots] == [len(r.calls) for r in stages_in_trace]
    flat = views.flatten_tree(roots)
    assert len(flat) == sum(1 + len(r.calls) for r in stages_in_trace)
    assert {depth for depth, _ in flat} == {0, 1}


def test_both_layouts_give_identical_reports(tmp_path: Path) -> None:
    results = []
    for layout, writer in (("own", write_sdk_files), ("collector", write_collector_files)):
        writer(MIX, tmp_path / layout)
        connection, _ = open_store(tmp_path / layout)
        results.append(
            [
                # floats to the nanosecond: sums may add in another order
                [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]
                for rows in (
                    f(connection, Window()).rows
                    for f in (reports.errors, reports.queries, reports.stages, reports.llm)
                )
            ]
        )
        connection.close()
    assert results[0] == results[1]
