"""Shared fixtures for the agent mesh tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from toolmesh.agents.catalog import Catalog, CatalogCache
from toolmesh.agents.demo import find_samples
from toolmesh.agents.mcp import McpPool, ServerRef


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
