"""Run a program as a user would, timing when its output ends and when it exits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    lines: list[str]
    stderr: str
    seconds_after_last_line: float
    """From the program's last stdout line (or its start, if it printed none) to its exit."""

    def describe(self) -> str:
        stdout = "\n".join(self.lines)
        return f"exit {self.returncode}\nstdout:\n{stdout}\nstderr:\n{self.stderr}"


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without OTEL_* / TELEMETRY_* settings, plus ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "TELEMETRY_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def run_timed(
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float = 120.0,
    cwd: Path = REPO,
) -> Run:
    """Run ``argv`` to completion, noting the time of each stdout line and of the exit.

    The program is killed after ``timeout`` seconds (its return code then shows it).
    """
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None
    stderr_text: list[str] = []
    stderr_reader = threading.Thread(target=lambda: stderr_text.append(stderr.read()))
    stderr_reader.start()
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    lines: list[str] = []
    last_line_at = time.monotonic()
    try:
        for line in stdout:
            lines.append(line.rstrip("\n"))
            last_line_at = time.monotonic()
        process.wait()
        exited_at = time.monotonic()
    finally:
        killer.cancel()
        stderr_reader.join()
    return Run(
        returncode=process.returncode,
        lines=lines,
        stderr="".join(stderr_text),
        seconds_after_last_line=exited_at - last_line_at,
    )


def python() -> str:
    """The interpreter running the tests (the project's virtual environment)."""
    return sys.executable


def run_blog(*args: str, timeout: float = 120.0, **env: str) -> Run:
    """Run the example blog (``python -m examples.blog ARGS``) with ``env`` added."""
    return run_timed([python(), "-m", "examples.blog", *args], clean_env(**env), timeout=timeout)
