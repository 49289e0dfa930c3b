"""The umbrella CLI and the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client
from typer.testing import CliRunner

from toolmesh.protocols.cli import app
from toolmesh.protocols.gateway import build_gateway, mount_all
from toolmesh.protocols.plugins import ServerSpec, discover_servers
from toolmesh.protocols.serving import new_server
from toolmesh.protocols.settings import ServingSettings, hash_token

from .conftest import make_server

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip().split(".")[0].isdigit()


def test_token_hash() -> None:
    result = runner.invoke(app, ["token", "hash", "s3cret"])
    assert result.exit_code == 0 and result.stdout.strip() == hash_token("s3cret")


def test_unknown_server_is_a_clear_error() -> None:
    result = runner.invoke(app, ["serve", "no-such-server"])
    assert result.exit_code == 2
    assert "no server named 'no-such-server'" in result.stderr
    assert "Installed servers:" in result.stderr


def test_servers_come_from_entry_points() -> None:
    specs = discover_servers()
    assert "fixture" in specs and not specs["fixture"].in_gateway
    listed = runner.invoke(app, ["servers"])
    assert listed.exit_code == 0 and "fixture" in listed.stdout


@pytest.mark.asyncio
async def test_gateway_namespaces_tools() -> None:
    other = new_server("other")

    @other.tool
    async def ping() -> str:
        """Answer pong."""
        return "pong"

    gateway = mount_all(new_server("gw"), {"echo": make_server(), "other": other})
    async with Client(gateway) as client:
        names = {t.name for t in await client.list_tools()}
        pong = await client.call_tool("other_ping", {})
        failure = await client.call_tool("echo_lookup", {"name": "nmae"}, raise_on_error=False)
    assert {"echo_echo", "echo_lookup", "echo_crash", "other_ping"} <= names
    assert pong.data == "pong"
    assert failure.is_error and "Did you mean" in failure.content[0].text  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_build_gateway_from_specs() -> None:
    spec = ServerSpec(
        name="echo", summary="echo", settings_type=ServingSettings, build=lambda _s: make_server()
    )
    gateway: Any = build_gateway({"echo": spec})
    async with Client(gateway) as client:
        result = await client.call_tool("echo_echo", {"text": "x"})
    assert result.structured_content == {"text": "x", "length": 1}
