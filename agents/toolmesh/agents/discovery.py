"""How agents find each other and the MCP servers: a small interface, in memory or over the registry.

A :class:`ServerRef` names one reachable MCP server: a registry entry id, its logical name (``sql``,
``docs``, ``code``, or whatever it registered as) and its Streamable HTTP URL. Tests may put an in-process
FastMCP server in ``target`` instead of a URL. (Here, not beside the MCP client pool: finding servers must not
import the MCP client, seconds of an agent's start.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from a2a.types import AgentCard

from toolmesh.agents.errors import AgentNotFound, TransientToolError
from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.registry_client import RegistryClient

__all__ = ["Discovery", "MemoryDiscovery", "RegistryDiscovery", "ServerRef", "skills_of"]


@dataclass(frozen=True, slots=True)
class ServerRef:
    """One MCP server: unique ``id``, logical ``name``, Streamable HTTP ``url`` (or an in-process target)."""

    id: str
    name: str
    url: str | None = None
    target: Any = field(default=None, compare=False, hash=False, repr=False)
    description: str = field(default="", compare=False)

    def connect_target(self) -> Any:
        if self.target is not None:
            return self.target
        if self.url is None:
            raise TransientToolError(f"server {self.id!r} has neither a URL nor an in-process target")
        return self.url


def skills_of(card: AgentCard) -> list[str]:
    return [skill.id for skill in card.skills]


@runtime_checkable
class Discovery(Protocol):
    async def find_agents(self, skill: str) -> list[AgentCard]:
        """Agents offering ``skill``, best first (raises AgentNotFound when there is none)."""
        ...

    async def list_servers(self) -> list[ServerRef]:
        """Every MCP server known now."""
        ...

    async def skills(self) -> list[str]:
        """Every skill some agent offers."""
        ...

    async def refresh(self) -> None:
        """Forget cached answers (after a peer was lost)."""
        ...


class MemoryDiscovery:
    """Cards and servers held in memory (tests, single-process demos)."""

    def __init__(self, cards: Iterable[AgentCard] = (), servers: Iterable[ServerRef] = ()) -> None:
        self.cards = list(cards)
        self.servers = list(servers)

    def add_card(self, card: AgentCard) -> None:
        self.cards = [
            c
            for c in self.cards
            if c.name != card.name or c.supported_interfaces != card.supported_interfaces
        ]
        self.cards.append(card)

    def remove_card(self, card: AgentCard) -> None:
        self.cards = [c for c in self.cards if c is not card]

    async def find_agents(self, skill: str) -> list[AgentCard]:
        found = [c for c in self.cards if skill in skills_of(c)]
        if not found:
            raise AgentNotFound(f"no agent offers skill {skill!r}", hint="Start one, or check the registry.")
        return found

    async def list_servers(self) -> list[ServerRef]:
        return list(self.servers)

    async def skills(self) -> list[str]:
        return sorted({s for c in self.cards for s in skills_of(c)})

    async def refresh(self) -> None:
        return None


class RegistryDiscovery:
    """Discovery through the registry's JSON API (cached by the client; stale answers during outages)."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    async def find_agents(self, skill: str) -> list[AgentCard]:
        try:
            views = await self.client.find_agents(skill=skill)
        except ToolmeshError as exc:
            raise AgentNotFound(f"cannot look up skill {skill!r} in the registry: {exc}") from exc
        cards = [v.card() for v in views if v.health != "down"]
        if not cards:
            raise AgentNotFound(
                f"no healthy agent offers skill {skill!r}", hint="Start one; it registers itself."
            )
        return cards

    async def list_servers(self) -> list[ServerRef]:
        page = await self.client.search(kind="server", limit=100)
        refs: list[ServerRef] = []
        for view in page.items:
            if view.health == "down":
                continue
            entry = view.server()
            if entry.transport == "streamable-http" and entry.url:
                refs.append(
                    ServerRef(id=view.id, name=entry.name, url=entry.url, description=entry.description)
                )
        return refs

    async def skills(self) -> list[str]:
        page = await self.client.search(kind="agent", limit=100)
        return sorted({s for v in page.items for s in v.skills})

    async def refresh(self) -> None:
        self.client.forget()
