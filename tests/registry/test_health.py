"""The prober against real loopback endpoints, and the outbound target guard."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.registry.conftest import (
    PUBLISHER_A,
    FakeClock,
    auth,
    make_card,
    make_server_entry,
    register,
    serving,
    settings_for,
)
from toolmesh.protocols.errors import InputError, PermissionDenied, UpstreamError
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app
from toolmesh.registry.health import Prober
from toolmesh.registry.validation import Fetcher, TargetGuard


class Target:
    """A loopback service whose behaviour a test switches: ok, error, slow."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.base = ""
        self.release = asyncio.Event()

    async def card(self, request: Request) -> Response:
        if self.mode == "error":
            return PlainTextResponse("boom", status_code=500)
        if self.mode == "slow":
            await self.release.wait()
        return JSONResponse(make_card("probed", self.base))

    async def mcp(self, request: Request) -> Response:
        if self.mode == "error":
            return PlainTextResponse("boom", status_code=503)
        return PlainTextResponse("Method Not Allowed", status_code=405)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/.well-known/agent-card.json", self.card), Route("/mcp", self.mcp)])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.asyncio
async def test_prober_marks_healthy_degraded_down_and_recovers() -> None:
    target = Target()
    clock = FakeClock()
    settings = settings_for(
        down_after_failures=2, probe_timeout=2, fetch_timeout=2, degraded_latency=1.0, probe_concurrency=2
    )
    dead = f"http://127.0.0.1:{closed_port()}"
    with anyio.fail_after(30):
        async with running(target.app(), ServingSettings(transport="http", port=0)) as base:
            target.base = base
            app = build_app(settings, clock=clock)
            prober: Prober = app.state.prober
            async with serving(app) as client:
                agent = await register(client, make_card("probed", base))
                gone = await register(client, make_card("gone", dead))
                server = (
                    await client.post(
                        "/api/v1/servers",
                        json=make_server_entry("sql", f"{base}/mcp"),
                        headers=auth(PUBLISHER_A),
                    )
                ).json()
                stdio = await client.post(
                    "/api/v1/servers",
                    json={"name": "local", "transport": "stdio", "command": ["toolmesh", "serve", "code"]},
                    headers=auth(PUBLISHER_A),
                )

                async def health(entry_id: str) -> tuple[str, str]:
                    data = (await client.get(f"/api/v1/entries/{entry_id}")).json()
                    return data["health"], data["health_detail"]

                assert await prober.probe_once() == 3  # the stdio server cannot be probed
                assert (await health(agent["id"]))[0] == "healthy"
                assert (await health(server["id"]))[0] == "healthy"  # 405 on GET is a live MCP endpoint
                assert (await health(gone["id"]))[0] == "degraded"  # one failure
                assert (await health(stdio.json()["id"]))[0] == "unknown"
                await prober.probe_once()
                state, detail = await health(gone["id"])
                assert state == "down" and "2 in a row" in detail
                names = [e["name"] for e in (await client.get("/api/v1/entries")).json()["items"]]
                assert "gone" not in names and "probed" in names
                target.mode = "error"
                await prober.probe_once()
                assert (await health(agent["id"])) == ("degraded", "card URL answered HTTP 500")
                assert (await health(server["id"]))[0] == "degraded"
                target.mode = "slow"
                probing = asyncio.create_task(prober.probe_once())
                await asyncio.sleep(1.2)  # the slow answer must exceed degraded_latency (1 s)
                target.release.set()
                await probing
                state, detail = await health(agent["id"])
                assert state == "degraded" and detail.startswith("slow")
                target.mode = "ok"
                await prober.probe_once()
                assert (await health(agent["id"]))[0] == "healthy"
                # lapsed entries are no longer probed, and are purged after purge_after_seconds
                clock.advance(settings.ttl_seconds + 1)
                assert await prober.probe_once() == 0
                clock.advance(settings.purge_after_seconds)
                await prober.probe_once()
                assert (await client.get(f"/api/v1/entries/{agent['id']}")).status_code == 404


@pytest.mark.asyncio
async def test_prober_runs_in_the_background() -> None:
    target = Target()
    with anyio.fail_after(20):
        async with running(target.app(), ServingSettings(transport="http", port=0)) as base:
            target.base = base
            app = build_app(settings_for(probe_interval=0.05))
            async with serving(app) as client:
                agent = await register(client, make_card("background", base))
                while (await client.get(f"/api/v1/entries/{agent['id']}")).json()["health"] != "healthy":
                    await asyncio.sleep(0.02)
                assert app.state.prober.rounds >= 1


@pytest.mark.asyncio
async def test_target_guard_and_fetcher_limits() -> None:
    strict = TargetGuard(allow_private=False)
    with anyio.fail_after(20):
        for url in [
            "http://127.0.0.1/x",
            "http://localhost:80/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
        ]:
            with pytest.raises(PermissionDenied):
                await strict.check(url)
        with pytest.raises(InputError):
            await strict.check("http://name.invalid/")
        dns = {
            "rebind.example": ["127.0.0.1"],
            "mixed.example": ["93.184.216.34", "10.1.2.3"],
            "ok.example": ["93.184.216.34"],
        }

        async def resolve(host: str, port: int) -> list[str]:
            return dns[host]

        guarded = TargetGuard(allow_private=False, resolve=resolve)
        with pytest.raises(PermissionDenied, match=r"resolves to 127\.0\.0\.1"):
            await guarded.check("http://rebind.example:8080/")
        with pytest.raises(PermissionDenied, match=r"resolves to 10\.1\.2\.3"):
            await guarded.check("https://mixed.example/")
        assert await guarded.check("https://ok.example/") == "https://ok.example/"
        assert strict.check_literal("https://agents.example.com/card") == "https://agents.example.com/card"

        async def big(request: Request) -> Response:
            return PlainTextResponse("x" * 10_000)

        async def redirect(request: Request) -> Response:
            return Response(status_code=302, headers={"location": "http://169.254.169.254/"})

        app = Starlette(routes=[Route("/big", big), Route("/redirect", redirect)])
        async with running(app, ServingSettings(transport="http", port=0)) as base:
            fetcher = Fetcher(TargetGuard(allow_private=True), timeout=2)
            try:
                with pytest.raises(Exception, match="more than 1000 bytes"):
                    await fetcher.get(f"{base}/big", max_bytes=1000)
                with pytest.raises(UpstreamError, match="redirects"):
                    await fetcher.get_json(f"{base}/redirect", max_bytes=1000)
                with pytest.raises(UpstreamError):
                    await fetcher.get(f"http://127.0.0.1:{closed_port()}/", max_bytes=1000)
            finally:
                await fetcher.aclose()


@pytest.mark.asyncio
async def test_prober_adopts_the_card_served_at_a_registered_url() -> None:
    served: dict[str, Any] = {}

    async def card(request: Request) -> Response:
        return JSONResponse(served["card"])

    agent = Starlette(routes=[Route("/.well-known/agent-card.json", card)])
    with anyio.fail_after(30):
        async with running(agent, ServingSettings(transport="http", port=0)) as base:
            served["card"] = make_card("living", base)
            app = build_app(settings_for())
            prober: Prober = app.state.prober
            async with serving(app) as client:
                response = await client.post(
                    "/api/v1/agents", json={"card_url": base}, headers=auth(PUBLISHER_A)
                )
                entry_id = response.json()["id"]

                async def entry() -> dict[str, Any]:
                    data: dict[str, Any] = (await client.get(f"/api/v1/entries/{entry_id}")).json()
                    return data

                await prober.probe_once()
                assert (await entry())["version"] == 1 and (await entry())["health"] == "healthy"
                served["card"] = make_card(
                    "living",
                    base,
                    skills=[{"id": "new-skill", "name": "New", "description": "d", "tags": []}],
                )
                await prober.probe_once()
                now = await entry()
                assert now["version"] == 2 and now["skills"] == ["new-skill"] and now["owner"] == "team-a"
                assert now["history"][0]["updated_by"] == "team-a"
                assert [
                    e["id"]
                    for e in (await client.get("/api/v1/entries", params={"skill": "new-skill"})).json()[
                        "items"
                    ]
                ] == [entry_id]
                served["card"] = make_card("living", base, skills=[])
                await prober.probe_once()
                broken = await entry()
                assert broken["health"] == "degraded" and "not acceptable" in broken["health_detail"]
                assert broken["version"] == 2  # the last good card stays
                served["card"] = make_card("impostor", base)
                await prober.probe_once()
                assert "'impostor'" in (await entry())["health_detail"]
