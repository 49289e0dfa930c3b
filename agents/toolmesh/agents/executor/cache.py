"""A TTL + LRU cache of read-only tool results that follows the servers' hints.

A result is cached only when the tool says it is safe to (annotations ``readOnlyHint`` and
``idempotentHint`` true, ``openWorldHint`` not true). A result may shorten or forbid its own caching with
``_meta`` hints (``ttl_ms`` / ``ttlMs``; 0 means do not cache). Entries are keyed by the caller's
principal too, since MCP results are private by default (``cache_scope``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from toolmesh.agents.mcp import ToolOutcome

__all__ = ["ResultCache", "cache_ttl_hint"]


def cache_ttl_hint(meta: Mapping[str, Any]) -> float | None:
    """The TTL (seconds) a result's ``_meta`` asks for, or None when it gives none."""
    for key in ("ttl_ms", "ttlMs"):
        value = meta.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value) / 1000.0
    return None


class ResultCache:
    """Cached :class:`ToolOutcome` by (server name, tool, arguments[, principal])."""

    def __init__(
        self, *, ttl: float = 60.0, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, ToolOutcome]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(server: str, tool: str, arguments: Mapping[str, Any], principal: str | None = None) -> str:
        args = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
        return json.dumps([server, tool, args, principal])

    def get(self, key: str) -> ToolOutcome | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self.clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: str, outcome: ToolOutcome) -> bool:
        """Store ``outcome`` unless its hints forbid it; returns whether it was stored."""
        ttl = self.ttl
        hint = cache_ttl_hint(outcome.meta)
        if hint is not None:
            ttl = min(ttl, hint)
        if ttl <= 0 or self.max_entries <= 0:
            return False
        self._entries[key] = (self.clock() + ttl, outcome)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
