"""Secrets never leave the process: keys that name secrets, and secret-shaped text."""

from __future__ import annotations

import pytest

from telemetry.scrub import REDACTED, scrub_mapping, scrub_text, scrub_value, truncate


@pytest.mark.parametrize("key", ["password", "db.password", "api_key", "Authorization", "token"])
def test_values_under_secret_keys_are_replaced_whole(key: str) -> None:
    assert scrub_value(key, "hunter2") == REDACTED


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("postgresql://blog:s3cr3t@db:5432/blog", "postgresql://blog:", "s3cr3t"),
        ("redis://:s3cr3t@cache:6379/0", "redis://:", "s3cr3t"),
        ("Authorization: Bearer abcdef0123456789", "Bearer ", "abcdef0123456789"),
        ("using key sk-proj-abcdefghijklmnop1234", "using key", "sk-proj-abcdefghijklmnop1234"),
        ("retry with password=hunter2&user=x", "user=x", "hunter2"),
        ("aws AKIAABCDEFGHIJKLMNOP here", "aws", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_secret_shaped_parts_of_text_are_redacted_in_place(text: str, kept: str, gone: str) -> None:
    scrubbed = scrub_text(text)
    assert kept in scrubbed and gone not in scrubbed and REDACTED in scrubbed


def test_ordinary_text_and_values_pass_unchanged() -> None:
    assert scrub_text("drafted 900 words for post p-17") == "drafted 900 words for post p-17"
    assert scrub_value("word_count", 900) == 900
    assert scrub_mapping({"post_id": "p1", "stage_id": "draft"}) is None


def test_scrub_mapping_copies_only_when_something_changed() -> None:
    original = {"post_id": "p1", "password": "x"}
    scrubbed = scrub_mapping(original)
    assert scrubbed == {"post_id": "p1", "password": REDACTED}
    assert original["password"] == "x"


def test_truncate_marks_how_much_was_cut() -> None:
    assert truncate("abc", 5) == "abc"
    assert truncate("a" * 10, 4) == "aaaa…[truncated 6 chars]"
