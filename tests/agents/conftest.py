"""Shared fixtures for the agent mesh tests."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client

from toolmesh.agents.catalog import Catalog, CatalogCache
from toolmesh.agents.demo import find_samples
from toolmesh.agents.discovery import ServerRef
from toolmesh.agents.executor.engine import Engine, StepResult
from toolmesh.agents.mcp import McpPool
from toolmesh.agents.plan import Plan
from toolmesh.servers.sql.sample import ensure_sample


def real_servers(workdir: Path, samples: Path) -> dict[str, Any]:
    """The real docs, sql and code servers over the demo's sample data (docs BM25-only, not indexed)."""
    from toolmesh.servers.code import SPEC as CODE
    from toolmesh.servers.docs import SPEC as DOCS
    from toolmesh.servers.sql import SPEC as SQL

    return {
        "docs": DOCS.build_server(
            DOCS.load_settings(
                roots=[samples / "handbook"], index_path=workdir / "docs.sqlite", embedder="none"
            )
        ),
        "sql": SQL.build_server(SQL.load_settings(sample_path=workdir / "shop.sqlite")),
        "code": CODE.build_server(
            CODE.load_settings(root=samples / "shop", index_path=workdir / "code.sqlite")
        ),
    }


@pytest.fixture(autouse=True)
def _agents_workdir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents built from default settings keep their ids and stores under a temporary folder, never the
    checkout's ./.toolmesh (a test that cares sets its own workdir)."""
    monkeypatch.setenv("TOOLMESH_AGENTS_WORKDIR", str(tmp_path_factory.mktemp("agents-workdir")))


@pytest.fixture(scope="session")
def samples() -> Path:
    return find_samples()


@pytest_asyncio.fixture
async def real_catalog(tmp_path: Path, samples: Path) -> AsyncIterator[Catalog]:
    pool = McpPool()
    refs = [ServerRef(id=f"{n}-1", name=n, target=s) for n, s in real_servers(tmp_path, samples).items()]
    try:
        yield await CatalogCache(pool).build(refs)
    finally:
        await pool.aclose()


@dataclass
class Shop:
    """The real servers over the sample shop in-process, a catalog of their tools, and an engine that runs
    plans against them (the executor's engine, without the A2A hop)."""

    catalog: Catalog
    engine: Engine
    db: Path
    code: Path

    async def run_plan(self, plan: Plan, round_no: int) -> list[StepResult]:
        return await self.engine.run(plan, self.catalog)

    def gold(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    root = tmp_path_factory.mktemp("shop")
    samples = find_samples()
    ensure_sample(root / "shop.sqlite")
    servers = real_servers(root, samples)
    pool = McpPool()
    refs = [ServerRef(id=f"{n}-1", name=n, target=s) for n, s in servers.items()]
    async with Client(servers["docs"]) as docs:
        await docs.call_tool("index", {"paths": [str(samples / "handbook")], "collection": "handbook"})
    try:
        catalog = await CatalogCache(pool).build(refs)
        yield Shop(catalog=catalog, engine=Engine(pool), db=root / "shop.sqlite", code=samples / "shop")
    finally:
        await pool.aclose()
