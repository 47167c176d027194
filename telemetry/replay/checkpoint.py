"""The replay checkpoint: how many lines of each file a target has already been sent.

One JSON file holds progress per target (protocol and endpoint), so the same
file set can be shipped to several backends independently. Progress is saved
after every acknowledged request by writing a temporary file and renaming it
over the old one, so a killed replay leaves either the old or the new state,
never a torn file, and a rerun resends nothing that was acknowledged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_NAME = ".replay-checkpoint.json"
_VERSION = 1


class CheckpointError(Exception):
    """The checkpoint file cannot be read or written; the message says which and why."""


class Checkpoint:
    """Lines already handled per file identity, for one target."""

    def __init__(self, path: Path, target: str, *, fresh: bool = False) -> None:
        self.path = path
        self.target = target
        self._all: dict[str, Any] = (
            self._load() if path.exists() else {"version": _VERSION, "targets": {}}
        )
        targets: dict[str, dict[str, int]] = self._all["targets"]
        if fresh or target not in targets:
            targets[target] = {}
        self._done = targets[target]

    def done(self, identity: str) -> int:
        """How many leading lines of that file were already handled."""
        return self._done.get(identity, 0)

    def advance(self, identity: str, lines: int) -> None:
        """Record that the first ``lines`` lines of that file are handled, durably."""
        self._done[identity] = lines
        self.save()

    def save(self) -> None:
        """Write the checkpoint atomically; raise ``CheckpointError`` if the disk says no."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(self._all, separators=(",", ":")))
            os.replace(temporary, self.path)
        except OSError as exc:
            raise CheckpointError(
                f"cannot write the checkpoint {self.path}: {exc.strerror or exc}; "
                "pass --checkpoint with a writable path"
            ) from exc

    def _load(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"cannot read the checkpoint {self.path}: {exc}; "
                "delete it to start over, or pass --checkpoint with another path"
            ) from exc
        if (
            not isinstance(loaded, dict)
            or loaded.get("version") != _VERSION
            or not isinstance(loaded.get("targets"), dict)
        ):
            raise CheckpointError(
                f"{self.path} is not a replay checkpoint (version {_VERSION}); "
                "delete it to start over, or pass --checkpoint with another path"
            )
        return loaded
