"""The MCP face: lets an LLM client browse the mesh (``find_agent``, ``find_server``, ``get_card``)."""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types as mt
from fastmcp import FastMCP
from pydantic import BaseModel, Field

from toolmesh.protocols.cards import EntryView, Health, SignatureCheck
from toolmesh.protocols.errors import InputError
from toolmesh.protocols.serving import new_server
from toolmesh.registry.service import Registry

__all__ = ["AgentMatch", "AgentMatches", "CardResult", "ServerMatch", "ServerMatches", "build_mcp_server"]

_READ_ONLY = mt.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_INSTRUCTIONS = (
    "The toolmesh registry: which A2A agents and MCP servers exist in this mesh, what they can do and "
    "whether they are up. find_agent by skill id or free text, find_server by tool name or free text, then "
    "get_card for the full agent card or server entry. "
    "Entries that are down are left out unless include_down is true."
)


class AgentMatch(BaseModel):
    id: str
    name: str
    description: str
    endpoint: str | None = Field(description="The preferred A2A endpoint (first supported interface).")
    bindings: list[str]
    skills: list[str]
    tags: list[str]
    health: Health
    last_heartbeat: float


class AgentMatches(BaseModel):
    agents: list[AgentMatch]
    truncated: bool = Field(description="More matches exist; narrow the search or raise limit.")


class ServerMatch(BaseModel):
    id: str
    name: str
    description: str
    transport: str
    url: str | None
    command: list[str] | None
    tools: list[str]
    health: Health
    last_heartbeat: float


class ServerMatches(BaseModel):
    servers: list[ServerMatch]
    truncated: bool


class CardResult(BaseModel):
    id: str
    kind: str
    health: Health
    health_detail: str
    signature: SignatureCheck
    document: dict[str, Any] = Field(description="The A2A agent card (JSON) or the MCP server entry.")


def _endpoint(view: EntryView) -> str | None:
    interfaces = view.document.get("supportedInterfaces") or []
    if interfaces and isinstance(interfaces[0], dict):
        url = interfaces[0].get("url")
        return url if isinstance(url, str) else None
    return None


def build_mcp_server(registry: Registry) -> FastMCP[Any]:
    """A FastMCP server over ``registry`` (read-only tools)."""
    server = new_server("registry", instructions=_INSTRUCTIONS)

    @server.tool(annotations=_READ_ONLY)
    async def find_agent(
        skill: Annotated[
            str | None, Field(max_length=150, description="Exact skill id, e.g. 'plan'.")
        ] = None,
        query: Annotated[
            str | None, Field(max_length=500, description="Free text over names, skills, tags.")
        ] = None,
        tag: Annotated[str | None, Field(max_length=150)] = None,
        include_down: bool = False,
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
    ) -> AgentMatches:
        """Find A2A agents in the mesh by skill id, tag or free text."""
        if not (skill or query or tag):
            raise InputError(
                "give a skill, a tag or a query", hint="For example skill='plan' or query='review'."
            )
        page = await registry.search(
            registry.query(
                kind="agent", skill=skill, tag=tag, text=query, include_down=include_down, limit=limit
            )
        )
        return AgentMatches(
            agents=[
                AgentMatch(
                    id=v.id,
                    name=v.name,
                    description=v.description,
                    endpoint=_endpoint(v),
                    bindings=v.bindings,
                    skills=v.skills,
                    tags=v.tags,
                    health=v.health,
                    last_heartbeat=v.last_heartbeat,
                )
                for v in page.items
            ],
            truncated=page.next_cursor is not None,
        )

    @server.tool(annotations=_READ_ONLY)
    async def find_server(
        tool: Annotated[str | None, Field(max_length=150, description="Exact MCP tool name.")] = None,
        query: Annotated[
            str | None, Field(max_length=500, description="Free text over names and tools.")
        ] = None,
        include_down: bool = False,
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
    ) -> ServerMatches:
        """Find MCP servers in the mesh by tool name or free text."""
        if not (tool or query):
            raise InputError(
                "give a tool name or a query", hint="For example tool='run_query' or query='sql'."
            )
        page = await registry.search(
            registry.query(kind="server", tool=tool, text=query, include_down=include_down, limit=limit)
        )
        return ServerMatches(
            servers=[
                ServerMatch(
                    id=v.id,
                    name=v.name,
                    description=v.description,
                    transport=str(v.document.get("transport", "")),
                    url=v.url,
                    command=v.document.get("command"),
                    tools=v.tools,
                    health=v.health,
                    last_heartbeat=v.last_heartbeat,
                )
                for v in page.items
            ],
            truncated=page.next_cursor is not None,
        )

    @server.tool(annotations=_READ_ONLY)
    async def get_card(
        id: Annotated[str, Field(min_length=1, max_length=128, description="Entry id.")],
    ) -> CardResult:
        """The full agent card or MCP server entry of one registry entry."""
        view = await registry.get(id)
        return CardResult(
            id=view.id,
            kind=view.kind,
            health=view.health,
            health_detail=view.health_detail,
            signature=view.signature,
            document=view.document,
        )

    return server
