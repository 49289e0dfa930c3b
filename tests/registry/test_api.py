"""Every endpoint of the JSON API, its auth rules and its error paths (in-process, memory store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import pytest
from a2a.utils.signing import create_agent_card_signer
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.registry.conftest import (
    ADMIN,
    PUBLISHER_A,
    PUBLISHER_B,
    READER,
    Api,
    FakeClock,
    auth,
    make_card,
    make_server_entry,
    register,
    serving,
    settings_for,
)
from toolmesh.protocols.cards import card_from_json, card_to_dict
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app


@pytest.mark.asyncio
async def test_register_by_body_get_update_history(api_on: Api, clock: FakeClock) -> None:
    client, _ = api_on
    with anyio.fail_after(10):
        created = await client.post(
            "/api/v1/agents", json={"card": make_card("planner")}, headers=auth(PUBLISHER_A)
        )
        assert created.status_code == 201
        entry = created.json()
        assert entry["kind"] == "agent" and entry["owner"] == "team-a" and entry["version"] == 1
        assert entry["skills"] == ["planner"] and entry["bindings"] == ["JSONRPC"]
        assert entry["capabilities"] == ["streaming"] and entry["signature"]["status"] == "unsigned"
        assert entry["expires_at"] == clock.now + 60
        entry_id = entry["id"]
        assert entry_id.startswith("planner-")
        clock.advance(5)
        again = await client.post(
            "/api/v1/agents",
            json={"card": make_card("planner", description="new words")},
            headers=auth(PUBLISHER_A),
        )
        assert again.status_code == 200 and again.json()["id"] == entry_id and again.json()["version"] == 2
        got = (await client.get(f"/api/v1/entries/{entry_id}")).json()
        assert [v["version"] for v in got["history"]] == [2, 1]
        assert got["history"][1]["document"]["description"] == "The planner agent of the test mesh."
        assert (await client.get(f"/api/v1/entries/{entry_id}?history=0")).json().get("history") is None
        card = (await client.get(f"/api/v1/entries/{entry_id}/card")).json()
        assert card_from_json(card).description == "new words"


@pytest.mark.asyncio
async def test_register_by_url_fetches_the_card() -> None:
    card_holder: dict[str, Any] = {}

    async def well_known(request: Any) -> Response:
        return JSONResponse(card_holder["card"])

    agent = Starlette(routes=[Route("/.well-known/agent-card.json", well_known)])
    with anyio.fail_after(20):
        async with running(agent, ServingSettings(transport="http", port=0)) as base:
            card_holder["card"] = make_card("fetched", base)
            app = build_app(settings_for())
            async with serving(app) as client:
                response = await client.post(
                    "/api/v1/agents", json={"card_url": base}, headers=auth(PUBLISHER_A)
                )
                assert response.status_code == 201, response.text
                entry = response.json()
                assert entry["url"] == f"{base}/.well-known/agent-card.json" and entry["name"] == "fetched"
                missing = await client.post(
                    "/api/v1/agents", json={"card_url": f"{base}/nope.json"}, headers=auth(PUBLISHER_A)
                )
                assert missing.status_code == 400 and "HTTP 404" in missing.json()["error"]["message"]
            # the same URL is refused when private targets are not allowed (SSRF)
            strict = build_app(settings_for(allow_private_targets=False))
            async with serving(strict) as client:
                refused = await client.post(
                    "/api/v1/agents", json={"card_url": base}, headers=auth(PUBLISHER_A)
                )
                assert (
                    refused.status_code == 403
                    and "not a public address" in refused.json()["error"]["message"]
                )


@pytest.mark.asyncio
async def test_register_server_search_and_paginate(api_on: Api) -> None:
    client, _ = api_on
    with anyio.fail_after(20):
        server = await client.post(
            "/api/v1/servers", json=make_server_entry("sql"), headers=auth(PUBLISHER_B)
        )
        assert server.status_code == 201, server.text
        assert server.json()["tools"] == ["run_query", "describe_table"] and server.json()["bindings"] == [
            "MCP-HTTP"
        ]
        stdio = await client.post(
            "/api/v1/servers",
            json={
                "name": "code",
                "transport": "stdio",
                "command": ["toolmesh", "serve", "code"],
                "tools": [{"name": "find_symbol"}],
            },
            headers=auth(PUBLISHER_B),
        )
        assert stdio.status_code == 201 and stdio.json()["bindings"] == ["MCP-STDIO"]
        for i in range(12):
            await register(
                client,
                make_card(
                    f"worker{i:02d}",
                    f"http://10.0.0.{i + 1}:8000",
                    skills=[
                        {"id": "execute", "name": "Execute", "description": "Runs steps", "tags": ["run"]}
                    ],
                ),
            )
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(5):
            params: dict[str, Any] = {"skill": "execute", "limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/entries", params=params)).json()
            seen += [item["name"] for item in page["items"]]
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        assert sorted(seen) == [f"worker{i:02d}" for i in range(12)] and len(seen) == 12
        assert [
            e["name"]
            for e in (await client.get("/api/v1/servers", params={"tool": "find_symbol"})).json()["items"]
        ] == ["code"]
        assert (await client.get("/api/v1/agents", params={"tool": "run_query"})).json()["items"] == []
        assert len((await client.get("/api/v1/entries", params={"kind": "server"})).json()["items"]) == 2
        text = (await client.get("/api/v1/entries", params={"q": "worker03"})).json()["items"]
        assert [e["name"] for e in text] == ["worker03"]
        assert (await client.get("/api/v1/entries", params={"binding": "mcp-stdio"})).json()["items"][0][
            "name"
        ] == "code"
        assert (
            len(
                (
                    await client.get("/api/v1/entries", params={"capability": "streaming", "limit": 100})
                ).json()["items"]
            )
            == 12
        )


@pytest.mark.asyncio
async def test_heartbeat_ttl_expiry_and_deregister(api_on: Api, clock: FakeClock) -> None:
    client, _ = api_on
    with anyio.fail_after(10):
        entry = await register(client, make_card("ephemeral"))
        entry_id = entry["id"]
        clock.advance(50)
        beat = await client.post(f"/api/v1/entries/{entry_id}/heartbeat", headers=auth(PUBLISHER_A))
        assert beat.status_code == 200 and beat.json()["expires_at"] == clock.now + 60
        clock.advance(59)
        assert [e["id"] for e in (await client.get("/api/v1/entries")).json()["items"]] == [entry_id]
        clock.advance(2)  # TTL lapsed: down, left out of searches unless asked
        assert (await client.get("/api/v1/entries")).json()["items"] == []
        down = (await client.get("/api/v1/entries", params={"include_down": "true"})).json()["items"]
        assert down[0]["health"] == "down" and "TTL lapsed" in down[0]["health_detail"]
        assert (await client.get("/api/v1/entries", params={"health": "down"})).json()["items"][0][
            "id"
        ] == entry_id
        await client.post(f"/api/v1/entries/{entry_id}/heartbeat", headers=auth(PUBLISHER_A))
        assert len((await client.get("/api/v1/entries")).json()["items"]) == 1  # back
        assert (
            await client.delete(f"/api/v1/entries/{entry_id}", headers=auth(PUBLISHER_B))
        ).status_code == 403
        assert (
            await client.delete(f"/api/v1/entries/{entry_id}", headers=auth(PUBLISHER_A))
        ).status_code == 204
        assert (await client.get(f"/api/v1/entries/{entry_id}")).status_code == 404
        gone = await client.post(f"/api/v1/entries/{entry_id}/heartbeat", headers=auth(PUBLISHER_A))
        assert gone.status_code == 404 and gone.json()["error"]["type"] == "NotFoundError"


@pytest.mark.asyncio
async def test_auth_rules(api_on: Api) -> None:
    client, _ = api_on
    with anyio.fail_after(10):
        card = {"card": make_card("owned")}
        none = await client.post("/api/v1/agents", json=card)
        assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
        assert (await client.post("/api/v1/agents", json=card, headers=auth("wrong"))).status_code == 401
        assert (
            await client.post("/api/v1/agents", json=card, headers={"authorization": "Basic abc"})
        ).status_code == 401
        reader = await client.post("/api/v1/agents", json=card, headers=auth(READER))
        assert reader.status_code == 403 and "only read" in reader.json()["error"]["message"]
        entry = await register(client, make_card("owned"), PUBLISHER_A)
        other = await client.post("/api/v1/agents", json=card, headers=auth(PUBLISHER_B))
        assert other.status_code == 403 and "team-a" in other.json()["error"]["message"]
        beat = await client.post(f"/api/v1/entries/{entry['id']}/heartbeat", headers=auth(PUBLISHER_B))
        assert beat.status_code == 403
        admin = await client.post(
            "/api/v1/agents",
            json={"card": make_card("owned", description="fixed by admin")},
            headers=auth(ADMIN),
        )
        assert admin.status_code == 200 and admin.json()["owner"] == "team-a" and admin.json()["version"] == 2
        assert (await client.delete(f"/api/v1/entries/{entry['id']}", headers=auth(ADMIN))).status_code == 204


@pytest.mark.asyncio
async def test_token_protected_reads() -> None:
    app = build_app(settings_for(open_reads=False))
    with anyio.fail_after(10):
        async with serving(app) as client:
            await register(client, make_card("secretive"))
            assert (await client.get("/api/v1/entries")).status_code == 401
            assert (await client.get("/")).status_code == 401
            assert (await client.get("/api/v1/entries", headers=auth("nope"))).status_code == 401
            for token in (READER, PUBLISHER_B, ADMIN):
                page = await client.get("/api/v1/entries", headers=auth(token))
                assert page.status_code == 200 and len(page.json()["items"]) == 1
            assert (await client.get("/openapi.json")).status_code == 200  # the API description stays public
            mcp = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert mcp.status_code == 401


@pytest.mark.asyncio
async def test_signed_cards(api: Api, tmp_path: Path) -> None:
    secret = "an-hmac-secret-long-enough-for-hs256!!"
    app = build_app(settings_for(signing_keys={"k1": secret}))
    card = card_from_json(make_card("signer"))
    signed = card_to_dict(
        create_agent_card_signer(secret, {"kid": "k1", "alg": "HS256", "jku": None, "typ": "JOSE"})(card)
    )
    foreign = card_to_dict(
        create_agent_card_signer(
            "some-other-secret-of-decent-length!!", {"kid": "k9", "alg": "HS256", "jku": None, "typ": "JOSE"}
        )(card_from_json(make_card("stranger")))
    )
    with anyio.fail_after(10):
        async with serving(app) as client:
            ok = await client.post("/api/v1/agents", json={"card": signed}, headers=auth(PUBLISHER_A))
            assert ok.status_code == 201 and ok.json()["signature"] == {
                "status": "verified",
                "key_id": "k1",
                "detail": "",
            }
            assert "signed" in ok.json()["capabilities"]
            tampered = dict(signed, description="I was changed after signing")
            bad = await client.post("/api/v1/agents", json={"card": tampered}, headers=auth(PUBLISHER_A))
            assert bad.status_code == 400 and "signature does not verify" in bad.json()["error"]["message"]
            unknown = await client.post("/api/v1/agents", json={"card": foreign}, headers=auth(PUBLISHER_A))
            assert unknown.status_code == 201 and unknown.json()["signature"]["status"] == "unverified"
            found = (await client.get("/api/v1/entries", params={"capability": "signed"})).json()["items"]
            assert [e["name"] for e in found] == ["signer"]
    strict = build_app(settings_for(signing_keys={"k1": secret}, require_signed_cards=True))
    async with serving(strict) as client:
        assert (
            await client.post("/api/v1/agents", json={"card": foreign}, headers=auth(PUBLISHER_A))
        ).status_code == 403
        assert (
            await client.post("/api/v1/agents", json={"card": signed}, headers=auth(PUBLISHER_A))
        ).status_code == 201


@pytest.mark.asyncio
async def test_openapi_and_service_routes(api: Api) -> None:
    client, _ = api
    with anyio.fail_after(10):
        doc = (await client.get("/openapi.json")).json()
        assert doc["openapi"] == "3.1.0"
        assert set(doc["paths"]) == {
            "/api/v1/agents",
            "/api/v1/servers",
            "/api/v1/entries",
            "/api/v1/entries/{entry_id}",
            "/api/v1/entries/{entry_id}/card",
            "/api/v1/entries/{entry_id}/heartbeat",
        }
        assert {"EntryView", "SearchPage", "McpServerEntry", "Error"} <= set(doc["components"]["schemas"])
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        # an MCP server entry has no agent card
        server = (
            await client.post("/api/v1/servers", json=make_server_entry(), headers=auth(PUBLISHER_A))
        ).json()
        assert (await client.get(f"/api/v1/entries/{server['id']}/card")).status_code == 404
        assert (await client.get("/api/v1/entries/UPPER")).status_code == 400
        rebinding = await client.get("/api/v1/entries", headers={"host": "evil.example"})
        assert rebinding.status_code == 421


@pytest.mark.asyncio
async def test_restart_with_sqlite_keeps_everything(tmp_path: Path) -> None:
    settings = settings_for(database_url=f"sqlite+aiosqlite:///{tmp_path / 'reg.db'}")
    with anyio.fail_after(20):
        async with serving(build_app(settings)) as client:
            agent = await register(client, make_card("durable"))
            await register(client, make_card("durable", description="v2"))
            server = (
                await client.post(
                    "/api/v1/servers", json=make_server_entry("docs"), headers=auth(PUBLISHER_B)
                )
            ).json()
        async with serving(build_app(settings)) as client:
            got = (await client.get(f"/api/v1/entries/{agent['id']}")).json()
            assert got["version"] == 2 and [v["version"] for v in got["history"]] == [2, 1]
            assert (await client.get("/api/v1/entries", params={"skill": "durable"})).json()["items"][0][
                "id"
            ] == agent["id"]
            assert (await client.get(f"/api/v1/entries/{server['id']}")).json()["owner"] == "team-b"
            assert (
                await client.delete(f"/api/v1/entries/{server['id']}", headers=auth(PUBLISHER_A))
            ).status_code == 403


@pytest.mark.asyncio
async def test_search_cache_is_invalidated_by_changes(api_on: Api, clock: FakeClock) -> None:
    client, app = api_on
    with anyio.fail_after(10):
        first = await register(client, make_card("cached"))

        async def items() -> list[dict[str, Any]]:
            page = (await client.get("/api/v1/entries", params={"tag": "mesh"})).json()
            result: list[dict[str, Any]] = page["items"]
            return result

        async def names() -> list[str]:
            return [e["name"] for e in await items()]

        assert await names() == ["cached"]
        await register(client, make_card("second"))  # a write: the next search is fresh
        assert await names() == ["cached", "second"]
        before = (await items())[0]["last_heartbeat"]
        clock.advance(0.5)
        await client.post(f"/api/v1/entries/{first['id']}/heartbeat", headers=auth(PUBLISHER_A))
        cached = (await items())[0]["last_heartbeat"]
        assert cached == before  # a heartbeat of a live entry does not flush the cache ...
        clock.advance(0.75)  # ... which lives search_cache_seconds (1 s)
        fresh = (await items())[0]["last_heartbeat"]
        assert fresh > before
        await client.delete(f"/api/v1/entries/{first['id']}", headers=auth(PUBLISHER_A))
        assert await names() == ["second"]
        assert app.state.registry.generation >= 3


@pytest.mark.asyncio
async def test_concurrent_writers_over_http(api_on: Api) -> None:
    """Two publishers race to register the same agents: each agent gets exactly one owner, nothing is lost."""
    client, _ = api_on
    with anyio.fail_after(60):

        async def post(name: str, token: str) -> tuple[str, int]:
            card = make_card(name, description=f"{name} by {token}")
            response = await client.post("/api/v1/agents", json={"card": card}, headers=auth(token))
            return name, response.status_code

        results = await asyncio.gather(
            *(post(f"racer{i}", t) for i in range(10) for t in (PUBLISHER_A, PUBLISHER_B))
        )
        for i in range(10):
            codes = sorted(code for name, code in results if name == f"racer{i}")
            assert codes == [201, 403], codes
        page = (await client.get("/api/v1/entries", params={"q": "racer", "limit": 50})).json()["items"]
        assert len(page) == 10 and all(e["version"] == 1 for e in page)
        for entry in page:
            assert entry["description"].endswith(
                "by " + ("token-publisher-a" if entry["owner"] == "team-a" else "token-publisher-b")
            )


@pytest.mark.asyncio
async def test_metrics_endpoint() -> None:
    app = build_app(settings_for(metrics=True))
    with anyio.fail_after(10):
        async with serving(app) as client:
            await client.get("/api/v1/entries")
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and 'server="registry"' in metrics.text


@pytest.mark.asyncio
async def test_rsa_signed_card_verifies_with_a_public_pem_and_a_jwk() -> None:
    import base64
    import hashlib
    import hmac
    import json

    from a2a.utils.signing import _canonicalize_agent_card
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    jwk = RSAAlgorithm.to_jwk(private.public_key())
    signer = create_agent_card_signer(
        private_pem, {"kid": "rsa1", "alg": "RS256", "jku": None, "typ": "JOSE"}
    )
    signed = card_to_dict(signer(card_from_json(make_card("rsa"))))

    # Algorithm confusion: an HS256 signature made with the public key as the HMAC secret must not verify.
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    victim = card_from_json(make_card("forged"))
    protected = b64(json.dumps({"kid": "rsa1", "alg": "HS256", "typ": "JOSE"}).encode())
    signing_input = f"{protected}.{b64(_canonicalize_agent_card(victim).encode())}".encode()
    forged = card_to_dict(victim)
    forged["signatures"] = [
        {
            "protected": protected,
            "signature": b64(hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()),
        }
    ]
    for key in (public_pem, jwk):
        app = build_app(settings_for(signing_keys={"rsa1": key}))
        with anyio.fail_after(20):
            async with serving(app) as client:
                ok = await client.post("/api/v1/agents", json={"card": signed}, headers=auth(PUBLISHER_A))
                assert ok.status_code == 201 and ok.json()["signature"]["status"] == "verified", ok.text
                bad = await client.post("/api/v1/agents", json={"card": forged}, headers=auth(PUBLISHER_A))
                assert bad.status_code == 400 and "signature does not verify" in bad.text


@pytest.mark.asyncio
async def test_publisher_quota_over_http() -> None:
    app = build_app(settings_for(max_entries_per_publisher=2))
    with anyio.fail_after(10):
        async with serving(app) as client:
            await register(client, make_card("one"))
            await register(client, make_card("two"))
            third = await client.post(
                "/api/v1/agents", json={"card": make_card("three")}, headers=auth(PUBLISHER_A)
            )
            assert third.status_code == 413 and third.json()["error"]["type"] == "LimitExceeded"
            assert (
                await client.post("/api/v1/agents", json={"card": make_card("three")}, headers=auth(ADMIN))
            ).status_code == 201


@pytest.mark.asyncio
async def test_a_card_with_a_grpc_host_port_interface_registers(api_on: Api) -> None:
    client, _ = api_on
    card = make_card("grpc-agent")
    card["supportedInterfaces"].append(
        {"url": "agents.example.com:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"}
    )
    with anyio.fail_after(10):
        created = await client.post("/api/v1/agents", json={"card": card}, headers=auth(PUBLISHER_A))
    assert created.status_code == 201, created.text
    assert "GRPC" in created.json()["bindings"]
