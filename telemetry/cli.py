"""The `telemetry` command: one entry point, one module per sub-command.

Each sub-command lives in the module that owns its concern and exposes
``add_parser(subparsers)``; the parser it adds sets ``func`` to a callable taking
the parsed arguments and returning the exit code. Modules are imported only when
the command line is built, so ``import telemetry`` never pays for the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module path -> sub-commands it contributes (imported lazily, in this order)
_COMMAND_MODULES: tuple[str, ...] = (
    "telemetry.analysis.commands",
    "telemetry.health",
    "telemetry.replay",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every sub-command whose module is installed."""
    parser = argparse.ArgumentParser(
        prog="telemetry",
        description="Answer the blog team's questions from the telemetry files.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the package is not built yet
            raise
        add_parser = getattr(module, "add_parser", None)
        if add_parser is not None:
            add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
