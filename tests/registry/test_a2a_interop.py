"""Cards as a2a-sdk serves them register as they are; the stored card round-trips to the SDK's type."""

from __future__ import annotations

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver
from a2a.server.routes import create_agent_card_routes
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette

from tests.registry.conftest import PUBLISHER_A, settings_for
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app


@pytest.mark.asyncio
async def test_sdk_served_card_registers_by_url_and_is_found_by_skill() -> None:
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    card = AgentCard(
        name="reviewer",
        description="Checks results against evidence.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"{base}/a2a/jsonrpc", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=f"{base}/a2a/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        default_input_modes=["text/plain"],
        default_output_modes=["application/json"],
        skills=[
            AgentSkill(id="review", name="Review", description="Verdicts with reasons", tags=["quality"])
        ],
    )
    agent = Starlette(routes=list(create_agent_card_routes(card)))
    settings = ServingSettings(transport="http", port=0)
    with anyio.fail_after(30):
        async with (
            running(agent, settings, sock=sock),
            running(build_app(settings_for()), settings) as registry_url,
            RegistryClient(registry_url, token=PUBLISHER_A) as registry,
        ):
            entry = await registry.register_agent(card_url=base)
            assert entry.url == f"{base}/.well-known/agent-card.json"
            assert entry.bindings == ["JSONRPC", "HTTP+JSON"]
            assert entry.capabilities == ["streaming", "push_notifications"]
            found = await registry.find_agents(skill="review")
            assert [e.id for e in found] == [entry.id]
            assert found[0].card() == card  # the stored card is the SDK's card, field for field
            async with httpx.AsyncClient() as http:
                served = await A2ACardResolver(http, base).get_agent_card()
            assert served == await registry.card(entry.id)
