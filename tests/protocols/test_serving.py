"""The serving core in-process and over real HTTP: errors, masking, health, metrics, guards, limits."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastmcp import Client, FastMCP

from toolmesh.protocols.errors import (
    WIRE_CODES,
    InputError,
    NotFoundError,
    TimeoutExceeded,
    ToolmeshError,
    wire_code,
)
from toolmesh.protocols.serving import mcp_http_app, running
from toolmesh.protocols.settings import ServingSettings

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def http_settings(**kw: Any) -> ServingSettings:
    return ServingSettings(transport="http", port=0, **kw)


@pytest.mark.asyncio
async def test_toolmesh_error_becomes_actionable_is_error(server: FastMCP[Any]) -> None:
    async with Client(server) as client:
        result = await client.call_tool("lookup", {"name": "nmae"}, raise_on_error=False)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "no column 'nmae'" in text and "Did you mean `name`?" in text


@pytest.mark.asyncio
async def test_internal_errors_are_masked(server: FastMCP[Any]) -> None:
    async with Client(server) as client:
        result = await client.call_tool("crash", {}, raise_on_error=False)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "hunter2" not in text and "crash" in text


@pytest.mark.asyncio
async def test_structured_output(server: FastMCP[Any]) -> None:
    async with Client(server) as client:
        result = await client.call_tool("echo", {"text": "héllo"})
        tools = {t.name: t for t in await client.list_tools()}
    assert result.structured_content == {"text": "héllo", "length": 5}
    assert tools["echo"].output_schema is not None
    assert tools["echo"].annotations is not None and tools["echo"].annotations.read_only_hint is True


def test_wire_codes_cover_every_error_class() -> None:
    assert wire_code(InputError("x")).jsonrpc == -32602
    assert wire_code(NotFoundError("x")).http == 404
    assert wire_code(TimeoutExceeded("x")).retryable

    class Custom(NotFoundError):
        pass

    assert wire_code(Custom("x")) == WIRE_CODES[NotFoundError]
    assert wire_code(ValueError("x")) == WIRE_CODES[ToolmeshError]
    assert str(NotFoundError("no table 'x'", hint="Try list_tables.")) == "no table 'x'. Try list_tables."


@pytest.mark.asyncio
async def test_http_health_metrics_and_calls(server: FastMCP[Any]) -> None:
    settings = http_settings()
    with anyio.fail_after(30):
        async with running(mcp_http_app(server, settings), settings) as url:
            async with Client(f"{url}/mcp") as client:
                assert (await client.call_tool("echo", {"text": "hi"})).structured_content == {
                    "text": "hi",
                    "length": 2,
                }
                await client.call_tool("lookup", {"name": "x"}, raise_on_error=False)
            async with httpx.AsyncClient(base_url=url) as http:
                health = await http.get("/healthz")
                metrics = (await http.get("/metrics")).text
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert 'toolmesh_tool_calls_total{server="echo",tool="echo"} 1.0' in metrics
    assert 'toolmesh_tool_errors_total{server="echo",tool="lookup"} 1.0' in metrics
    assert 'toolmesh_tool_latency_seconds_count{server="echo",tool="echo"} 1.0' in metrics
    assert "toolmesh_http_requests_total" in metrics


@pytest.mark.asyncio
async def test_guards_over_http(server: FastMCP[Any]) -> None:
    settings = http_settings(
        max_body_bytes=64 * 1024,
        allowed_hosts=["mcp.example.com"],
        allowed_origins=["https://app.example.com"],
    )
    with anyio.fail_after(30):
        async with (
            running(mcp_http_app(server, settings), settings) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            bad_origin = await http.post(
                "/mcp", json=LIST, headers={**ACCEPT, "origin": "http://evil.example"}
            )
            null_origin = await http.post("/mcp", json=LIST, headers={**ACCEPT, "origin": "null"})
            good_origin = await http.post(
                "/mcp", json=LIST, headers={**ACCEPT, "origin": "https://app.example.com"}
            )
            bad_host = await http.post("/mcp", json=LIST, headers={**ACCEPT, "host": "attacker.example"})
            rebinding = await http.post("/mcp", json=LIST, headers={**ACCEPT, "host": "127.0.0.1.nip.io"})
            good_host = await http.post("/mcp", json=LIST, headers={**ACCEPT, "host": "mcp.example.com"})
            big = await http.post("/mcp", content=b"[" + b"1," * 40_000 + b"1]", headers=ACCEPT)

            async def chunks() -> Any:
                for _ in range(100):
                    yield b"x" * 1024

            streamed = await http.post("/mcp", content=chunks(), headers=ACCEPT)
            malformed = await http.post(
                "/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=ACCEPT
            )
            still_up = await http.post("/mcp", json=LIST, headers=ACCEPT)
            health_any_host = await http.get("/healthz", headers={"host": "10.0.0.7:8000"})
    assert bad_origin.status_code == 403 and "evil.example" in bad_origin.text
    assert null_origin.status_code == 403
    assert good_origin.status_code == 200
    assert bad_host.status_code == 421 and "ALLOWED_HOSTS" in bad_host.text
    assert rebinding.status_code == 421
    assert good_host.status_code == 200
    assert big.status_code == 413 and big.json()["error"]["code"] == -32600
    assert streamed.status_code == 413  # no Content-Length: counted as it arrives
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == -32700
    assert still_up.status_code == 200 and "echo" in still_up.text
    assert health_any_host.status_code == 200


@pytest.mark.asyncio
async def test_accepted_connections_have_nagle_off() -> None:
    """Every server the project starts listens on ``bind_socket`` (``running``, agents, ``toolmesh up``):
    its accepted connections must get TCP_NODELAY, or each response's body waits out delayed ACK."""
    import asyncio
    import socket

    from toolmesh.protocols.serving import bind_socket

    seen: list[int] = []
    accepted = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        accepted.set()
        writer.close()

    listening = bind_socket("127.0.0.1", 0)
    assert listening.proto == socket.IPPROTO_TCP
    server = await asyncio.start_server(handle, sock=listening)
    async with server:
        port = listening.getsockname()[1]
        with anyio.fail_after(10):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await accepted.wait()
            writer.close()
    assert len(seen) == 1 and seen[0] != 0
