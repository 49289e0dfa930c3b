"""An MCP server registering itself while it serves: the entry (with its tools), heartbeats, deregistration
on shutdown, the advertised URL, and the CLI's --register options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from tests.registry.conftest import ADMIN, PUBLISHER_A, settings_for
from toolmesh.protocols.cli import app as cli
from toolmesh.protocols.errors import ConfigError, NotFoundError
from toolmesh.protocols.presence import Presence
from toolmesh.protocols.registration import advertised_url, registered
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import bind_socket, mcp_http_app, new_server, running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app

EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (an address to advertise, never bound)


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def tiny_server() -> Any:
    server = new_server("tiny", instructions="A tiny server for registration tests.")

    @server.tool(annotations={"readOnlyHint": True})
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    return server


@pytest.mark.asyncio
async def test_a_served_mcp_server_registers_its_tools_heartbeats_and_deregisters_on_shutdown() -> None:
    server = tiny_server()
    settings = ServingSettings(transport="http", port=0)
    sock = bind_socket()
    url = advertised_url(
        host="127.0.0.1", port=sock.getsockname()[1], path="/mcp", public_url=None, setting="X"
    )
    presences: list[Presence] = []

    @contextlib.asynccontextmanager
    async def presence(registry_url: str) -> AsyncIterator[Presence]:
        async with registered(
            server,
            name="tiny",
            url=url,
            registry_url=registry_url,
            token=PUBLISHER_A,
            env_prefix="TOOLMESH_TINY_",
            interval=0.05,
        ) as p:
            presences.append(p)
            yield p

    with anyio.fail_after(60):
        async with (
            running(build_app(settings_for(ttl_seconds=3))) as registry_url,
            RegistryClient(registry_url, token=ADMIN, cache_ttl=0) as admin,
        ):
            served = mcp_http_app(server, settings, while_serving=lambda: presence(registry_url))
            async with running(served, settings, sock=sock):
                await until(lambda: bool(presences) and presences[0].heartbeats >= 2)
                entry_id = presences[0].entry_id
                assert entry_id is not None
                view = await admin.get(entry_id)
                entry = view.server()
                assert entry.name == "tiny" and entry.url == url and entry.transport == "streamable-http"
                assert [(t.name, t.read_only) for t in entry.tools] == [("shout", True)]
                assert view.owner == "team-a"
            with pytest.raises(NotFoundError):  # deregistered on shutdown
                await admin.get(entry_id)


def test_the_advertised_url_is_the_public_base_url_plus_the_path_or_the_bound_address() -> None:
    assert (
        advertised_url(host="127.0.0.1", port=8000, path="/mcp", public_url=None, setting="S")
        == "http://127.0.0.1:8000/mcp"
    )
    assert (
        advertised_url(host="::1", port=8000, path="/mcp", public_url=None, setting="S")
        == "http://[::1]:8000/mcp"
    )
    assert (
        advertised_url(
            host=EVERY_INTERFACE, port=1, path="/mcp", public_url="https://tools.example/sql/", setting="S"
        )
        == "https://tools.example/sql/mcp"
    )
    with pytest.raises(ConfigError, match="no one address") as refused:
        advertised_url(
            host=EVERY_INTERFACE, port=8000, path="/mcp", public_url=None, setting="TOOLMESH_SQL_PUBLIC_URL"
        )
    assert "TOOLMESH_SQL_PUBLIC_URL" in str(refused.value)


def test_register_needs_http_and_names_why() -> None:
    result = CliRunner().invoke(
        cli, ["serve", "sql", "--transport", "stdio", "--register", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert "--register needs the HTTP transport" in result.output
