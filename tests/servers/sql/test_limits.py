"""SQLite values have a size limit: one function call cannot allocate gigabytes (zeroblob, randomblob)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from fastmcp import Client

from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.sample import generate_sample
from toolmesh.servers.sql.settings import ConnectionSettings


@pytest.mark.asyncio
async def test_huge_values_are_refused_by_the_database(tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    generate_sample(db)
    settings = SqlSettings(connections={"shop": ConnectionSettings(url=f"sqlite:///{db}")})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with Client(build_server(settings)) as client:
        for sql in (
            "SELECT length(hex(zeroblob(150000000)))",
            "SELECT length(randomblob(1000000000))",
            "SELECT length(zeroblob(20000000)) FROM customers",
        ):
            result = await client.call_tool("run_query", {"sql": sql}, raise_on_error=False)
            assert result.is_error, sql
            assert "too big" in result.content[0].text
        small = await client.call_tool("run_query", {"sql": "SELECT length(zeroblob(1000)) AS n"})
    assert small.structured_content is not None and small.structured_content["rows"] == [[1000]]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"the process grew by {grown_mb:.0f} MB"
