"""Bad input never breaks the blog, and each kind gets its documented treatment.

- a value that is not an OTel attribute type (an object, a dict, bytes) is
  recorded as its ``repr``, in log records (``telemetry.logs.attribute_value``)
  and in a stage's extra attributes (bound like ``bind()``);
- a 1 MB prompt is counted (``blog.llm.prompt_chars``) but not recorded unless
  content capture is on, and then cut to ``max_content_chars`` and marked;
- newlines and control characters in messages survive exactly, and every file
  line stays one valid JSON document;
- an unwritable ``data_dir`` is a ``DataDirError`` at ``setup()`` that names
  the folder; the API keeps working (as a no-op) for an app that carries on;
  a data directory that disappears later costs data, never an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import telemetry
from tests.fixtures.telemetry_files import FilesPipeline
from tests.support import otlp_files

log = telemetry.get_logger("tests.bad_input")


class Unserialisable:
    """An application object that no JSON or protobuf encoder knows."""

    def __repr__(self) -> str:
        return "<Unserialisable draft>"


def test_unserialisable_log_values_are_recorded_as_their_repr(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    pipeline = telemetry_files()
    with telemetry.stage(post_id="p-1", stage_id="draft"):
        log.info(
            "draft.saved",
            draft=Unserialisable(),
            meta={"words": 900},
            raw=b"\x00\xff",
            mixed=[1, "two"],
        )
    records = otlp_files.log_records(pipeline.finish())

    (saved,) = [r for r in records if r.body == "draft.saved"]
    assert saved.attributes["draft"] == "<Unserialisable draft>"
    assert saved.attributes["meta"] == repr({"words": 900})
    assert saved.attributes["raw"] == repr(b"\x00\xff")
    assert saved.attributes["mixed"] == repr([1, "two"])
    assert saved.attributes["post_id"] == "p-1"


def test_unserialisable_stage_attributes_do_not_break_the_stage(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    pipeline = telemetry_files()
    ran = False
    with telemetry.stage(post_id="p-2", stage_id="edit", editor=Unserialisable()):
        ran = True
    spans = otlp_files.spans(pipeline.finish())

    assert ran
    (stage,) = [s for s in spans if s.name == "stage edit"]
    assert stage.attributes["blog.stage.outcome"] == "ok"
    assert stage.attributes["editor"] == "<Unserialisable draft>"


def test_a_one_megabyte_prompt_is_counted_not_recorded(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    prompt = "Write about observability. " * 40_330  # just over 1 MB
    pipeline = telemetry_files()
    with (
        telemetry.stage(post_id="p-3", stage_id="research"),
        telemetry.llm_call(action="research", model="local-test", prompt=prompt) as call,
    ):
        call.record(input_tokens=250_000, output_tokens=10, completion=prompt)
    data_dir = pipeline.finish()

    (llm,) = [s for s in otlp_files.spans(data_dir) if s.name == "chat local-test"]
    assert llm.attributes["blog.llm.prompt_chars"] == len(prompt)
    assert "gen_ai.input.messages" not in llm.attributes
    assert "gen_ai.output.messages" not in llm.attributes
    assert max(len(line) for line in otlp_files.read_lines(data_dir / "traces.jsonl")) < 100_000


def test_a_captured_one_megabyte_prompt_is_cut_to_the_bound(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    prompt = "x" * 1_048_576
    limit = 1_000
    pipeline = telemetry_files(capture_message_content=True, max_content_chars=limit)
    with telemetry.llm_call(action="draft", model="local-test", prompt=prompt):
        pass
    (llm,) = [s for s in otlp_files.spans(pipeline.finish()) if s.name == "chat local-test"]

    (message,) = json.loads(llm.attributes["gen_ai.input.messages"])
    content = message["parts"][0]["content"]
    assert content.startswith("x" * limit)
    assert f"truncated {len(prompt) - limit} chars" in content
    assert len(content) < limit + 100


CONTROL_TEXT = (
    "first line\nsecond line\r\n\ttabbed \x00 nul \x07 bell \x1b[31mred\x1b[0m \u2028 end"
)


def test_newlines_and_control_characters_survive_in_one_json_line_each(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    pipeline = telemetry_files()
    with telemetry.stage(post_id="p-4", stage_id="edit"):
        log.warning(CONTROL_TEXT, note=CONTROL_TEXT)
    data_dir = pipeline.finish()

    for name in ("traces.jsonl", "logs.jsonl", "metrics.jsonl"):
        raw = (data_dir / name).read_bytes()
        assert raw.endswith(b"\n")
        for line in raw.split(b"\n")[:-1]:
            json.loads(line)  # one whole JSON document per line
    (record,) = [r for r in otlp_files.log_records(data_dir) if r.body == CONTROL_TEXT]
    assert record.attributes["note"] == CONTROL_TEXT
    assert record.severity_text == "WARN"


def test_an_unwritable_data_dir_is_a_clear_error_at_setup(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data directory should go")
    data_dir = blocker / "telemetry-data"

    with pytest.raises(telemetry.DataDirError) as raised:
        telemetry.setup(data_dir=data_dir)

    message = str(raised.value)
    assert str(data_dir) in message
    assert "not writable" in message
    assert telemetry.active() is None
    # The application may carry on without telemetry: the API stays usable.
    with telemetry.stage(post_id="p-5", stage_id="publish"):
        log.info("published")
    with telemetry.llm_call(action="publish", model="local-test", prompt="hi") as call:
        call.record(input_tokens=1, output_tokens=1)


def test_a_data_dir_lost_after_setup_costs_data_never_an_exception(
    telemetry_files: Callable[..., FilesPipeline],
) -> None:
    pipeline = telemetry_files()
    with telemetry.stage(post_id="p-6", stage_id="draft"):
        log.info("before")
    assert pipeline.handle.flush()
    for child in pipeline.data_dir.iterdir():
        child.unlink()
    os.rmdir(pipeline.data_dir)
    pipeline.data_dir.write_text("the folder was replaced by a file")

    with telemetry.stage(post_id="p-6", stage_id="edit"):
        log.info("after")
    pipeline.handle.flush()
    pipeline.finish()

    assert pipeline.data_dir.read_text() == "the folder was replaced by a file"
