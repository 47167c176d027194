"""The reports: SQL over the flat tables, one function per question the team asks.

Each report returns a ``Result`` (columns with a kind each, rows, notes), which
``render.py`` prints as a table, JSON or CSV. Durations are seconds, timestamps
nanoseconds since the epoch; percentiles interpolate linearly between the two
nearest values (DuckDB ``quantile_cont``, the same as numpy's default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb

from telemetry.analysis.timespec import parse_duration

Kind = Literal["text", "int", "float", "seconds", "time"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"


@dataclass
class Result:
    """A titled table of typed columns; what every report and view returns."""

    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Window:
    """The ``--since`` / ``--until`` bounds in nanoseconds (None: open)."""

    since_ns: int | None = None
    until_ns: int | None = None

    def where(self, column: str) -> tuple[str, list[int]]:
        clauses, params = ["TRUE"], []
        if self.since_ns is not None:
            clauses.append(f"{column} >= ?")
            params.append(self.since_ns)
        if self.until_ns is not None:
            clauses.append(f"{column} < ?")
            params.append(self.until_ns)
        return " AND ".join(clauses), params


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


# An error event of ``telemetry.errors`` carries a fingerprint, stands for
# ``blog.error.count`` occurrences (repeats are de-duplicated) and says when the
# first of them happened. Other records naming an error (``stage.failed``) describe
# the same failures, so they only count in files without any fingerprinted event
# (another application's, or a collector's from services without error tracking).
_IDS = '\'{"values": [{"stringValue": "VARCHAR"}]}\''
_ERROR_ROWS = f"""
    SELECT *, coalesce(error_type, exception_type) AS kind, coalesce(error_count, 1) AS n,
           coalesce(error_first_ns, time_ns) AS first_ns,
           coalesce(list_transform(from_json(error_post_ids, {_IDS}).values,
                                   lambda v: v.stringValue), [post_id]) AS posts_hit,
           coalesce(list_transform(from_json(error_stage_ids, {_IDS}).values,
                                   lambda v: v.stringValue), [stage_id]) AS stages_hit
    FROM logs
    WHERE coalesce(error_type, exception_type) IS NOT NULL
      AND (fingerprint IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM logs WHERE fingerprint IS NOT NULL))"""


def errors(con: duckdb.DuckDBPyConnection, window: Window, limit: int = 50) -> Result:
    """Errors by type and fingerprint: how many, since when, where."""
    where, params = window.where("time_ns")
    rows = _run(
        con,
        f"""SELECT kind, fingerprint, sum(n)::BIGINT, min(first_ns), max(time_ns),
                   arg_min(exception_message, time_ns),
                   len(list_distinct(flatten(list(posts_hit)))),
                   array_to_string(list_sort(list_distinct(flatten(list(posts_hit))))[1:5], ', '),
                   array_to_string(list_sort(list_distinct(flatten(list(stages_hit)))), ', ')
            FROM ({_ERROR_ROWS}) WHERE {where}
            GROUP BY kind, fingerprint ORDER BY 3 DESC, 5 DESC LIMIT {int(limit)}""",
        params,
    )
    return Result(
        "Errors by type and fingerprint",
        (
            Column("error.type"),
            Column("fingerprint"),
            Column("count", "int"),
            Column("first seen", "time"),
            Column("last seen", "time"),
            Column("message"),
            Column("posts", "int"),
            Column("example posts"),
            Column("stages"),
        ),
        rows,
    )


def trends(con: duckdb.DuckDBPyConnection, window: Window, bucket: str = "1h") -> Result:
    """Error counts per time bucket and type."""
    bucket_ns = int(parse_duration(bucket) * 1e9)
    if bucket_ns <= 0:
        raise ValueError(f"bucket must be longer than zero, not {bucket!r}")
    where, params = window.where("time_ns")
    rows = _run(
        con,
        f"""SELECT (time_ns // {bucket_ns}) * {bucket_ns} AS bucket, kind, sum(n)::BIGINT
            FROM ({_ERROR_ROWS}) WHERE {where}
            GROUP BY bucket, kind ORDER BY bucket, 3 DESC, kind""",
        params,
    )
    return Result(
        f"Errors per {bucket}",
        (Column("bucket start", "time"), Column("error.type"), Column("count", "int")),
        rows,
    )


def _latency(column: str = "duration_s") -> str:
    # One quantile aggregate for both (DuckDB computes the repeated expression once):
    # a quarter faster than two.
    quantiles = f"quantile_cont({column}, [0.5, 0.95])"
    return f"count(*), avg({column}), {quantiles}[1], {quantiles}[2], max({column})"


def queries(con: duckdb.DuckDBPyConnection, window: Window, limit: int = 50) -> Result:
    """Per parameterised query text: executions and latency, slowest (by average) first."""
    where, params = window.where("start_ns")
    rows = _run(
        con,
        f"""SELECT db_query, {_latency()}, sum(duration_s),
                   count(*) FILTER (WHERE status_code = 2 OR error_type IS NOT NULL)
            FROM spans WHERE db_query IS NOT NULL AND {where}
            GROUP BY db_query ORDER BY 3 DESC, 1 LIMIT {int(limit)}""",
        params,
    )
    return Result(
        "Database queries, slowest first",
        (
            Column("query"),
            Column("executions", "int"),
            Column("avg", "seconds"),
            Column("p50", "seconds"),
            Column("p95", "seconds"),
            Column("max", "seconds"),
            Column("total", "seconds"),
            Column("errors", "int"),
        ),
        rows,
    )


_STAGE_SPANS = "(stage_outcome IS NOT NULL OR (kind = 1 AND name LIKE 'stage %'))"


def stages(con: duckdb.DuckDBPyConnection, window: Window) -> Result:
    """Per stage: runs, latency, failures, and retries (runs of a stage a post repeated)."""
    where, params = window.where("start_ns")
    rows = _run(
        con,
        f"""SELECT coalesce(stage_id, substr(name, 7)) AS stage, count(*), avg(duration_s),
                   quantile_cont(duration_s, 0.95), max(duration_s),
                   count(*) FILTER (WHERE stage_outcome = 'error' OR status_code = 2),
                   count(post_id) - count(DISTINCT post_id)
            FROM spans WHERE {_STAGE_SPANS} AND {where}
            GROUP BY stage ORDER BY min(start_ns), stage""",
        params,
    )
    return Result(
        "Workflow stages",
        (
            Column("stage_id"),
            Column("runs", "int"),
            Column("avg", "seconds"),
            Column("p95", "seconds"),
            Column("max", "seconds"),
            Column("failures", "int"),
            Column("retries", "int"),
        ),
        rows,
    )


def llm(con: duckdb.DuckDBPyConnection, window: Window) -> Result:
    """Per action and model: calls, latency, tokens, prompt size, failures."""
    where, params = window.where("start_ns")
    rows = _run(
        con,
        f"""SELECT llm_action, gen_ai_model, count(*), avg(duration_s),
                   quantile_cont(duration_s, 0.95), sum(input_tokens)::BIGINT,
                   sum(output_tokens)::BIGINT, avg(prompt_chars),
                   count(*) FILTER (WHERE status_code = 2 OR error_type IS NOT NULL)
            FROM spans
            WHERE (gen_ai_operation IS NOT NULL OR gen_ai_model IS NOT NULL) AND {where}
            GROUP BY llm_action, gen_ai_model ORDER BY 3 DESC, 1, 2""",
        params,
    )
    return Result(
        "LLM calls",
        (
            Column("action"),
            Column("model"),
            Column("calls", "int"),
            Column("avg", "seconds"),
            Column("p95", "seconds"),
            Column("input tokens", "int"),
            Column("output tokens", "int"),
            Column("avg prompt chars", "float"),
            Column("failures", "int"),
        ),
        rows,
    )


REPORTS = ("errors", "trends", "queries", "stages", "llm")
