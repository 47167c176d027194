"""Application code with known bugs, for fingerprinting tests (imported in two processes)."""

from __future__ import annotations

import sys


class PostNotFound(LookupError):
    pass


def load_post(post_id: str, attempt: int) -> None:
    raise PostNotFound(f"post '{post_id}' not found after {attempt} tries at {id(post_id):#x}")


def save_post(post_id: str, attempt: int) -> None:
    # the same type and the same message as load_post, but another bug
    raise PostNotFound(f"post '{post_id}' not found after {attempt} tries at {id(post_id):#x}")


def caught(func: object, *args: object) -> BaseException:
    try:
        func(*args)  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


if __name__ == "__main__":
    from telemetry.errors import fingerprint

    which = load_post if sys.argv[1] == "load" else save_post
    print(fingerprint(caught(which, sys.argv[2], int(sys.argv[3]))))
