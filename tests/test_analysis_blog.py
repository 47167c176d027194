"""The reports over a real run of the example blog, against what the blog's database says
it did (its own bookkeeping, written independently of the telemetry)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from examples.blog import database
from telemetry.cli import main
from tests.support.runs import clean_env, python, run_timed


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main([*argv, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert "corrupt" not in err
    return json.loads(out)


@pytest.fixture
def blog_run(pg_url: str, tmp_path: Path) -> tuple[Path, list[tuple[Any, ...]]]:
    """8 posts, a 35% LLM failure rate, 2 attempts per stage; the stage_runs it recorded."""
    env = clean_env(DATABASE_URL=pg_url)
    for name in ("REDIS_URL", "BLOG_LLM_BASE_URL"):
        env.pop(name, None)
    run = run_timed(
        [python(), "-m", "examples.blog", "--posts", "8", "--seed", "11", "--failure-rate",
         "0.35", "--max-attempts", "2", "--concurrency", "3", "--data-dir", str(tmp_path)],
        env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    with psycopg.connect(pg_url) as conn:
        runs = conn.execute(
            "SELECT post_id::text, stage_id, status, error, "
            "extract(epoch FROM finished_at - started_at)::float8 FROM stage_runs"
        ).fetchall()
    return tmp_path, runs


def test_reports_match_the_blogs_own_records(
    blog_run: tuple[Path, list[tuple[Any, ...]]], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, runs = blog_run
    assert any(status == "failed" for _, _, status, _, _ in runs), "the run had no failure"

    stages = {r["stage_id"]: r for r in _report(capsys, "report", "stages", "--dir", str(data_dir))}
    by_stage: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in runs:
        by_stage[row[1]].append(row)
    assert set(stages) == set(by_stage)
    for stage_id, rows in by_stage.items():
        report = stages[stage_id]
        assert report["runs"] == len(rows)
        assert report["failures"] == sum(1 for r in rows if r[2] == "failed")
        assert report["retries"] == len(rows) - len({r[0] for r in rows})
        # the database's run interval lies inside the stage span
        db_seconds = [r[4] for r in rows]
        assert report["max"] >= max(db_seconds)
        assert report["avg"] >= sum(db_seconds) / len(db_seconds)

    errors = _report(capsys, "report", "errors", "--dir", str(data_dir))
    failed = [r for r in runs if r[2] == "failed"]
    expected = Counter(r[3].split(":")[0] for r in failed)
    assert Counter({r["error.type"]: r["count"] for r in errors}) == expected
    for row in errors:
        posts = {r[0] for r in failed if r[3].startswith(row["error.type"] + ":")}
        assert row["posts"] == len(posts)

    queries = {r["query"]: r for r in _report(capsys, "report", "queries", "--dir", str(data_dir))}
    assert queries[database.START_STAGE]["executions"] == len(runs)
    assert queries[database.FINISH_STAGE]["executions"] == len(runs)
    assert queries[database.INSERT_POST]["executions"] == 8
    statuses = Counter(r[2] for r in runs)
    assert statuses["succeeded"] + statuses["failed"] == len(runs)
