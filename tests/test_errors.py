"""record_error(): span, counter and one de-duplicated log event per fingerprint and window."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from opentelemetry import trace

import telemetry
from telemetry import errors
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files
from tests.support.faulty import caught, load_post, save_post
from tests.support.otlp_files import STATUS_CODE_ERROR
from tests.support.waiting import wait_for

Start = Callable[..., FilesPipeline]
ROOT = Path(__file__).resolve().parent.parent


def _error_events(data_dir: Path) -> list[otlp_files.FileLogRecord]:
    return [r for r in otlp_files.log_records(data_dir) if r.body == errors.EVENT]


def _errors_counted(data_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for point in otlp_files.metric_points(data_dir):
        if point.name == "blog.errors":
            key = point.attributes["error.type"]
            counts[key] = max(counts.get(key, 0), int(point.point["asInt"]))  # cumulative
    return counts


def _fingerprint_in_subprocess(which: str, post_id: str, attempt: int) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.faulty", which, post_id, str(attempt)],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "random"},
    )  # fmt: skip
    return out.stdout.strip()


def test_volatile_parts_of_messages_are_normalised() -> None:
    assert errors.normalise_message(
        "post 'p-17' (id 4211, uuid 0b8f6a52-3f1e-4d7a-9a55-0c2f3b7e9d10) failed at "
        "0x7f3a2c001e80 after 2.5 s on 2026-12-03T15:04:05Z, request 9f86d081884c7d65"
    ) == ("post <str> (id <n>, uuid <uuid>) failed at <addr> after <n> s on <time>, request <hex>")
    assert errors.normalise_message('duplicate key "posts_pkey"') == "duplicate key <str>"
    assert errors.normalise_message("worker-3 crashed") == "<id> crashed"


def test_the_same_bug_groups_across_processes_and_different_bugs_do_not() -> None:
    here = errors.fingerprint(caught(load_post, "p-1", 1))
    assert errors.fingerprint(caught(load_post, "p-99", 7)) == here  # volatile parts
    assert _fingerprint_in_subprocess("load", "p-2", 3) == here  # another process
    other_bug = errors.fingerprint(caught(save_post, "p-1", 1))
    assert other_bug != here  # same type and message, raised elsewhere
    assert _fingerprint_in_subprocess("save", "p-5", 1) == other_bug
    assert errors.fingerprint(ValueError("p-1")) != errors.fingerprint(KeyError("p-1"))


def test_innermost_application_frames_skip_library_code() -> None:
    import json

    exc = caught(json.loads, "{not json")
    frames = errors.app_frames(exc)
    assert frames and all("json" not in f.split(":")[0] for f in frames)
    assert frames[0].startswith("tests.support.faulty:caught:")


def test_record_error_marks_the_span_counts_and_logs_with_context(telemetry_files: Start) -> None:
    run = telemetry_files()
    with telemetry.stage("draft", post_id="p7"), _span("write"):
        fp = telemetry.record_error(caught(load_post, "p7", 1), words=12, model="m1")
    data_dir = run.finish()
    span = next(s for s in otlp_files.spans(data_dir) if s.name == "write")
    assert span.status_code == STATUS_CODE_ERROR
    assert span.attributes["blog.error.fingerprint"] == fp
    assert span.attributes["error.type"] == "PostNotFound"
    assert span.events[0]["name"] == "exception"
    (event,) = _error_events(data_dir)
    assert event.severity_text == "ERROR"
    assert event.trace_id == span.trace_id and event.span_id == span.span_id
    assert event.attributes["post_id"] == "p7" and event.attributes["stage_id"] == "draft"
    assert event.attributes["words"] == 12 and event.attributes["model"] == "m1"
    assert event.attributes["exception.type"] == "tests.support.faulty.PostNotFound"
    assert "load_post" in event.attributes["exception.stacktrace"]
    assert event.attributes["blog.error.count"] == 1
    assert _errors_counted(data_dir) == {"PostNotFound": 1}


def _span(name: str) -> AbstractContextManager[object]:
    return trace.get_tracer("app").start_as_current_span(name)


def test_a_burst_of_identical_errors_is_one_event_with_the_count(telemetry_files: Start) -> None:
    run = telemetry_files(error_dedup_window_s=60.0)
    before = time.time_ns()
    for attempt in range(1000):
        with _span("save"):
            errors.record_error(caught(load_post, f"p{attempt}", attempt))
    after = time.time_ns()
    data_dir = run.finish()  # the window is still open: shutdown must not lose it
    (event,) = _error_events(data_dir)
    assert event.attributes["blog.error.count"] == 1000
    first, last = (int(event.attributes[f"blog.error.{k}_seen_ns"]) for k in ("first", "last"))
    assert before <= first < last <= after
    spans = [s for s in otlp_files.spans(data_dir) if s.name == "save"]
    assert len(spans) == 1000
    assert all(s.status_code == STATUS_CODE_ERROR for s in spans)
    assert len({s.attributes["blog.error.fingerprint"] for s in spans}) == 1
    assert _errors_counted(data_dir) == {"PostNotFound": 1000}


def test_folded_repeats_keep_the_posts_and_stages_they_hit(telemetry_files: Start) -> None:
    run = telemetry_files()
    for post_id, stage_id in (("p1", "draft"), ("p2", "edit"), ("p1", "edit")):
        with pytest.raises(ValueError), telemetry.stage(stage_id, post_id=post_id):
            raise ValueError("word count 0 is below 300")
    (event,) = _error_events(run.finish())
    assert event.attributes["blog.error.count"] == 3
    assert event.attributes["post_id"] == "p1" and event.attributes["stage_id"] == "draft"
    assert event.attributes["blog.error.post_ids"] == ["p1", "p2"]
    assert event.attributes["blog.error.stage_ids"] == ["draft", "edit"]


def test_a_closed_window_lets_the_next_occurrence_through(telemetry_files: Start) -> None:
    run = telemetry_files(error_dedup_window_s=0.2)
    errors.record_error(caught(load_post, "p1", 1))
    errors.record_error(caught(load_post, "p2", 1))
    wait_for(lambda: errors.pending() == 0, message="the window to close by itself")
    errors.record_error(caught(load_post, "p3", 1))
    errors.record_error(caught(save_post, "p3", 1))  # a different bug: its own event
    events = _error_events(run.finish())
    assert sorted(e.attributes["blog.error.count"] for e in events) == [1, 1, 2]


def test_an_exception_leaving_a_stage_or_llm_call_is_recorded(telemetry_files: Start) -> None:
    run = telemetry_files()
    with pytest.raises(TimeoutError), telemetry.stage("research", post_id="p3"):
        with telemetry.llm_call(action="research.summarise", model="m", prompt="x"):
            raise TimeoutError("LLM did not answer in 30 s")
    data_dir = run.finish()
    events = _error_events(data_dir)
    assert len(events) == 1  # one exception crossing both scopes is one occurrence
    assert events[0].attributes["blog.error.count"] == 1
    assert events[0].attributes["post_id"] == "p3"
    failed = [s for s in otlp_files.spans(data_dir) if s.status_code == STATUS_CODE_ERROR]
    assert {s.name for s in failed} == {"stage research", "chat m"}
    assert {s.attributes["blog.error.fingerprint"] for s in failed} == {
        events[0].attributes["blog.error.fingerprint"]
    }
    assert _errors_counted(data_dir) == {"TimeoutError": 1}


class _Unserialisable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_workflow_state_providers_are_bounded_and_never_fatal(telemetry_files: Start) -> None:
    run = telemetry_files()
    seen: list[dict[str, object]] = []

    def queue_state(context: object) -> object:
        seen.append(dict(context))  # type: ignore[call-overload]
        return {"pending": 3, "tags": {"a"}, "when": object()}

    def broken(context: object) -> object:
        raise ConnectionError("state store is down")

    providers = {
        "queue": queue_state, "broken": broken, "huge": lambda c: "x" * 100_000,
        "odd": lambda c: [_Unserialisable()],
    }  # fmt: skip
    for name, provider in providers.items():
        errors.register_state_provider(name, provider)
    try:
        with pytest.raises(ValueError), telemetry.stage("edit", post_id="p9", draft_words=800):
            raise ValueError("too long")
        errors.record_error(caught(save_post, "p1", 1))  # outside a stage: no state
    finally:
        for name in providers:
            errors.unregister_state_provider(name)
    events = {e.attributes["error.type"]: e for e in _error_events(run.finish())}
    state = events["ValueError"].attributes
    assert seen == [{"post_id": "p9", "stage_id": "edit", "draft_words": 800}]
    assert state["draft_words"] == 800  # the stage's data
    assert state["blog.workflow.state.queue"].startswith('{"pending":3,"tags":"{\'a\'}"')
    assert state["blog.workflow.state.broken"] == (
        "<provider failed: ConnectionError: state store is down>"
    )
    assert state["blog.workflow.state.huge"].endswith("...<truncated 95906 chars>")
    assert state["blog.workflow.state.odd"].startswith("<not serialisable: ")
    assert not any(k.startswith("blog.workflow.state") for k in events["PostNotFound"].attributes)


class _Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


def test_record_error_never_raises(telemetry_files: Start) -> None:
    run = telemetry_files()
    assert errors.record_error(_Hostile()) == ""
    with pytest.raises(ValueError, match="callable"):
        errors.register_state_provider("x", None)  # type: ignore[arg-type]
    run.finish()


def test_flush_emits_held_error_events_without_waiting_for_the_window(
    telemetry_files: Start,
) -> None:
    run = telemetry_files(error_dedup_window_s=3600.0)
    errors.record_error(caught(load_post, "p1", 1))
    errors.record_error(caught(load_post, "p2", 1))
    assert run.handle.flush()
    (event,) = _error_events(run.data_dir)  # read before shutdown
    assert event.attributes["blog.error.count"] == 2
