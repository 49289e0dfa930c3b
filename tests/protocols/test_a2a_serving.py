"""The serving core fronts an A2A 1.0 agent the same way it fronts MCP: guards, health, metrics, real HTTP."""

from __future__ import annotations

import uuid

import anyio
import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers import get_artifact_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)

from toolmesh.protocols.serving import a2a_http_app, bind_socket, running
from toolmesh.protocols.settings import ServingSettings


class Upper(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        await updater.add_artifact([new_text_part(context.get_user_input().upper())], name="upper")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


@pytest.mark.asyncio
async def test_a2a_agent_behind_the_serving_core() -> None:
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    card = AgentCard(
        name="upper",
        description="Upper-cases text.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"{base}/a2a/jsonrpc", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=f"{base}/a2a/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="upper", name="Upper", description="Upper-case text", tags=["text"])],
    )
    handler = DefaultRequestHandler(agent_executor=Upper(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, rpc_url="/a2a/jsonrpc"),
        *create_rest_routes(handler, path_prefix="/a2a/rest"),
    ]
    settings = ServingSettings(transport="http", port=0)
    app = a2a_http_app(routes, settings, name="upper")
    with anyio.fail_after(30):
        async with running(app, settings, sock=sock) as url:
            assert url == base
            client = await create_client(base, client_config=ClientConfig(streaming=True))
            async with client:
                message = Message(
                    role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text="hello mesh")]
                )
                events = [ev async for ev in client.send_message(SendMessageRequest(message=message))]
            async with httpx.AsyncClient(base_url=base) as http:
                card_json = (await http.get("/.well-known/agent-card.json")).json()
                rebinding = await http.get("/.well-known/agent-card.json", headers={"host": "evil.example"})
                cross_site = await http.post(
                    "/a2a/jsonrpc",
                    json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
                    headers={"origin": "https://evil.example", "A2A-Version": "1.0"},
                )
                health = await http.get("/healthz")
                metrics = (await http.get("/metrics")).text
    final = [e.task for e in events if e.WhichOneof("payload") == "task"]
    updates = [e.status_update for e in events if e.WhichOneof("payload") == "status_update"]
    state = updates[-1].status.state if updates else final[-1].status.state
    assert state == TaskState.TASK_STATE_COMPLETED
    artifacts = [e.artifact_update.artifact for e in events if e.WhichOneof("payload") == "artifact_update"]
    assert artifacts and get_artifact_text(artifacts[0]) == "HELLO MESH"
    assert card_json["name"] == "upper" and card_json["skills"][0]["id"] == "upper"
    assert rebinding.status_code == 421
    assert cross_site.status_code == 403
    assert health.status_code == 200
    assert 'toolmesh_http_requests_total{method="POST",server="upper",status="200"}' in metrics
