"""The example blog, run as a user runs it: ``python -m examples.blog``.

Each run goes to a fresh database on the real PostgreSQL of the test session
(``DATABASE_URL``), with a fixed seed, so the test can hold the app's own
bookkeeping against what telemetry wrote: every post ends published or failed,
each ``stage_runs`` row is exactly one ``stage`` span (same post, stage,
attempt and outcome), and the closing report's counts are the files' counts.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.redis import RedisServer
from tests.support import otlp_files
from tests.support.runs import REPO, Run, clean_env, python, run_timed

STAGES = ["research", "outline", "draft", "edit", "publish"]
SUMMARY = re.compile(r"^(\d+) posts in [\d.]+s: (\d+) published, (\d+) failed")
COUNT_LINE = re.compile(r"^\s+(\d+) (spans|log records|metric points)\s")
HEALTH_URL = re.compile(r"health\s+(http://127\.0\.0\.1:\d+/health)")
# Variables of the surrounding shell that would change what the example talks to.
APP_VARIABLES = ("DATABASE_URL", "REDIS_URL", "BLOG_LLM_BASE_URL")


def blog_env(**env: str) -> dict[str, str]:
    environment = clean_env()
    for name in APP_VARIABLES:
        environment.pop(name, None)
    environment.update(env)
    return environment


def run_blog(args: list[str], **env: str) -> Run:
    return run_timed([python(), "-m", "examples.blog", *args], blog_env(**env), timeout=120)


def summary(run: Run) -> tuple[int, int, int]:
    for line in run.lines:
        match = SUMMARY.match(line)
        if match:
            posts, published, failed = (int(g) for g in match.groups())
            return posts, published, failed
    raise AssertionError(f"no summary line in the output\n{run.describe()}")


def reported_counts(run: Run) -> dict[str, int]:
    return {m.group(2): int(m.group(1)) for line in run.lines if (m := COUNT_LINE.match(line))}


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def stage_span_keys(data_dir: Path) -> Counter[tuple[int, str, int, str]]:
    """(post_id, stage_id, attempt, run status) of every stage span in the files."""
    keys: Counter[tuple[int, str, int, str]] = Counter()
    for span in otlp_files.spans(data_dir):
        if span.name.startswith("stage "):
            a = span.attributes
            status = "succeeded" if a["blog.stage.outcome"] == "ok" else "failed"
            keys[(int(a["post_id"]), a["stage_id"], a["blog.stage.attempt"], status)] += 1
    return keys


@pytest.mark.parametrize("mode", ["threads", "asyncio"])
def test_bookkeeping_matches_telemetry(mode: str, pg_url: str, tmp_path: Path) -> None:
    posts, max_attempts = 8, 2
    run = run_blog(
        [
            "--posts",
            str(posts),
            "--mode",
            mode,
            "--seed",
            "11",
            "--failure-rate",
            "0.35",
            "--max-attempts",
            str(max_attempts),
            "--concurrency",
            "3",
            "--data-dir",
            str(tmp_path),
        ],
        DATABASE_URL=pg_url,
    )
    assert run.returncode == 0, run.describe()

    # every post ended one way or the other, and the report says so
    statuses = dict(query(pg_url, "SELECT status, count(*) FROM posts GROUP BY status"))
    assert set(statuses) <= {"published", "failed"}, statuses
    assert sum(statuses.values()) == posts
    assert summary(run) == (posts, statuses.get("published", 0), statuses.get("failed", 0))
    # with this seed and failure rate, the run shows retries and (at least) one lost post
    assert statuses.get("failed", 0) >= 1 and statuses.get("published", 0) >= 1, statuses

    runs = query(pg_url, "SELECT post_id, stage_id, attempt, status FROM stage_runs")
    assert all(status in ("succeeded", "failed") for *_, status in runs), "a run left open"
    assert any(attempt > 1 for _, _, attempt, _ in runs), "no stage was retried"
    assert Counter((int(p), s, a, st) for p, s, a, st in runs) == stage_span_keys(tmp_path)

    # published posts went through every stage once successfully; failed ones stopped
    # at a stage that failed on every attempt
    for post_id, status in query(pg_url, "SELECT id, status FROM posts"):
        mine = [(s, a, st) for p, s, a, st in runs if p == post_id]
        succeeded = [s for s, _, st in mine if st == "succeeded"]
        if status == "published":
            assert succeeded == [s for s in STAGES if s in succeeded] == STAGES
        else:
            last = STAGES[len(succeeded)]
            assert sorted(a for s, a, st in mine if s == last) == list(range(1, max_attempts + 1))
            assert all(st == "failed" for s, _, st in mine if s == last)
    published = query(
        pg_url,
        "SELECT count(*) FROM posts WHERE status = 'published' "
        "AND published_at IS NOT NULL AND word_count > 0 AND body <> ''",
    )
    assert published[0][0] == statuses.get("published", 0)

    # the report counted what this process wrote: the spans and log records are all
    # in the files by then; metrics get one more collection at shutdown
    counts = reported_counts(run)
    assert counts["spans"] == len(otlp_files.spans(tmp_path))
    assert counts["log records"] == len(otlp_files.log_records(tmp_path))
    assert 0 < counts["metric points"] <= len(otlp_files.metric_points(tmp_path))


def cache_requests(data_dir: Path) -> dict[str, int]:
    """The last value of the ``blog.cache.requests`` counter per result (hit, miss)."""
    last: dict[str, int] = {}
    for point in otlp_files.metric_points(data_dir):
        if point.name == "blog.cache.requests":
            last[point.attributes["blog.cache.result"]] = int(point.point["asInt"])
    return last


def test_redis_cache_counts_every_research_lookup(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    run = run_blog(
        ["--posts", "8", "--seed", "5", "--data-dir", str(tmp_path)],
        DATABASE_URL=pg_url,
        REDIS_URL=redis_server.url,
    )
    assert run.returncode == 0, run.describe()
    assert any(f"Redis at {redis_server.url}" in line for line in run.lines), run.describe()
    assert any(re.match(r"^\s+cache\s+healthy\b.*backend=redis", line) for line in run.lines)
    # each research attempt looks its topic up once: the counters add up to the runs
    research_runs = query(pg_url, "SELECT count(*) FROM stage_runs WHERE stage_id = 'research'")
    requests = cache_requests(tmp_path)
    assert sum(requests.values()) == research_runs[0][0]
    assert requests.get("hit", 0) >= 1, "8 posts on 5 topics: some research must be cached"


def test_health_endpoint_answers_while_the_blog_runs(pg_url: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            python(),
            "-m",
            "examples.blog",
            "--posts",
            "12",
            "--concurrency",
            "1",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=blog_env(DATABASE_URL=pg_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if match := HEALTH_URL.search(line):
                url = match.group(1)
                break
        assert url is not None, "the health URL was not printed"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body["status"] in ("healthy", "degraded")
        assert {"database", "cache", "llm", "disk", "memory"} <= set(body["checks"])
        assert body["checks"]["database"]["status"] == "healthy"
        assert pg_url.split("@")[0] not in json.dumps(body)
        with urllib.request.urlopen(url + "/live", timeout=10) as response:
            assert response.status == 200
        assert process.poll() is None, "the run ended before the endpoint was asked"
        process.stdout.read()
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
        process.wait()


class ChatCompletions(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint on loopback: usage from the prompt's length,
    and HTTP 429 for every third request, as a busy provider would answer."""

    requests = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).requests += 1
            number = type(self).requests
        if number % 3 == 0:
            self._send(429, {"error": {"message": "slow down"}})
            return
        prompt = body["messages"][0]["content"]
        assert self.headers["Authorization"] == "Bearer sk-test-key"
        self._send(
            200,
            {
                "id": f"chatcmpl-{number}",
                "model": body["model"] + "-2025",
                "choices": [
                    {
                        "message": {"role": "assistant", "content": "Short answer. " * 5},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": 10 + number},
            },
        )

    def do_GET(self) -> None:
        self._send(200, {"data": [{"id": "blog-model"}]})

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def openai_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_openai_compatible_endpoint(openai_endpoint: str, pg_url: str, tmp_path: Path) -> None:
    run = run_blog(
        ["--posts", "3", "--concurrency", "1", "--data-dir", str(tmp_path)],
        DATABASE_URL=pg_url,
        BLOG_LLM_BASE_URL=openai_endpoint,
        BLOG_LLM_API_KEY="sk-test-key",
        BLOG_LLM_MODEL="blog-model",
    )
    assert run.returncode == 0, run.describe()
    assert summary(run) == (3, 3, 0)
    assert any(re.match(r"^\s+llm\s+healthy\b.*models=1", line) for line in run.lines)
    calls = [s for s in otlp_files.spans(tmp_path) if s.name == "chat blog-model"]
    failed = [s for s in calls if s.status_code == otlp_files.STATUS_CODE_ERROR]
    assert failed and all(s.attributes["error.type"] == "LLMRateLimitError" for s in failed)
    for call in calls:
        if call not in failed:
            # the provider's usage figures, not an estimate
            assert (
                call.attributes["gen_ai.usage.input_tokens"]
                == call.attributes["blog.llm.prompt_chars"]
            )
            assert call.attributes["gen_ai.response.model"] == "blog-model-2025"
            assert call.attributes["gen_ai.provider.name"] == "openai"
    assert "sk-test-key" not in (tmp_path / "traces.jsonl").read_text()
    assert "sk-test-key" not in (tmp_path / "logs.jsonl").read_text()


def test_every_call_failing_fails_every_post_and_still_exits_0(pg_url: str, tmp_path: Path) -> None:
    run = run_blog(
        [
            "--posts",
            "4",
            "--failure-rate",
            "1",
            "--max-attempts",
            "2",
            "--seed",
            "3",
            "--data-dir",
            str(tmp_path),
        ],
        DATABASE_URL=pg_url,
    )
    assert run.returncode == 0, run.describe()
    assert summary(run) == (4, 0, 4)
    runs = query(pg_url, "SELECT stage_id, attempt, status FROM stage_runs ORDER BY 1, 2")
    assert sorted(runs) == sorted([("research", a, "failed") for a in (1, 2)] * 4)
    logs = Counter(r.body for r in otlp_files.log_records(tmp_path))
    assert logs["post.failed"] == 4 and logs["stage.retrying"] == 4


def test_demo_defaults_embedded_postgres(tmp_path: Path) -> None:
    """What ``make demo`` runs: no DATABASE_URL, so pgserver starts its own PostgreSQL."""
    run = run_blog(["--posts", "3", "--data-dir", str(tmp_path / "telemetry")])
    assert run.returncode == 0, run.describe()
    posts, published, failed = summary(run)
    assert posts == published + failed == 3
    assert any("embedded PostgreSQL (pgserver)" in line for line in run.lines)
    assert any(HEALTH_URL.search(line) for line in run.lines)
    assert any(line.startswith("health: ") for line in run.lines), run.describe()
    counts = reported_counts(run)
    assert counts["spans"] > 0 and counts["log records"] > 0 and counts["metric points"] > 0
    assert run.stderr == "", run.stderr
    assert run.seconds_after_last_line < 5, run.describe()


def test_unreachable_database_is_a_clear_configuration_error(tmp_path: Path) -> None:
    run = run_blog(
        ["--posts", "2", "--data-dir", str(tmp_path)],
        DATABASE_URL="postgresql://blog:hunter2@127.0.0.1:1/blog?connect_timeout=2",
    )
    assert run.returncode == 2, run.describe()
    assert "cannot start the database" in run.stderr
    assert "hunter2" not in run.stderr and "Traceback" not in run.stderr


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    run = run_blog(["--posts", "0", "--data-dir", str(tmp_path)])
    assert run.returncode == 2
    assert "--posts" in run.stderr
