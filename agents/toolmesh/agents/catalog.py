"""The tool catalog: every tool of every known MCP server, with retrieval over names, descriptions
and schemas.

The planner builds it from discovery (servers) and ``tools/list`` (tools), caches it, and finds the tool
for each capability it needs by :meth:`Catalog.search` (BM25 over each tool's name, title, description,
argument names and argument descriptions; see :mod:`toolmesh.agents.capabilities`). The executor asks
it for fallbacks (:meth:`Catalog.candidates`) and for which results may be cached
(:meth:`ToolInfo.cacheable`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mcp_types as mt

from toolmesh.agents.discovery import ServerRef
from toolmesh.agents.mcp import McpPool
from toolmesh.protocols.text import Analyzer

__all__ = ["Catalog", "CatalogCache", "ToolHit", "ToolInfo", "tokenize"]

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _analyzer() -> Analyzer:
    return Analyzer()


def tokenize(text: str) -> list[str]:
    """Terms for ranking tools: the shared analyser's (stemmed English, jieba-segmented Chinese), with
    identifiers split on ``_`` and camelCase first."""
    return _analyzer().terms(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).replace("_", " "))


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool of one server, as ``tools/list`` described it."""

    server: ServerRef
    name: str
    description: str = ""
    title: str | None = None
    input_schema: Mapping[str, Any] | None = None
    read_only: bool = False
    idempotent: bool = False
    open_world: bool = True
    destructive: bool = True  # MCP's default for a tool that is not read-only

    @classmethod
    def from_mcp(cls, server: ServerRef, tool: mt.Tool) -> ToolInfo:
        notes = tool.annotations
        return cls(
            server=server,
            name=tool.name,
            description=tool.description or "",
            title=tool.title or (notes.title if notes else None),
            input_schema=dict(tool.input_schema),
            read_only=bool(notes and notes.read_only_hint),
            idempotent=bool(notes and notes.idempotent_hint),
            open_world=not (notes is not None and notes.open_world_hint is False),
            destructive=not (notes is not None and notes.destructive_hint is False),
        )

    @property
    def cacheable(self) -> bool:
        """Safe to serve from a cache: read-only, idempotent and not reaching an open world."""
        return self.read_only and self.idempotent and not self.open_world

    def properties(self) -> dict[str, Mapping[str, Any]]:
        props = (self.input_schema or {}).get("properties") or {}
        return {k: v for k, v in props.items() if isinstance(v, Mapping)}

    def required(self) -> list[str]:
        return [str(r) for r in (self.input_schema or {}).get("required") or []]

    def document(self) -> str:
        """The text retrieval indexes for this tool."""
        parts = [self.name, self.name, self.title or "", self.description, self.server.name, self.server.name]
        for prop, spec in self.properties().items():
            parts.append(prop)
            parts.append(str(spec.get("description") or ""))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class ToolHit:
    tool: ToolInfo
    score: float


@dataclass(slots=True)
class Catalog:
    """The tools of a set of servers, searchable."""

    tools: list[ToolInfo] = field(default_factory=list)
    servers: list[ServerRef] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    _docs: list[Counter[str]] = field(default_factory=list, init=False, repr=False)
    _df: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _avg: float = field(default=1.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._docs = [Counter(tokenize(t.document())) for t in self.tools]
        self._df = Counter()
        for doc in self._docs:
            self._df.update(doc.keys())
        self._avg = (sum(sum(d.values()) for d in self._docs) / len(self._docs)) if self._docs else 1.0

    def tool(self, server: str, name: str) -> ToolInfo | None:
        for info in self.tools:
            if info.name == name and server in (info.server.name, info.server.id):
                return info
        return None

    def candidates(self, server: str, tool: str) -> list[ToolInfo]:
        """Servers offering ``tool``: those named ``server`` first, then any other (the fallbacks)."""
        primary = [t for t in self.tools if t.name == tool and server in (t.server.name, t.server.id)]
        others = [t for t in self.tools if t.name == tool and t not in primary]
        return primary + others

    def schemas(self) -> dict[str, dict[str, Mapping[str, Any] | None]]:
        """server name -> tool -> input schema, for :func:`toolmesh.agents.plan.validate_plan`."""
        out: dict[str, dict[str, Mapping[str, Any] | None]] = {}
        for info in self.tools:
            out.setdefault(info.server.name, {})[info.name] = info.input_schema
            out.setdefault(info.server.id, {})[info.name] = info.input_schema
        return out

    def search(self, query: str, *, k: int = 5, read_only: bool = True) -> list[ToolHit]:
        """The ``k`` tools best matching ``query`` (BM25 over :meth:`ToolInfo.document`)."""
        terms = tokenize(query)
        if not terms or not self.tools:
            return []
        n = len(self.tools)
        hits: list[ToolHit] = []
        for info, doc in zip(self.tools, self._docs, strict=True):
            if read_only and not info.read_only:
                continue
            length = sum(doc.values()) or 1
            score = 0.0
            for term in terms:
                tf = doc.get(term, 0)
                if not tf:
                    continue
                idf = math.log(1 + (n - self._df[term] + 0.5) / (self._df[term] + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / self._avg))
            if score > 0:
                hits.append(ToolHit(info, score))
        hits.sort(key=lambda h: (-h.score, h.tool.server.name, h.tool.name))
        return hits[:k]

    def describe(self) -> list[dict[str, Any]]:
        """A compact JSON view (for a model's prompt or a status page)."""
        return [
            {
                "server": t.server.name,
                "tool": t.name,
                "description": t.description[:500],
                "input_schema": t.input_schema,
                "read_only": t.read_only,
            }
            for t in self.tools
        ]


class CatalogCache:
    """Builds catalogs from servers with ``tools/list`` and keeps each server's list for its TTL.

    A server's own cache hint (``ttl_ms`` on ``tools/list``) wins when it gives one above zero; otherwise
    the list is kept for ``ttl`` seconds. Servers that fail to list are left out (and named in ``errors``).
    """

    def __init__(self, pool: McpPool, *, ttl: float = 30.0, clock: Any = time.monotonic) -> None:
        self.pool = pool
        self.ttl = ttl
        self.clock = clock
        self._lists: dict[str, tuple[float, list[mt.Tool]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.stale_factor = 10.0
        self.fetches = 0

    async def build(self, servers: Iterable[ServerRef]) -> Catalog:
        tools: list[ToolInfo] = []
        errors: dict[str, str] = {}
        kept: list[ServerRef] = []
        for server in servers:
            try:
                listed = await self._list(server)
            except Exception as exc:  # one bad server must not hide the others
                errors[server.id] = str(exc)
                continue
            kept.append(server)
            tools.extend(ToolInfo.from_mcp(server, tool) for tool in listed)
        return Catalog(tools=tools, servers=kept, errors=errors)

    async def _list(self, server: ServerRef) -> list[mt.Tool]:
        """The server's tools: fresh from the cache, refreshed once however many callers ask at the same
        time, or — when a refresh fails — the last list (for up to ``stale_factor`` TTLs)."""
        hit = self._lists.get(server.id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        async with self._locks.setdefault(server.id, asyncio.Lock()):
            now = self.clock()
            hit = self._lists.get(server.id)
            if hit is not None and hit[0] > now:
                return hit[1]
            try:
                listed, hint = await self.pool.list_tools(server)
            except Exception:
                if hit is not None and now - hit[0] <= self.ttl * self.stale_factor:
                    logger.warning("tools/list of %s failed; using the list from before", server.id)
                    return hit[1]
                raise
            self.fetches += 1
            ttl = hint if hint else self.ttl
            self._lists[server.id] = (now + ttl, listed)
            return listed

    def invalidate(self, server_id: str | None = None) -> None:
        if server_id is None:
            self._lists.clear()
        else:
            self._lists.pop(server_id, None)
