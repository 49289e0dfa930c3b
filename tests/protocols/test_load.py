"""Load: 50 clients on the gateway over real HTTP for 60 s, zero errors (issue 15: 4 ReadErrors in 3,301).

Each client is its own ``httpx.AsyncClient`` (default pool: idle connections expire after 5 s) and pauses
a random 0-8 s between requests, so connections keep going idle across the 5 s mark, where uvicorn's
old keep-alive default closed them as the client reused them. ``TOOLMESH_LOAD_SECONDS`` and
``TOOLMESH_LOAD_CLIENTS`` shorten a local run; CI's slow run uses the defaults.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import anyio
import httpx
import pytest

from toolmesh.protocols.gateway import build_gateway
from toolmesh.protocols.plugins import discover_servers
from toolmesh.protocols.serving import bind_socket, mcp_http_app, running
from toolmesh.protocols.settings import ServingSettings

SECONDS = float(os.environ.get("TOOLMESH_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("TOOLMESH_LOAD_CLIENTS", "50"))
MODERN = "2026-07-28"
HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": MODERN,
    "mcp-method": "tools/list",
}


def tools_list(request_id: int) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "toolmesh-load", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/list", "params": {"_meta": meta}}


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_gateway_serves_50_clients_for_60_seconds_without_an_error() -> None:
    specs = {name: spec for name, spec in discover_servers().items() if spec.in_gateway}
    settings = ServingSettings(transport="http", port=0, graceful_timeout=5)
    app = mcp_http_app(build_gateway(specs), settings)
    errors: list[str] = []
    latencies: list[float] = []

    async def client(number: int, url: str, deadline: float) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            request_id = 0
            while time.monotonic() < deadline:
                request_id += 1
                started = time.monotonic()
                try:
                    response = await http.post("/mcp", json=tools_list(request_id), headers=HEADERS)
                    if response.status_code != 200 or "tools" not in response.json().get("result", {}):
                        errors.append(f"client {number}: {response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"client {number}: {type(exc).__name__}: {exc!r}")
                latencies.append(time.monotonic() - started)
                await anyio.sleep(rng.uniform(0, 8))  # idle across httpx's 5 s pool expiry, often

    with anyio.fail_after(SECONDS + 240):
        async with running(app, settings, sock=bind_socket()) as url:
            deadline = time.monotonic() + SECONDS
            async with anyio.create_task_group() as clients:
                for number in range(CLIENTS):
                    clients.start_soon(client, number, url, deadline)
    assert errors == [], f"{len(errors)} errors in {len(latencies)} requests: {errors[:10]}"
    assert len(latencies) >= CLIENTS * SECONDS / 10  # every client kept going
