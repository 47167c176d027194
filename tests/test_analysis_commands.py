"""The ``telemetry`` analysis commands as a user runs them: output formats, exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.cli import main
from tests.support.blog_mix import make_mix, write_sdk_files

MIX = make_mix(posts=6, seed=5)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_sdk_files(MIX, tmp_path / "data")
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_and_csv_carry_the_same_rows(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", "queries", "--dir", str(data_dir), "--format", "json")
    assert code == 0
    as_json = json.loads(out)
    executions = {}
    for run_ in MIX.runs:
        for call in run_.calls:
            if call.kind == "db":
                executions[call.query] = executions.get(call.query, 0) + 1
    assert {r["query"]: r["executions"] for r in as_json} == executions

    code, out, _ = run(capsys, "report", "queries", "--dir", str(data_dir), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [r["query"] for r in rows] == [r["query"] for r in as_json]
    assert [int(r["executions"]) for r in rows] == [r["executions"] for r in as_json]


def test_errors_report_prints_times_as_utc_iso(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", "errors", "--dir", str(data_dir), "--format", "json")
    assert code == 0
    first = min(e.time_ns for e in MIX.errors)
    day = datetime.fromtimestamp(first // 10**9, tz=UTC)
    expected = f"{day:%Y-%m-%dT%H:%M:%S}.{first // 10**6 % 1000:03d}Z"
    assert min(r["first seen"] for r in json.loads(out)) == expected


def test_tables_are_readable_in_a_terminal(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", "stages", "--dir", str(data_dir))
    assert code == 0
    assert "Workflow stages" in out
    for stage_id in {r.stage_id for r in MIX.runs}:
        assert stage_id in out


def test_post_and_trace_views(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    post_id = MIX.runs[0].post_id
    code, out, _ = run(capsys, "post", post_id, "--dir", str(data_dir), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["stage_id"] for r in rows] == [r.stage_id for r in MIX.runs if r.post_id == post_id]

    trace_id = rows[0]["trace_id"]
    code, out, _ = run(capsys, "trace", trace_id, "--dir", str(data_dir))
    assert code == 0
    assert f"Trace {trace_id}" in out and "stage research" in out and "█" in out
    code, out, _ = run(capsys, "trace", trace_id.upper(), "--dir", str(data_dir), "--format", "csv")
    assert code == 0
    assert len(list(csv.DictReader(io.StringIO(out)))) == sum(
        1 + len(r.calls) for r in MIX.runs if r.post_id == post_id
    )


def test_the_data_dir_setting_is_the_default(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMETRY_DATA_DIR", str(data_dir))
    code, out, _ = run(capsys, "report", "llm", "--format", "json")
    assert code == 0
    assert sum(r["calls"] for r in json.loads(out)) == len(MIX.runs)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["report", "errors", "--dir", "{missing}"], 2, "no telemetry data directory"),
        (["report", "errors", "--dir", "{empty}"], 2, "no telemetry files"),
        (["report", "errors", "--dir", "{data}", "--since", "yesterday"], 2, "not a time"),
        (["report", "errors", "--dir", "{data}", "--since", "1h", "--until", "2h"], 2,
         "--since must be before --until"),
        (["report", "trends", "--dir", "{data}", "--bucket", "0s"], 2, "longer than zero"),
        (["report", "trends", "--dir", "{data}", "--bucket", "hourly"], 2, "not a duration"),
        (["post", "no-such-post", "--dir", "{data}"], 1, "no stages recorded"),
        (["trace", "0" * 32, "--dir", "{data}"], 1, "no spans for trace"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_message_and_exit_code(
    argv: list[str], code: int, message: str, data_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "data": data_dir}
    got, out, err = run(capsys, *(a.format(**paths) for a in argv))
    assert got == code
    assert message in err and "Traceback" not in err
    assert out == ""


def test_corrupt_lines_are_reported_once(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(data_dir / "traces.jsonl", "ab") as out:
        out.write(b'\x00garbage\n{"resourceSpans": 3}\n')
    code, _, err = run(capsys, "report", "queries", "--dir", str(data_dir))
    assert code == 0
    assert "skipped 2 corrupt or unreadable lines in traces.jsonl" in err
    code, _, err = run(capsys, "report", "queries", "--dir", str(data_dir))
    assert code == 0 and "corrupt" not in err
