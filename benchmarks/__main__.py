"""``python -m benchmarks [core|db|logs|stage|llm|analysis|resources ...] [--quick]``.

Runs each benchmark group in its own interpreter (instrumentation installed by one
group, such as patched psycopg or global providers, cannot leak into another) and
prints the overhead table: each operation's cost with this package next to the
bare stack measured in the same process run. ``analysis`` and ``resources`` run
the modules of those names when they are present and print their own reports.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Row, format_table, read_rows, write_rows

CORE = ("db", "logs", "stage", "llm")
# Other benchmark modules, run as ``python -m benchmarks.<name> <args>`` when present:
# name -> (args when named on the command line, args in the default run, --quick args).
# The analysis benchmark's own default (a million spans and log records) takes about
# three minutes by itself, so the default run uses its 100,000-record size.
EXTRA: dict[str, tuple[list[str], list[str], list[str]]] = {
    "analysis": ([], ["--quick"], ["--quick"]),
    "resources": ([], [], ["--repeats", "50"]),
}
CHOICES = ("core", *CORE, *EXTRA)
GROUP_TIMEOUT_S = 600


def _present(name: str) -> bool:
    return importlib.util.find_spec(f"benchmarks.{name}") is not None


def _run_core(group: str, quick: bool, out: Path) -> list[Row] | None:
    command = [sys.executable, "-m", "benchmarks.overhead", group, "--json", str(out)]
    if quick:
        command.append("--quick")
    print(f"-- {group}: {' '.join(command[1:4])}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, timeout=GROUP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        print(f"-- {group}: no result within {GROUP_TIMEOUT_S}s", file=sys.stderr)
        return None
    if done.returncode != 0 or not out.exists():
        print(f"-- {group}: failed (exit {done.returncode})", file=sys.stderr)
        return None
    rows, _ = read_rows(out)
    return rows


def _run_extra(name: str, quick: bool, named: bool) -> bool:
    if not _present(name):
        print(f"\n== {name}: benchmarks/{name}.py is not there yet; skipped", flush=True)
        return True
    named_args, default_args, quick_args = EXTRA[name]
    extra_args = quick_args if quick else named_args if named else default_args
    command = [sys.executable, "-m", f"benchmarks.{name}", *extra_args]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    try:
        done = subprocess.run(command, timeout=GROUP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        print(f"== {name}: no result within {GROUP_TIMEOUT_S}s", flush=True)
        return False
    if done.returncode != 0:
        print(f"== {name}: failed (exit {done.returncode})", flush=True)
    return done.returncode == 0


def _selected(names: list[str]) -> list[str]:
    chosen: list[str] = []
    for name in names or ["core", *EXTRA]:
        for group in CORE if name == "core" else (name,):
            if group not in chosen:
                chosen.append(group)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Overhead of blog-telemetry next to the bare stack, and the other "
        "benchmark groups; each group runs in its own process.",
    )
    parser.add_argument(
        "groups",
        nargs="*",
        metavar="GROUP",
        help=f"any of {', '.join(CHOICES)} (default: core and every other group present; "
        "analysis then runs at its --quick size)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats")
    parser.add_argument("--json", type=Path, help="also write the overhead rows to this file")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in CHOICES]
    if unknown:  # checked here: argparse rejects an empty list against ``choices``
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(CHOICES)}")

    started = time.perf_counter()
    groups = _selected(args.groups)
    rows: list[Row] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for group in (g for g in groups if g in CORE):
            result = _run_core(group, args.quick, Path(tmp) / f"{group}.json")
            ok = ok and result is not None
            rows += result or []
    if rows:
        print("\nOverhead per operation, microseconds (medians; see benchmarks/README.md)\n")
        print(format_table(rows))
        if args.json:
            write_rows(args.json, rows, {"quick": args.quick})
    for name in (g for g in groups if g in EXTRA):
        ok = _run_extra(name, args.quick, named=name in args.groups) and ok
    print(f"\nbenchmarks done in {time.perf_counter() - started:.0f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
