"""A toolmesh agent with a gRPC interface on real sockets, for the gRPC tests (ours and the JS SDK's).

``"confirm ..."`` makes it ask for input, ``"wait"`` works until cancelled, anything else completes (echoed
upper-case into an artifact). :func:`grpc_agent` serves it (``auth=True``: bearer token :data:`TOKEN`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from a2a.client import A2ACardResolver
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import AgentCard, AgentSkill, Part

from toolmesh.agents.runtime import AgentApp, build_agent, new_task, updater_for
from toolmesh.agents.settings import AgentSettings
from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import AuthSettings, TokenGrant, hash_token

TOKEN = "grpc-test-token"


class _Turns(AgentExecutor):
    """ "confirm ..." asks for input, "wait" works until cancelled, anything else completes (echoed)."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(context, "grpc-test"))
        updater = updater_for(context, event_queue)
        await updater.start_work()
        text = context.get_user_input()
        if text.startswith("confirm"):
            await updater.requires_input(updater.new_agent_message([Part(text="which one?")]))
        elif text == "wait":
            await asyncio.Event().wait()  # until CancelTask cancels it
        else:
            await updater.add_artifact([Part(text=text.upper())], name="echo")
            await updater.complete(updater.new_agent_message([Part(text="finished")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await updater_for(context, event_queue).cancel()


@dataclass
class Served:
    base: str
    agent: AgentApp
    card: AgentCard
    http: httpx.AsyncClient

    @property
    def grpc_url(self) -> str:
        return str(next(i.url for i in self.card.supported_interfaces if i.protocol_binding == "GRPC"))


@asynccontextmanager
async def grpc_agent(*, auth: bool = False, **overrides: Any) -> AsyncIterator[Served]:
    grants = {hash_token(TOKEN): TokenGrant(client_id="alice")} if auth else {}
    settings = AgentSettings(
        task_db_url="memory://", graceful_timeout=2, auth=AuthSettings(tokens=grants), **overrides
    )
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    skill = AgentSkill(id="t", name="t", description="turns", tags=["test"], input_modes=["text/plain"])
    agent = build_agent(
        name="grpc-test",
        description="test",
        skills=[skill],
        executor=_Turns(),
        settings=settings,
        base_url=base,
    )
    headers = {"authorization": f"Bearer {TOKEN}"} if auth else {}
    with anyio.fail_after(60):
        async with running(agent.app, settings, sock=sock), httpx.AsyncClient(headers=headers) as http:
            card = await A2ACardResolver(http, base).get_agent_card()  # the card stays HTTP
            yield Served(base=base, agent=agent, card=card, http=http)
