"""The MCP face: find_agent, find_server and get_card, in-memory and over Streamable HTTP."""

from __future__ import annotations

import anyio
import httpx
import pytest
from fastmcp import Client

from tests.registry.conftest import (
    PUBLISHER_A,
    Api,
    auth,
    make_card,
    make_server_entry,
    register,
    settings_for,
)
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app

EPHEMERAL = ServingSettings(transport="http", port=0)


@pytest.mark.asyncio
async def test_tools_find_and_describe(api: Api) -> None:
    client, app = api
    with anyio.fail_after(20):
        planner = await register(
            client,
            make_card(
                "planner",
                skills=[
                    {
                        "id": "plan",
                        "name": "Plan",
                        "description": "Breaks a request into steps",
                        "tags": ["planning"],
                    }
                ],
            ),
        )
        await register(
            client,
            make_card(
                "reviewer",
                skills=[
                    {
                        "id": "review",
                        "name": "Review",
                        "description": "Checks answers against evidence",
                        "tags": ["quality"],
                    }
                ],
            ),
        )
        sql = (
            await client.post("/api/v1/servers", json=make_server_entry("sql"), headers=auth(PUBLISHER_A))
        ).json()
        async with Client(app.state.mcp) as mcp:
            tools = {t.name: t for t in await mcp.list_tools()}
            assert set(tools) == {"find_agent", "find_server", "get_card"}
            assert all(t.annotations is not None and t.annotations.read_only_hint for t in tools.values())
            found = await mcp.call_tool("find_agent", {"skill": "plan"})
            agents = found.structured_content["agents"]
            assert [a["name"] for a in agents] == ["planner"] and agents[0]["endpoint"].endswith(
                "/a2a/jsonrpc"
            )
            by_text = await mcp.call_tool("find_agent", {"query": "evidence"})
            assert [a["name"] for a in by_text.structured_content["agents"]] == ["reviewer"]
            servers = (await mcp.call_tool("find_server", {"tool": "run_query"})).structured_content[
                "servers"
            ]
            assert [s["id"] for s in servers] == [sql["id"]] and "describe_table" in servers[0]["tools"]
            card = (await mcp.call_tool("get_card", {"id": planner["id"]})).structured_content
            assert card["kind"] == "agent" and card["document"]["skills"][0]["id"] == "plan"
            missing = await mcp.call_tool("get_card", {"id": "no-such-entry"}, raise_on_error=False)
            assert missing.is_error and "no entry 'no-such-entry'" in missing.content[0].text
            empty = await mcp.call_tool("find_agent", {}, raise_on_error=False)
            assert empty.is_error and "give a skill" in empty.content[0].text


@pytest.mark.asyncio
async def test_mcp_over_http() -> None:
    app = build_app(settings_for())
    with anyio.fail_after(30):
        async with running(app, EPHEMERAL) as base, httpx.AsyncClient(base_url=base) as client:
            await register(client, make_card("executor"))
            async with Client(f"{base}/mcp") as mcp:
                result = await mcp.call_tool("find_agent", {"skill": "executor"})
                assert [a["name"] for a in result.structured_content["agents"]] == ["executor"]
