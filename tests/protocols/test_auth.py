"""Auth on HTTP: hashed static tokens, JWTs against a JWKS (audience, issuer, expiry, scopes), RFC 9728."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from fastmcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolmesh.protocols.auth import build_auth
from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.serving import a2a_http_app, mcp_http_app, running
from toolmesh.protocols.settings import AuthSettings, ServingSettings, TokenGrant, hash_token

from .conftest import make_server

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ISSUER = "https://issuer.example"
AUDIENCE = "https://mcp.example/mcp"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def mint(key: Any = KEY, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "scope": "read"}
    payload.update(claims)
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256", headers={"kid": "k1"}
    )


@pytest_asyncio.fixture
async def jwks_url() -> AsyncIterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    settings = ServingSettings(transport="http", port=0)
    async with running(Starlette(routes=[Route("/jwks.json", jwks)]), settings) as url:
        yield f"{url}/jwks.json"


async def post(url: str, token: str | None) -> httpx.Response:
    headers = dict(ACCEPT)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as http:
        return await http.post(f"{url}/mcp", json=LIST, headers=headers)


@pytest.mark.asyncio
async def test_static_tokens_are_hashed_and_checked() -> None:
    settings = ServingSettings(
        transport="http",
        port=0,
        auth=AuthSettings(
            tokens={hash_token("s3cret"): TokenGrant(client_id="ci", scopes=["read"])},
            required_scopes=["read"],
        ),
    )
    assert "s3cret" not in settings.model_dump_json()
    with anyio.fail_after(30):
        async with running(mcp_http_app(make_server(), settings), settings) as url:
            missing = await post(url, None)
            wrong = await post(url, "nope")
            query_token = await post(url + "/mcp?access_token=s3cret#", None)
            ok = await post(url, "s3cret")
            async with Client(f"{url}/mcp", auth="s3cret") as client:
                names = [t.name for t in await client.list_tools()]
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in missing.headers["www-authenticate"]  # RFC 6750 §3.1: no error when no credentials
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert query_token.status_code in (401, 404)  # tokens in query strings are never accepted
    assert ok.status_code == 200
    assert "echo" in names


@pytest.mark.asyncio
@pytest.mark.parametrize("face", ["mcp", "a2a"])
async def test_metrics_need_a_token_when_auth_is_on_unless_made_public(face: str) -> None:
    def settings(**kw: Any) -> ServingSettings:
        grants = {hash_token("s3cret"): TokenGrant(client_id="ci", scopes=["read"])}
        return ServingSettings(
            transport="http", port=0, auth=AuthSettings(tokens=grants, required_scopes=["read"]), **kw
        )

    def app(settings: ServingSettings) -> Starlette:
        if face == "mcp":
            return mcp_http_app(make_server(), settings)
        return a2a_http_app([], settings, name="agent")

    async def scrape(url: str, token: str | None) -> httpx.Response:
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient() as http:
            return await http.get(f"{url}/metrics", headers=headers)

    protected, public = settings(), settings(metrics_public=True)
    assert not protected.metrics_public  # protected is the default
    with anyio.fail_after(30):
        async with running(app(protected), protected) as url:
            anonymous = await scrape(url, None)
            wrong = await scrape(url, "nope")
            scraped = await scrape(url, "s3cret")
            async with httpx.AsyncClient() as http:
                health = await http.get(f"{url}/healthz")
        async with running(app(public), public) as url:
            open_scrape = await scrape(url, None)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token" in anonymous.json()["error_description"]
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert scraped.status_code == 200 and "toolmesh_http_requests" in scraped.text
    assert health.status_code == 200  # load balancers still probe without a token
    assert open_scrape.status_code == 200 and "toolmesh_http_requests" in open_scrape.text


@pytest.mark.asyncio
async def test_metrics_scopes_are_those_of_the_mcp_endpoint() -> None:
    grants = {
        hash_token("reader"): TokenGrant(client_id="r", scopes=["read"]),
        hash_token("other"): TokenGrant(client_id="o", scopes=["write"]),
    }
    settings = ServingSettings(
        transport="http", port=0, auth=AuthSettings(tokens=grants, required_scopes=["read"])
    )
    with anyio.fail_after(30):
        async with (
            running(mcp_http_app(make_server(), settings), settings) as url,
            httpx.AsyncClient() as http,
        ):
            reader = await http.get(f"{url}/metrics", headers={"authorization": "Bearer reader"})
            other = await http.get(f"{url}/metrics", headers={"authorization": "Bearer other"})
    assert reader.status_code == 200
    assert other.status_code == 403 and 'error="insufficient_scope"' in other.headers["www-authenticate"]


def test_raw_tokens_in_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        AuthSettings(tokens={"plain-token": TokenGrant(client_id="x")})


def test_jwt_without_audience_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="audience"):
        build_auth(AuthSettings(jwks_uri="http://127.0.0.1:1/jwks.json"))


@pytest.mark.asyncio
async def test_jwt_audience_issuer_expiry_signature_and_scope(jwks_url: str) -> None:
    settings = ServingSettings(
        transport="http",
        port=0,
        auth=AuthSettings(jwks_uri=jwks_url, issuer=ISSUER, audience=AUDIENCE, required_scopes=["read"]),
    )
    with anyio.fail_after(30):
        async with running(mcp_http_app(make_server(), settings), settings) as url:
            results = {
                "valid": await post(url, mint()),
                "no token": await post(url, None),
                "wrong audience": await post(url, mint(aud="https://other.example/mcp")),
                "no audience": await post(url, mint(aud=None)),
                "wrong issuer": await post(url, mint(iss="https://evil.example")),
                "expired": await post(url, mint(exp=int(time.time()) - 60, iat=int(time.time()) - 600)),
                "wrong key": await post(url, mint(key=OTHER_KEY)),
                "alg none": await post(
                    url,
                    jwt.encode(
                        {"iss": ISSUER, "aud": AUDIENCE, "scope": "read"},
                        None,  # type: ignore[arg-type]  # PyJWT's stubs omit the key of alg none
                        algorithm="none",
                    ),
                ),
                "missing scope": await post(url, mint(scope="write")),
                "no expiry": await post(url, mint(exp=None)),
                "issued in the future": await post(
                    url, mint(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)
                ),
                "string expiry": await post(url, mint(exp="2999-01-01")),
                "iat within the leeway": await post(url, mint(iat=int(time.time()) + 10)),
            }
    assert results["valid"].status_code == 200
    assert results["iat within the leeway"].status_code == 200  # clocks differ by a few seconds
    for case in (
        "no expiry",
        "issued in the future",
        "string expiry",
        "no token",
        "wrong audience",
        "no audience",
        "wrong issuer",
        "expired",
        "wrong key",
        "alg none",
    ):
        assert results[case].status_code == 401, case
        assert results[case].headers["www-authenticate"].startswith("Bearer"), case
    scope = results["missing scope"]
    assert scope.status_code == 403
    assert 'error="insufficient_scope"' in scope.headers["www-authenticate"]


@pytest.mark.asyncio
async def test_tokens_without_expiry_only_when_configured(jwks_url: str) -> None:
    def settings(**auth: Any) -> ServingSettings:
        return ServingSettings(
            transport="http",
            port=0,
            auth=AuthSettings(jwks_uri=jwks_url, issuer=ISSUER, audience=AUDIENCE, **auth),
        )

    assert settings().auth.jwt_require_exp  # the default refuses them
    lax = settings(jwt_require_exp=False, jwt_leeway_seconds=0)
    with anyio.fail_after(30):
        async with running(mcp_http_app(make_server(), lax), lax) as url:
            no_exp = await post(url, mint(exp=None))
            expired = await post(url, mint(exp=int(time.time()) - 60, iat=int(time.time()) - 600))
            ahead = await post(url, mint(iat=int(time.time()) + 5))
    assert no_exp.status_code == 200
    assert expired.status_code == 401  # an exp that is present is still enforced
    assert ahead.status_code == 401  # leeway 0: any future iat is refused


@pytest.mark.asyncio
async def test_protected_resource_metadata(jwks_url: str) -> None:
    settings = ServingSettings(
        transport="http",
        port=0,
        auth=AuthSettings(
            jwks_uri=jwks_url,
            issuer=ISSUER,
            audience=AUDIENCE,
            required_scopes=["read"],
            resource_url="http://127.0.0.1",
            authorization_servers=[ISSUER],
        ),
    )
    with anyio.fail_after(30):
        async with running(mcp_http_app(make_server(), settings), settings) as url:
            missing = await post(url, None)
            async with httpx.AsyncClient() as http:
                meta = await http.get(f"{url}/.well-known/oauth-protected-resource/mcp")
    assert meta.status_code == 200
    body = meta.json()
    assert body["resource"] == "http://127.0.0.1/mcp"
    assert body["authorization_servers"] == [ISSUER + "/"] or body["authorization_servers"] == [ISSUER]
    assert "read" in body.get("scopes_supported", [])
    assert "resource_metadata=" in missing.headers["www-authenticate"]
