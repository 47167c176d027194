"""Secret scrubbing shared by logs and spans.

Two cheap tests decide: a key whose name says it holds a secret (``password``,
``api_key``, ``authorization``...) has its whole value replaced; in any other
string value, the secret-shaped parts (a connection string's password, a bearer
token, ``sk-...``-style API keys, ``password=...`` pairs) are replaced in place.
Values are also bounded here: text over the limit is cut and marked, so a huge
prompt or message cannot blow up a batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|apikey|authorization|auth[_-]?header|cookie"
    r"|credential|private[_-]?key|session[_-]?id|dsn)$",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(?P<url>(?<=://)[^/\s:@]*:)[^/\s@]+(?=@)"  # scheme://user:PASSWORD@host
    r"|(?P<bearer>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"  # OpenAI/Stripe-style keys
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|(?P<detail>\bDETAIL:[ \t]*)[^\n]+"  # PostgreSQL quoting the offending values
    r"|(?P<pair>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*)[^\s&;,'\"]+",
    re.IGNORECASE,
)
# Cheap pre-filter: a value without any of these cannot match _SECRET_VALUE.
_HINTS = ("@", "earer", "asic", "k-", "AKIA", "gh", "=", ":", "DETAIL")


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether an attribute or log key names a secret (its value is dropped whole)."""
    last = key.rsplit(".", 1)[-1]
    return bool(_SECRET_KEY.search(last))


def _replace(match: re.Match[str]) -> str:
    for group in ("url", "bearer", "detail", "pair"):
        prefix = match.group(group)
        if prefix:
            return prefix + REDACTED
    return REDACTED


def scrub_text(text: str) -> str:
    """``text`` with secret-shaped parts replaced by ``[REDACTED]``."""
    if len(text) <= _CACHED_MAX_CHARS:
        return _scrub_short(text)
    return _scrub(text)


# Short values (ids, names, statements) repeat across spans: remember their result.
_CACHED_MAX_CHARS = 512


@lru_cache(maxsize=8192)
def _scrub_short(text: str) -> str:
    return _scrub(text)


def _scrub(text: str) -> str:
    if not any(hint in text for hint in _HINTS):
        return text
    return _SECRET_VALUE.sub(_replace, text)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def scrub_value(key: str, value: Any) -> Any:
    """The value to record for ``key``: redacted whole, scrubbed in place, or unchanged."""
    if is_secret_key(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_mapping(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """A scrubbed copy of ``attributes``, or ``None`` when nothing needed scrubbing."""
    changed: dict[str, Any] | None = None
    for key, value in attributes.items():
        new = scrub_value(key, value)
        if new is not value and new != value:
            if changed is None:
                changed = dict(attributes)
            changed[key] = new
    return changed
