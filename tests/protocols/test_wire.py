"""Wire behaviour the official suite does not check, against the fixture over real HTTP and real stdio.

Raw requests on both eras: 2026-07-28 (every request carries its own ``_meta`` envelope plus the
``MCP-Protocol-Version`` / ``Mcp-Method`` / ``Mcp-Name`` headers) and the 2025-11-25 ``initialize``
handshake. HTTP runs twice: with the fixture's settings (stateful, SSE) and with the real servers'
defaults (stateless, JSON responses).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import pytest_asyncio
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import NotFoundError as FastMCPNotFoundError
from mcp import MCPError

from toolmesh.protocols.conformance.fixture import FixtureSettings, build_server
from toolmesh.protocols.serving import mcp_http_app, new_server, running

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
MAX_BODY = 64 * 1024
# name -> (stateless, json_response)
CONFIGS = {"fixture-stateful-sse": (False, False), "production-stateless-json": (True, True)}


# --- helpers ------------------------------------------------------------------------------------


def messages(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages in a response, whether it is plain JSON or an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [
            json.loads(line[5:])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
    return [response.json()]


def answer(response: httpx.Response, request_id: int | str | None) -> dict[str, Any]:
    """The response (result or error) to ``request_id`` among the messages of ``response``."""
    found = [m for m in messages(response) if m.get("id") == request_id and ("result" in m or "error" in m)]
    assert len(found) == 1, (
        f"no single answer to id {request_id!r} in {response.status_code} {response.text[:500]}"
    )
    return found[0]


def modern_body(
    request_id: int, method: str, params: dict[str, Any] | None = None, **caps: Any
) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "toolmesh-wire-tests", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**(params or {}), "_meta": meta}}


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"accept": ACCEPT, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


async def modern_call(
    http: httpx.AsyncClient, request_id: int, tool: str, arguments: dict[str, Any], **extra: Any
) -> httpx.Response:
    body = modern_body(request_id, "tools/call", {"name": tool, "arguments": arguments, **extra})
    return await http.post("/mcp", json=body, headers=modern_headers("tools/call", tool))


async def legacy_session(http: httpx.AsyncClient) -> dict[str, str]:
    """Run the initialize handshake; the headers every later request of this session carries."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "wire", "version": "1"},
        },
    }
    response = await http.post("/mcp", json=init, headers={"accept": ACCEPT})
    assert response.status_code == 200, response.text
    assert answer(response, 0)["result"]["protocolVersion"] == LEGACY
    headers = {"accept": ACCEPT, "mcp-protocol-version": LEGACY}
    if session := response.headers.get("mcp-session-id"):
        headers["mcp-session-id"] = session
    done = await http.post(
        "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert done.status_code == 202
    return headers


async def assert_still_serving(http: httpx.AsyncClient) -> None:
    response = await modern_call(http, 999, "test_simple_text", {})
    assert response.status_code == 200
    assert (
        answer(response, 999)["result"]["content"][0]["text"] == "This is a simple text response for testing."
    )


# --- HTTP ---------------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=sorted(CONFIGS))
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    stateless, json_response = CONFIGS[request.param]
    settings = FixtureSettings(
        transport="http", port=0, max_body_bytes=MAX_BODY, stateless=stateless, json_response=json_response
    )
    app = mcp_http_app(build_server(settings), settings)
    async with running(app, settings) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
        yield client


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_tool_is_a_protocol_error_on_the_modern_era(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        response = await modern_call(http, 1, "no_such_tool", {})
    error = answer(response, 1)["error"]
    assert error["code"] == -32602
    assert "'no_such_tool'" in error["message"] and "test_simple_text" in error["message"]
    assert error["data"]["tool"] == "no_such_tool" and "test_echo" in error["data"]["available"]


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_tool_is_a_protocol_error_on_the_legacy_era(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        headers = await legacy_session(http)
        body = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "no_such_tool", "arguments": {}},
        }
        response = await http.post("/mcp", json=body, headers=headers)
    error = answer(response, 2)["error"]
    assert error["code"] == -32602
    assert "'no_such_tool'" in error["message"] and "Available tools:" in error["message"]


@pytest.mark.asyncio
async def test_only_missing_or_disabled_tools_are_unknown() -> None:
    """A tool that exists but fails to find something is a tool error; a disabled tool is unknown."""
    server = new_server("edge")

    @server.tool
    async def lookup() -> str:
        raise FastMCPNotFoundError("row 7 is not there")

    @server.tool
    async def hidden() -> str:
        return "should not run"

    server.disable(names={"hidden"})
    with anyio.fail_after(20):
        async with Client(server) as client:
            failed = await client.call_tool("lookup", {}, raise_on_error=False)
            with pytest.raises(MCPError) as caught:
                await client.call_tool("hidden", {})
    assert failed.is_error
    assert caught.value.error.code == -32602
    assert caught.value.error.data == {"tool": "hidden", "available": ["lookup"]}


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_method(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        modern = await http.post(
            "/mcp", json=modern_body(3, "no/such_method"), headers=modern_headers("no/such_method")
        )
        headers = await legacy_session(http)
        legacy = await http.post(
            "/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "no/such_method"}, headers=headers
        )
    assert modern.status_code == 404  # SEP-2575: unknown methods answer 404 on the modern era
    assert answer(modern, 3)["error"]["code"] == -32601
    assert answer(legacy, 4)["error"]["code"] == -32601


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("era", ["modern", "legacy", "no-version-header"])
async def test_malformed_json_is_a_parse_error_and_the_server_stays_up(
    http: httpx.AsyncClient, era: str
) -> None:
    with anyio.fail_after(20):
        headers = {"accept": ACCEPT, "content-type": "application/json"}
        if era == "modern":
            headers.update(modern_headers("tools/list"))
        elif era == "legacy":
            headers.update(await legacy_session(http))
        response = await http.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == -32700 and body["id"] is None
        await assert_still_serving(http)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_batches_are_refused_and_the_server_stays_up(http: httpx.AsyncClient, era: str) -> None:
    """JSON-RPC batches were removed from MCP in 2025-06-18: a 400 with a JSON-RPC error, nothing executed."""
    with anyio.fail_after(20):
        if era == "modern":
            batch = [modern_body(5, "tools/call", {"name": "test_trigger_tool_change", "arguments": {}})]
            headers = modern_headers("tools/call", "test_trigger_tool_change")
        else:
            headers = await legacy_session(http)
            batch = [
                {
                    "jsonrpc": "2.0",
                    "id": 5,
                    "method": "tools/call",
                    "params": {"name": "test_trigger_tool_change"},
                }
            ]
        response = await http.post("/mcp", json=batch, headers=headers)
        assert response.status_code == 400
        body = response.json()
        assert isinstance(body, dict) and body["id"] is None
        assert body["error"]["code"] in (-32600, -32602)
        # Nothing in the batch ran: the dynamic tool was not added.
        listed = await http.post(
            "/mcp", json=modern_body(6, "tools/list"), headers=modern_headers("tools/list")
        )
        assert "test_dynamic_tool" not in {tool["name"] for tool in answer(listed, 6)["result"]["tools"]}
        await assert_still_serving(http)


BAD_IDS = {
    "object": {"a": 1},
    "float": 1.5,
    "integral float": 1.0,
    "true": True,
    "false": False,
    "null": None,
}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("era", ["modern", "legacy"])
@pytest.mark.parametrize("kind", sorted(BAD_IDS))
async def test_a_request_with_a_bad_id_is_invalid_not_a_notification(
    http: httpx.AsyncClient, era: str, kind: str
) -> None:
    """JSON-RPC 2.0: ids are strings or integers; the SDK took these for notifications (a silent 202)."""
    with anyio.fail_after(20):
        params = {"name": "test_trigger_tool_change", "arguments": {}}
        if era == "modern":
            body = modern_body(0, "tools/call", params)
            headers = modern_headers("tools/call", "test_trigger_tool_change")
        else:
            headers = await legacy_session(http)
            body = {"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": params}
        body["id"] = BAD_IDS[kind]
        response = await http.post("/mcp", json=body, headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["id"] is None and error["error"]["code"] == -32600
        assert "string or an integer" in error["error"]["message"]
        listed = await http.post(
            "/mcp", json=modern_body(6, "tools/list"), headers=modern_headers("tools/list")
        )
        assert "test_dynamic_tool" not in {tool["name"] for tool in answer(listed, 6)["result"]["tools"]}
        # A notification has no id at all, and still gets its 202.
        note_params: dict[str, Any] = {"requestId": 1}
        if era == "modern":
            note_params["_meta"] = modern_body(0, "x")["params"]["_meta"]
        notification = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": note_params}
        note = await http.post("/mcp", json=notification, headers=headers)
        assert note.status_code == 202, note.text
        await assert_still_serving(http)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("body", [b"42", b'"tools/list"', b"null"])
async def test_json_that_is_not_an_object_is_an_invalid_request(http: httpx.AsyncClient, body: bytes) -> None:
    with anyio.fail_after(20):
        response = await http.post(
            "/mcp", content=body, headers={**modern_headers("tools/list"), "content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600 and response.json()["id"] is None
        await assert_still_serving(http)


@pytest.mark.asyncio(loop_scope="module")
async def test_oversized_body_is_413_before_parsing(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        huge = await modern_call(http, 7, "test_echo", {"text": "x" * (MAX_BODY + 1)})
        assert huge.status_code == 413
        assert (
            huge.json()["error"]["code"] == -32600
            and f"{MAX_BODY}-byte limit" in huge.json()["error"]["message"]
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(MAX_BODY // 1024 + 2):
                yield b" " * 1024

        streamed = await http.post("/mcp", content=chunks(), headers=modern_headers("tools/list"))
        assert streamed.status_code == 413
        await assert_still_serving(http)


@pytest.mark.asyncio(loop_scope="module")
async def test_cross_site_origin_is_403(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        evil = await http.post(
            "/mcp",
            json=modern_body(8, "tools/list"),
            headers={**modern_headers("tools/list"), "origin": "http://evil.example"},
        )
        null = await http.post(
            "/mcp",
            json=modern_body(9, "tools/list"),
            headers={**modern_headers("tools/list"), "origin": "null"},
        )
        same = await http.post(
            "/mcp",
            json=modern_body(10, "tools/list"),
            headers={**modern_headers("tools/list"), "origin": str(http.base_url).rstrip("/")},
        )
    assert evil.status_code == 403 and "evil.example" in evil.text
    assert null.status_code == 403
    assert same.status_code == 200 and "tools" in answer(same, 10)["result"]


@pytest.mark.asyncio(loop_scope="module")
async def test_foreign_host_is_421_but_health_stays_open(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        rebound = await http.post(
            "/mcp",
            json=modern_body(11, "tools/list"),
            headers={**modern_headers("tools/list"), "host": "evil.example:8000"},
        )
        health = await http.get("/healthz", headers={"host": "lb.internal"})
    assert (
        rebound.status_code == 421
        and "evil.example" in rebound.text
        and "TOOLMESH_FIXTURE_ALLOWED_HOSTS" in rebound.text
    )
    assert health.status_code == 200 and health.json() == {"status": "ok"}


@pytest.mark.asyncio(loop_scope="module")
async def test_wrong_argument_types_are_a_clear_tool_error(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        wrong = await modern_call(http, 12, "test_echo", {"text": 5, "times": "many"})
        out_of_range = await modern_call(http, 13, "test_echo", {"text": "hi", "times": 0})
        missing = await modern_call(http, 14, "test_echo", {})
        fine = await modern_call(http, 15, "test_echo", {"text": "hi", "times": 2})
    for response, request_id, words in (
        (wrong, 12, ("text", "times", "valid string", "valid integer")),
        (out_of_range, 13, ("times", "greater than or equal to 1")),
        (missing, 14, ("text", "required")),
    ):
        result = answer(response, request_id)["result"]
        assert result["isError"] is True
        message = result["content"][0]["text"]
        assert all(word in message for word in words), message
    assert answer(fine, 15)["result"]["content"][0]["text"] == "hi hi"


@pytest.mark.asyncio(loop_scope="module")
async def test_param_headers_must_agree_with_the_body(http: httpx.AsyncClient) -> None:
    """SEP-2243: a parameter marked x-mcp-header travels as Mcp-Param-<Name> too, and both must agree."""
    tool = "test_header_param"
    body = modern_body(25, "tools/call", {"name": tool, "arguments": {"region": "eu-west"}})
    headers = modern_headers("tools/call", tool)
    encoded = "=?base64?" + base64.b64encode(b"eu-west").decode() + "?="
    with anyio.fail_after(20):
        plain = await http.post("/mcp", json=body, headers={**headers, "mcp-param-region": "eu-west"})
        wrapped = await http.post("/mcp", json=body, headers={**headers, "mcp-param-region": encoded})
        mismatch = await http.post("/mcp", json=body, headers={**headers, "mcp-param-region": "us-east"})
        missing = await http.post("/mcp", json=body, headers=headers)
    assert answer(plain, 25)["result"]["content"][0]["text"] == "region=eu-west"
    assert answer(wrapped, 25)["result"]["content"][0]["text"] == "region=eu-west"
    for refused in (mismatch, missing):
        assert refused.status_code == 400
        assert answer(refused, 25)["error"]["code"] == -32020


@pytest.mark.asyncio(loop_scope="module")
async def test_asking_the_client_on_the_legacy_era(http: httpx.AsyncClient) -> None:
    """Stateful sessions carry server→client requests; stateless HTTP says clearly that it cannot."""
    headers = await legacy_session(http)
    body = {
        "jsonrpc": "2.0",
        "id": 26,
        "method": "tools/call",
        "params": {"name": "test_input_required_result_list_roots"},
    }
    with anyio.fail_after(20):
        if "mcp-session-id" not in headers:
            response = await http.post("/mcp", json=body, headers=headers)
            result = answer(response, 26)["result"]
            assert result["isError"] is True
            assert "cannot carry server-to-client requests" in result["content"][0]["text"]
            return
        async with http.stream("POST", "/mcp", json=body, headers=headers) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("method") == "roots/list":  # the server asks on this call's own stream
                    reply = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": {"roots": [{"uri": "file:///srv"}]},
                    }
                    sent = await http.post("/mcp", json=reply, headers=headers)
                    assert sent.status_code == 202
                elif message.get("id") == 26:
                    assert message["result"]["content"][0]["text"] == "Client roots: file:///srv"
                    return
    pytest.fail("the call never completed")


@pytest.mark.asyncio(loop_scope="module")
async def test_missing_envelope_is_400_invalid_params(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(20):
        body = {"jsonrpc": "2.0", "id": 16, "method": "tools/list", "params": {}}
        response = await http.post("/mcp", json=body, headers=modern_headers("tools/list"))
    assert response.status_code == 400
    assert answer(response, 16)["error"]["code"] == -32602


@pytest.mark.asyncio(loop_scope="module")
async def test_request_state_is_sealed_and_checked(http: httpx.AsyncClient) -> None:
    """SEP-2322 on the wire: round 1 asks, a tampered state is refused, the genuine one completes."""
    tool = "test_input_required_result_request_state"
    with anyio.fail_after(20):
        first = answer(await modern_call(http, 17, tool, {}), 17)["result"]
        assert first["resultType"] == "input_required" and "confirm" in first["inputRequests"]
        state = first["requestState"]
        assert "request_state" not in state  # sealed: the plaintext does not show through
        reply = {"confirm": {"action": "accept", "content": {"ok": True}}}
        raw = bytearray(base64.urlsafe_b64decode(state[3:] + "=" * (-len(state[3:]) % 4)))
        raw[-1] ^= 1
        forged = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
        tampered = await modern_call(http, 18, tool, {}, inputResponses=reply, requestState=forged)
        genuine = await modern_call(http, 19, tool, {}, inputResponses=reply, requestState=state)
    assert answer(tampered, 18)["error"]["code"] == -32602
    done = answer(genuine, 19)["result"]
    assert done["resultType"] == "complete" and "state-ok" in done["content"][0]["text"]


@pytest.mark.asyncio(loop_scope="module")
async def test_listen_stream_acknowledges_then_delivers_only_what_was_asked(http: httpx.AsyncClient) -> None:
    """subscriptions/listen (2026-07-28): the ack, then matching events tagged with the subscription id."""
    listen = modern_body(20, "subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    frames: list[dict[str, Any]] = []
    with anyio.fail_after(20):
        async with http.stream(
            "POST", "/mcp", json=listen, headers=modern_headers("subscriptions/listen")
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                frames.append(json.loads(line[5:]))
                if len(frames) == 1:  # acknowledged: now change the prompt list, then the tool list twice
                    for request_id, tool in (
                        (21, "test_trigger_prompt_change"),
                        (22, "test_trigger_tool_change"),
                    ):
                        answer(await modern_call(http, request_id, tool, {}), request_id)
                    answer(await modern_call(http, 23, "test_trigger_tool_change", {}), 23)
                    answer(await modern_call(http, 24, "test_trigger_prompt_change", {}), 24)
                if len(frames) == 3:
                    break
    ack, first, second = frames
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    assert [first["method"], second["method"]] == ["notifications/tools/list_changed"] * 2  # no prompts frame
    key = "io.modelcontextprotocol/subscriptionId"
    assert (
        ack["params"]["_meta"][key] == first["params"]["_meta"][key] == second["params"]["_meta"][key] == 20
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("shared", [True, False])
async def test_replicas_need_a_shared_request_state_key(shared: bool) -> None:
    """Round 1 on one replica, round 2 on another: it completes only when both seal with the same key."""
    key_a, key_b = "a" * 64, ("a" if shared else "b") * 64
    tool = "test_input_required_result_request_state"
    reply = {"confirm": {"action": "accept", "content": {"ok": True}}}
    settings = [
        FixtureSettings(
            transport="http", port=0, stateless=True, json_response=True, request_state_keys=[key]
        )
        for key in (key_a, key_b)
    ]
    with anyio.fail_after(30):
        async with (
            running(mcp_http_app(build_server(settings[0]), settings[0]), settings[0]) as url_a,
            running(mcp_http_app(build_server(settings[1]), settings[1]), settings[1]) as url_b,
            httpx.AsyncClient(base_url=url_a, timeout=20) as replica_a,
            httpx.AsyncClient(base_url=url_b, timeout=20) as replica_b,
        ):
            state = answer(await modern_call(replica_a, 1, tool, {}), 1)["result"]["requestState"]
            second = answer(
                await modern_call(replica_b, 2, tool, {}, inputResponses=reply, requestState=state), 2
            )
    if shared:
        assert "state-ok" in second["result"]["content"][0]["text"]
    else:
        assert second["error"]["code"] == -32602


# --- stdio --------------------------------------------------------------------------------------


def _toolmesh_command() -> list[str]:
    script = Path(sys.executable).with_name("toolmesh")
    return [str(script)] if script.exists() else [sys.executable, "-m", "toolmesh.protocols.conformance"]


@pytest.mark.asyncio
async def test_stdio_end_to_end_with_the_fastmcp_client() -> None:
    command = _toolmesh_command()
    args = (
        [*command[1:], "serve", "fixture", "--transport", "stdio"]
        if command[0].endswith("toolmesh")
        else [
            *command[1:],
            "--transport",
            "stdio",
        ]
    )
    transport = StdioTransport(command=command[0], args=args, keep_alive=False)
    with anyio.fail_after(60):
        async with Client(transport) as client:
            assert client.protocol_version == MODERN
            names = {tool.name for tool in await client.list_tools()}
            result = await client.call_tool("test_simple_text", {})
            failed = await client.call_tool("test_error_handling", {}, raise_on_error=False)
    assert "test_simple_text" in names
    assert result.content[0].text == "This is a simple text response for testing."
    assert failed.is_error


@pytest.mark.asyncio
async def test_stdio_stdout_carries_only_json_rpc() -> None:
    """A raw child process: every stdout line is one JSON-RPC message; logs go to stderr."""
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "test_error_handling", "arguments": {}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "no_such_tool", "arguments": {}},
        },
        {"jsonrpc": "2.0", "id": 5, "method": "no/such_method"},
    ]
    env = {**os.environ, "TOOLMESH_FIXTURE_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "toolmesh.protocols.conformance",
        "--transport",
        "stdio",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    lines: list[bytes] = []
    try:
        with anyio.fail_after(60):
            process.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
            await process.stdin.drain()
            answered: set[Any] = set()
            while answered != {1, 2, 3, 4, 5}:
                line = await process.stdout.readline()
                assert line, "the server closed stdout before answering everything"
                lines.append(line)
                answered.add(json.loads(line).get("id"))
            process.stdin.close()
            rest, errors = await process.communicate()
            lines.extend(rest.splitlines(keepends=True))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    decoded = [json.loads(line) for line in lines if line.strip()]
    assert all(message["jsonrpc"] == "2.0" for message in decoded)
    assert len(decoded) == len([line for line in lines if line.strip()])
    by_id = {message.get("id"): message for message in decoded}
    assert "tools" in by_id[2]["result"]
    assert by_id[3]["result"]["isError"] is True
    assert by_id[4]["error"]["code"] == -32602
    assert by_id[5]["error"]["code"] == -32601
    assert b"test_error_handling" in errors  # the tool error was logged, on stderr
    assert process.returncode == 0


@pytest.mark.asyncio
async def test_stdio_answers_lines_that_are_not_messages_and_keeps_serving() -> None:
    """JSON-RPC 2.0 on stdio: -32700 for a line that is not JSON, -32600 for JSON that is no valid message."""
    bad = [
        (b"this is not json", -32700),
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}', -32600),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}', -32600),
        (b'{"jsonrpc": "2.0", "id": true, "method": "tools/list"}', -32600),
        (b'[{"jsonrpc": "2.0", "id": 9, "method": "tools/list"}]', -32600),
        (b'{"jsonrpc": "2.0", "id": 9}', -32600),
        (b'{"jsonrpc": "1.0", "id": 9, "method": "tools/list"}', -32600),
        (b"42", -32600),
    ]
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    good = [
        json.dumps(init).encode(),
        b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        b"   ",  # blank: skipped, no answer
        b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}',
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "toolmesh.protocols.conformance",
        "--transport",
        "stdio",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdin is not None and process.stdout is not None
    answers: list[dict[str, Any]] = []
    try:
        with anyio.fail_after(60):
            process.stdin.write(b"".join(line + b"\n" for line, _ in bad) + b"\n".join(good) + b"\n")
            await process.stdin.drain()
            # the answers to the refused lines and to the good ones travel apart: wait for all of them
            while len(answers) < len(bad) + 2:
                line = await process.stdout.readline()
                assert line, f"the server closed stdout after {answers}"
                answers.append(json.loads(line))
            process.stdin.close()
            await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = [answer for answer in answers if answer.get("id") is None]
    assert [error["error"]["code"] for error in errors] == [code for _, code in bad]
    assert all(error["jsonrpc"] == "2.0" and error["error"]["message"] for error in errors)
    assert "not valid JSON" in errors[0]["error"]["message"]
    assert "string or an integer" in errors[2]["error"]["message"]
    by_id = {answer["id"]: answer for answer in answers if answer.get("id") is not None}
    assert by_id[1]["result"]["protocolVersion"] == LEGACY and "tools" in by_id[2]["result"]
    assert process.returncode == 0
