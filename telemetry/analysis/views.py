"""One post's journey and one trace's span tree, from the flat tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from telemetry.analysis.reports import Column, Result, Window


def post(con: duckdb.DuckDBPyConnection, post_id: str, window: Window) -> Result:
    """The post's stage runs in order, each with its queries, LLM tokens and error.

    A query or LLM call belongs to the stage run whose span encloses it in time
    (and that carries the same ``post_id``/``stage_id``), so retries of a stage
    each get their own numbers.
    """
    where, params = window.where("s.start_ns")
    rows = con.execute(
        f"""
        WITH runs AS (
            SELECT s.*, row_number() OVER (PARTITION BY stage_id ORDER BY start_ns) AS attempt
            FROM spans s
            WHERE post_id = ? AND (stage_outcome IS NOT NULL
                                   OR (kind = 1 AND name LIKE 'stage %')))
        SELECT s.start_ns, coalesce(s.stage_id, substr(s.name, 7)), s.attempt, s.duration_s,
               coalesce(s.stage_outcome, CASE WHEN s.status_code = 2 THEN 'error' ELSE 'ok' END),
               coalesce(s.error_type, s.status_message),
               count(c.db_query),
               coalesce(sum(c.duration_s) FILTER (WHERE c.db_query IS NOT NULL), 0),
               count(c.gen_ai_model), coalesce(sum(c.input_tokens), 0)::BIGINT,
               coalesce(sum(c.output_tokens), 0)::BIGINT, s.trace_id
        FROM runs s LEFT JOIN spans c
          ON c.post_id = s.post_id AND c.stage_id IS NOT DISTINCT FROM s.stage_id
         AND c.span_id <> s.span_id AND c.start_ns >= s.start_ns AND c.end_ns <= s.end_ns
         AND (c.db_query IS NOT NULL OR c.gen_ai_model IS NOT NULL)
        WHERE {where}
        GROUP BY ALL ORDER BY s.start_ns""",
        [post_id, *params],
    ).fetchall()
    return Result(
        f"Post {post_id}",
        (
            Column("started", "time"),
            Column("stage_id"),
            Column("attempt", "int"),
            Column("duration", "seconds"),
            Column("outcome"),
            Column("error"),
            Column("queries", "int"),
            Column("query time", "seconds"),
            Column("llm calls", "int"),
            Column("input tokens", "int"),
            Column("output tokens", "int"),
            Column("trace_id"),
        ),
        rows,
    )


@dataclass
class SpanNode:
    """A span of a trace, with its children in start order."""

    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    detail: str
    children: list[SpanNode] = field(default_factory=list)


def trace(con: duckdb.DuckDBPyConnection, trace_id: str) -> list[SpanNode]:
    """The trace's root spans (usually one), each with its subtree.

    A span whose parent is not in the files (sampled out, or still in flight)
    becomes a root, so nothing in the trace is hidden.
    """
    rows = con.execute(
        """SELECT DISTINCT ON (span_id) span_id, parent_span_id, name, start_ns,
                  coalesce(end_ns, start_ns), status_code,
                  concat_ws(' ', 'post_id=' || post_id, 'stage_id=' || stage_id,
                            'error=' || coalesce(error_type, status_message))
           FROM spans WHERE trace_id = lower(?) ORDER BY span_id, start_ns""",
        [trace_id],
    ).fetchall()
    nodes = {row[0]: SpanNode(*row) for row in rows}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_span_id or "")
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.start_ns)
    roots.sort(key=lambda n: n.start_ns)
    return roots


def flatten_tree(roots: list[SpanNode]) -> list[tuple[int, SpanNode]]:
    """Depth-first (depth, span) pairs: the waterfall's rows in display order."""
    out: list[tuple[int, SpanNode]] = []
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        out.append((depth, node))
        stack.extend((depth + 1, child) for child in reversed(node.children))
    return out


def trace_result(roots: list[SpanNode], trace_id: str) -> Result:
    """The span tree as rows (for JSON and CSV output)."""
    start = min((n.start_ns for n in roots), default=0)
    rows = [
        (depth, node.span_id, node.parent_span_id, node.name, (node.start_ns - start) / 1e9,
         (node.end_ns - node.start_ns) / 1e9, "error" if node.status_code == 2 else "ok",
         node.detail)
        for depth, node in flatten_tree(roots)
    ]  # fmt: skip
    return Result(
        f"Trace {trace_id}",
        (
            Column("depth", "int"),
            Column("span_id"),
            Column("parent_span_id"),
            Column("name"),
            Column("offset", "seconds"),
            Column("duration", "seconds"),
            Column("status"),
            Column("detail"),
        ),
        rows,
    )
