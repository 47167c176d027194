"""The blog's cache: research notes by topic, in process or in Redis.

Both caches count every lookup as a hit or a miss through
``telemetry.resources.record_cache``, which feeds ``blog.cache.requests`` and
``blog.cache.hit_ratio``; both fit ``telemetry.health.cache_check`` (the
in-process one by its ``stats()``, Redis by ``ping()``). The async methods let
asyncio code use either without blocking its event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from telemetry import resources


class Cache(Protocol):
    """What the workflow needs from a cache."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    async def aget(self, key: str) -> str | None: ...

    async def aset(self, key: str, value: str) -> None: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class TTLCache:
    """A thread-safe in-process cache: entries expire after ``ttl_s``, oldest evicted first."""

    def __init__(self, *, ttl_s: float = 300.0, max_entries: int = 1024) -> None:
        if ttl_s <= 0 or max_entries <= 0:
            raise ValueError("ttl_s and max_entries must be positive")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]
                entry = None
            if entry is None:
                self._misses += 1
            else:
                self._hits += 1
        resources.record_cache(entry is not None)
        return None if entry is None else entry[1]

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    async def aget(self, key: str) -> str | None:
        return self.get(key)  # memory only: nothing to wait for

    async def aset(self, key: str, value: str) -> None:
        self.set(key, value)

    def stats(self) -> dict[str, Any]:
        """The health check's view: size and hit counts since start."""
        with self._lock:
            return {
                "backend": "memory",
                "entries": len(self._entries),
                "hits": self._hits,
                "misses": self._misses,
            }

    def describe(self) -> str:
        return f"in-process TTL cache ({self.ttl_s:.0f}s)"

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisCache:
    """Redis as the cache (``REDIS_URL``); values expire after ``ttl_s``."""

    def __init__(self, url: str, *, ttl_s: float = 300.0, prefix: str = "blog:") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "REDIS_URL is set but redis-py is missing: pip install 'blog-telemetry[redis]'"
            ) from None
        from telemetry.health import without_password

        self._client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True
        )
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._where = without_password(url)

    def get(self, key: str) -> str | None:
        value = self._client.get(self.prefix + key)
        resources.record_cache(value is not None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        self._client.set(self.prefix + key, value, px=int(self.ttl_s * 1000))

    async def aget(self, key: str) -> str | None:
        # redis-py's sync client blocks: run it on a worker thread
        return await asyncio.to_thread(self.get, key)

    async def aset(self, key: str, value: str) -> None:
        await asyncio.to_thread(self.set, key, value)

    def ping(self) -> bool:
        """Used by ``telemetry.health.cache_check``."""
        return bool(self._client.ping())

    def describe(self) -> str:
        return f"Redis at {self._where}"

    def close(self) -> None:
        self._client.close()


def open_cache(redis_url: str | None) -> TTLCache | RedisCache:
    """Redis when ``redis_url`` is given (checked with a ``PING``), else the in-process cache."""
    if not redis_url:
        return TTLCache()
    cache = RedisCache(redis_url)
    try:
        cache.ping()
    except Exception as exc:
        cache.close()
        raise ConnectionError(f"cannot reach {cache.describe()}: {exc}") from exc
    return cache
