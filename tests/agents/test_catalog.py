"""The tool catalog: caching of tools/list (TTL, server hints, single flight, stale on failure) and search."""

from __future__ import annotations

import asyncio

import mcp_types as mt
import pytest

from toolmesh.agents.capabilities import find
from toolmesh.agents.catalog import CatalogCache
from toolmesh.agents.discovery import ServerRef
from toolmesh.agents.errors import TransientToolError
from toolmesh.agents.mcp import McpPool

TOOLS = [
    mt.Tool(
        name="search_docs",
        description="Hybrid search over indexed documents with citations.",
        input_schema={"type": "object", "properties": {"query": {"type": "string"}}},
        annotations=mt.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    ),
    mt.Tool(
        name="run_query",
        description="Run one read-only SQL SELECT.",
        input_schema={"type": "object", "properties": {"sql": {"type": "string"}}},
        annotations=mt.ToolAnnotations(read_only_hint=True),
    ),
    mt.Tool(name="index", description="Index documents into a collection.", input_schema={"type": "object"}),
]


class CountingPool(McpPool):
    def __init__(self, hint: float | None = None) -> None:
        super().__init__()
        self.calls = 0
        self.fail = False
        self.hint = hint
        self.gate = asyncio.Event()
        self.gate.set()

    async def list_tools(
        self, server: ServerRef, *, time_limit: float = 15.0
    ) -> tuple[list[mt.Tool], float | None]:
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise TransientToolError("down")
        return TOOLS, self.hint


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


REF = ServerRef(id="s-1", name="s")


@pytest.mark.asyncio
async def test_lists_are_cached_for_the_ttl_refreshed_once_and_kept_when_a_refresh_fails() -> None:
    pool, clock = CountingPool(), Clock()
    cache = CatalogCache(pool, ttl=30.0, clock=clock)
    first = await cache.build([REF])
    await cache.build([REF])
    assert pool.calls == 1 and len(first.tools) == 3
    clock.now = 31.0
    pool.gate.clear()
    builds = [asyncio.create_task(cache.build([REF])) for _ in range(5)]
    await asyncio.sleep(0)
    pool.gate.set()
    await asyncio.gather(*builds)
    assert pool.calls == 2  # five concurrent callers, one refresh
    clock.now = 100.0
    pool.fail = True
    stale = await cache.build([REF])
    assert len(stale.tools) == 3 and not stale.errors
    clock.now = 10_000.0
    gone = await cache.build([REF])
    assert gone.tools == [] and "down" in gone.errors["s-1"]


@pytest.mark.asyncio
async def test_a_server_cache_hint_wins_and_search_ranks_read_only_tools() -> None:
    pool, clock = CountingPool(hint=5.0), Clock()
    cache = CatalogCache(pool, ttl=30.0, clock=clock)
    catalog = await cache.build([REF])
    clock.now = 6.0
    await cache.build([REF])
    assert pool.calls == 2
    hits = catalog.search("what do the documents say about refunds")
    assert hits[0].tool.name == "search_docs"
    run_sql = find(catalog, "run_sql")  # capabilities come from the tools' own metadata
    assert run_sql is not None and run_sql.tool.name == "run_query" and run_sql.argument == "sql"
    assert find(catalog, "traceback") is None  # no tool here maps stack traces: none is pretended
    assert all(h.tool.name != "index" for h in catalog.search("index documents collection"))
    info = catalog.tool("s", "search_docs")
    assert info is not None and info.cacheable and not catalog.tool("s", "run_query").cacheable  # type: ignore[union-attr]
