"""The gateway's exact response cache: a reply per canonical request, with a TTL.

The key is a hash of the request as sent (role, messages, tools, sampling, response format) — the
endpoint is not part of it, since any endpoint of a role answers the same request. SQLite is the
default (``sqlite:///PATH``, survives restarts, one file per host); ``redis://HOST:PORT/DB`` shares it
between replicas; ``memory://`` keeps it in the process; ``off`` disables it. Roles listed in
``no_cache`` are never cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import anyio

from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.model import ChatResult

__all__ = [
    "MemoryResponseCache",
    "RedisResponseCache",
    "ResponseCache",
    "SqliteResponseCache",
    "build_cache",
    "cache_key",
]


def cache_key(role: str, body: Mapping[str, Any]) -> str:
    canonical = json.dumps([role, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache(Protocol):
    async def get(self, key: str) -> ChatResult | None: ...

    async def put(self, key: str, result: ChatResult, ttl: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryResponseCache:
    """In-process, LRU-bounded."""

    def __init__(self, *, max_entries: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> ChatResult | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return ChatResult.model_validate_json(entry[1])

    async def put(self, key: str, result: ChatResult, ttl: float) -> None:
        self._entries[key] = (self.clock() + ttl, result.model_dump_json())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def aclose(self) -> None:
        self._entries.clear()


class SqliteResponseCache:
    """One table ``model_cache(key, expires, body)`` in a SQLite file (queries run off the event loop)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS model_cache (key TEXT PRIMARY KEY, expires REAL, body TEXT)"
        )

    def _get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM model_cache WHERE key = ? AND expires >= ?", (key, self.clock())
            ).fetchone()
        return str(row[0]) if row else None

    def _put(self, key: str, expires: float, body: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO model_cache (key, expires, body) VALUES (?, ?, ?)",
                (key, expires, body),
            )
            self._db.execute("DELETE FROM model_cache WHERE expires < ?", (self.clock(),))

    async def get(self, key: str) -> ChatResult | None:
        body = await anyio.to_thread.run_sync(self._get, key)
        return ChatResult.model_validate_json(body) if body else None

    async def put(self, key: str, result: ChatResult, ttl: float) -> None:
        await anyio.to_thread.run_sync(self._put, key, self.clock() + ttl, result.model_dump_json())

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


class RedisResponseCache:
    """Entries ``toolmesh:model:KEY`` with Redis's own expiry: shared by every replica using the URL."""

    def __init__(self, url: str, *, prefix: str = "toolmesh:model:") -> None:
        import redis.asyncio as redis  # only for deployments that share the cache

        self.prefix = prefix
        self._redis = redis.Redis.from_url(url)

    async def get(self, key: str) -> ChatResult | None:
        body = await self._redis.get(self.prefix + key)
        return ChatResult.model_validate_json(body) if body else None

    async def put(self, key: str, result: ChatResult, ttl: float) -> None:
        if ttl > 0:
            await self._redis.set(self.prefix + key, result.model_dump_json(), px=int(ttl * 1000))

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_cache(url: str) -> ResponseCache | None:
    """The cache ``url`` names: ``sqlite:///PATH``, ``redis://…``, ``memory://`` or ``off`` (None)."""
    if url in ("off", "none", ""):
        return None
    if url.startswith(("redis://", "rediss://")):
        return RedisResponseCache(url)
    if url.startswith("memory://"):
        return MemoryResponseCache()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.exists():
            raise MeshConfigError(
                f"the model cache's folder {str(path.parent)!r} does not exist",
                hint="Create it, or set TOOLMESH_AGENTS_MODEL__CACHE_URL=memory:// or off.",
            )
        return SqliteResponseCache(path)
    raise MeshConfigError(
        f"unsupported model cache URL {url!r}",
        hint="Use sqlite:///PATH, redis://HOST:PORT/DB, memory:// or off (TOOLMESH_AGENTS_MODEL__CACHE_URL).",
    )
