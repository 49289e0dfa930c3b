"""The memory server over real transports — Streamable HTTP (in-process, a real socket) and stdio (a
subprocess), both on a SQLite file — and the server list that `serve all` mounts."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from toolmesh.protocols.plugins import discover_servers
from toolmesh.protocols.serving import mcp_http_app, running
from toolmesh.servers.memory import MemorySettings, build_server


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def _round_trip(client: Client[Any], user: str) -> None:
    added = data(
        await client.call_tool(
            "remember", {"text": f"{user} keeps bees on the roof", "scope": "user", "user_id": user}
        )
    )
    assert added["status"] == "added"
    recalled = data(await client.call_tool("recall", {"query": "who keeps bees", "user_id": user}))
    assert [h["memory"]["text"] for h in recalled["hits"]] == [f"{user} keeps bees on the roof"]
    await client.call_tool(
        "add_entities", {"entities": [{"name": user, "type": "person"}, {"name": "Roof", "type": "place"}]}
    )
    await client.call_tool(
        "add_relations", {"relations": [{"from": user, "to": "Roof", "relation_type": "keeps_bees_on"}]}
    )
    near = data(await client.call_tool("neighbors", {"entity": user}))
    assert {e["name"] for e in near["entities"]} == {user, "Roof"}


@pytest.mark.asyncio
async def test_http_round_trip_and_20_concurrent_recalls(tmp_path: Path) -> None:
    settings = MemorySettings(
        transport="http", port=0, store=f"sqlite:///{tmp_path / 'm.sqlite'}", embedder="none"
    )
    app = mcp_http_app(build_server(settings), settings)
    with anyio.fail_after(60):
        async with running(app, settings) as url, Client(url + settings.path) as client:
            await _round_trip(client, "alice")

            async def one(i: int) -> None:
                result = await client.call_tool("recall", {"query": "bees roof", "user_id": "alice"})
                assert data(result)["hits"], i

            await asyncio.gather(*(one(i) for i in range(20)))


@pytest.mark.asyncio
async def test_stdio_subprocess(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOOLMESH_MEMORY_STORE": f"sqlite:///{tmp_path / 'stdio.sqlite'}",
        "TOOLMESH_MEMORY_EMBEDDER": "none",
    }
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "toolmesh.servers.memory", "--transport", "stdio"],
        env=env,
        keep_alive=False,
    )
    with anyio.fail_after(60):
        async with Client(transport) as client:
            assert "recall" in {t.name for t in await client.list_tools()}
            await _round_trip(client, "bob")
    assert (tmp_path / "stdio.sqlite").exists()


def test_the_gateway_and_the_registry_of_servers_include_memory() -> None:
    specs = discover_servers()
    assert "memory" in specs and specs["memory"].in_gateway
