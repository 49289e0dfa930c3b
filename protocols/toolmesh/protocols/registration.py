"""An MCP server's entry in the registry: what it is built from, and keeping it there while serving.

- :func:`server_entry` snapshots a FastMCP server's tools into an :class:`McpServerEntry` (``toolmesh up``
  and ``toolmesh serve NAME --register URL`` register the same shape, so agents see no difference).
- :func:`advertised_url` is the endpoint URL the entry names: ``public_url`` (a base URL) plus the path, or
  the bound address; a wildcard bind address is refused rather than guessed.
- :func:`registered` keeps the entry registered (heartbeats, backoff, loud failures: see
  :mod:`toolmesh.protocols.presence`) until the block exits, then deregisters it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from toolmesh.protocols.cards import EntryView, McpServerEntry, McpTool
from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.presence import Presence, Registrant
from toolmesh.protocols.registry_client import RegistryClient

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["advertised_url", "registered", "server_entry"]

_WILDCARDS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 (recognised, not bound)


async def server_entry(name: str, url: str, server: FastMCP[Any]) -> McpServerEntry:
    """The registry entry of an MCP server served at ``url``, with a snapshot of its tools."""
    tools = []
    for tool in await server.list_tools():
        notes = tool.annotations
        tools.append(
            McpTool(
                name=tool.name,
                title=tool.title,
                description=(tool.description or "")[:4096],
                input_schema=dict(tool.parameters),
                read_only=bool(notes and notes.read_only_hint),
            )
        )
    return McpServerEntry(name=name, description=server.instructions or "", url=url, tools=tools)


def advertised_url(*, host: str, port: int, path: str, public_url: str | None, setting: str) -> str:
    """The MCP endpoint URL to register: ``public_url`` + ``path``, else ``http://host:port`` + ``path``.

    ``setting`` names the public-URL setting for the error raised when the server is bound to every
    interface (no single address to advertise)."""
    if public_url:
        return public_url.rstrip("/") + path
    if host in _WILDCARDS:
        raise ConfigError(
            f"bound to {host or 'every interface'}, this server has no one address to register",
            hint=f"Set --public-url (or {setting}) to the base URL clients reach it at, "
            "e.g. http://tools.example.com:8000.",
        )
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


@contextlib.asynccontextmanager
async def registered(
    server: FastMCP[Any],
    *,
    name: str,
    url: str,
    registry_url: str,
    token: str | None,
    env_prefix: str,
    interval: float | None = None,
) -> AsyncIterator[Presence]:
    """Keep ``server`` registered as ``name`` at ``url`` in the registry until the block exits."""
    entry = await server_entry(name, url, server)

    async def register(client: RegistryClient) -> EntryView:
        return await client.register_server(entry)

    registrant = Registrant(what=f"the MCP server {name!r}", url=url, env_prefix=env_prefix)
    async with (
        RegistryClient(registry_url, token=token) as client,
        client.keep_registered(register, interval=interval, registrant=registrant) as presence,
    ):
        yield presence
