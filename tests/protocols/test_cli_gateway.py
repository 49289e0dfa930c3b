"""The umbrella CLI and the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client
from typer.testing import CliRunner

from toolmesh.protocols.cli import app
from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.gateway import build_gateway, mount_all
from toolmesh.protocols.plugins import ServerSpec, discover_servers
from toolmesh.protocols.serving import new_server
from toolmesh.protocols.settings import ServingSettings, hash_token, override
from toolmesh.protocols.version import package_version

from .conftest import make_server

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip().split(".")[0].isdigit()


@pytest.mark.asyncio
async def test_servers_report_the_package_version() -> None:
    """One version, from the package metadata: `toolmesh version` and a server's initialize reply."""
    printed = runner.invoke(app, ["version"]).stdout.strip()
    async with Client(new_server("versioned")) as client:
        assert client.server_info is not None
        assert client.server_info.version == printed == package_version()


def test_token_hash() -> None:
    result = runner.invoke(app, ["token", "hash", "s3cret"])
    assert result.exit_code == 0 and result.stdout.strip() == hash_token("s3cret")


def test_unknown_server_is_a_clear_error() -> None:
    result = runner.invoke(app, ["serve", "no-such-server"])
    assert result.exit_code == 2
    assert "no server named 'no-such-server'" in result.stderr
    assert "Installed servers:" in result.stderr


@pytest.mark.parametrize("name", ["sql", "all"])
def test_an_invalid_override_is_refused_like_an_invalid_setting(name: str) -> None:
    """--port 999999 is checked as TOOLMESH_SQL_PORT=999999 would be, not carried into the server."""
    result = runner.invoke(app, ["serve", name, "--transport", "http", "--port", "999999"])
    assert result.exit_code == 2, result.output
    assert "port=999999 is invalid" in result.stderr and "less than or equal to 65535" in result.stderr


def test_override_validates_and_keeps_the_rest() -> None:
    base = ServingSettings(host="localhost", port=9100)
    changed = override(base, port=9200, allowed_hosts=["example.test"])
    assert (changed.host, changed.port, changed.allowed_hosts) == ("localhost", 9200, ["example.test"])
    assert base.port == 9100 and override(base) is base
    with pytest.raises(ConfigError, match="transport='carrier-pigeon' is invalid"):
        override(base, transport="carrier-pigeon")


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
