"""Bearer auth for HTTP faces: hashed static tokens and JWTs checked against a JWKS.

Static tokens are configured only as SHA-256 digests, so a leaked settings file leaks no token.
JWTs are validated for signature, expiry, issuer and audience (a token minted for another
resource is refused); a JWT must carry ``exp`` (unless configured otherwise) and may not be issued
in the future (``iat`` beyond the clock-skew leeway). With a public ``resource_url`` the server also
serves OAuth 2.0 protected-resource metadata (RFC 9728) and points the 401 challenge at it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastmcp.server.auth import AccessToken, AuthProvider, RemoteAuthProvider, TokenVerifier
from fastmcp.server.auth.providers.jwt import JWTVerifier
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.settings import AuthSettings, TokenGrant, hash_token

__all__ = [
    "ChainedTokenVerifier",
    "HashedTokenVerifier",
    "StrictJWTVerifier",
    "TokenCheck",
    "bearer_token",
    "build_auth",
    "check_bearer",
    "require_bearer",
]

logger = logging.getLogger(__name__)

TokenCheck = Callable[[str], Awaitable[AccessToken | None]]


class HashedTokenVerifier(TokenVerifier):
    """Accepts tokens whose SHA-256 digest is configured; never holds the tokens themselves."""

    def __init__(self, grants: dict[str, TokenGrant], required_scopes: list[str] | None = None) -> None:
        super().__init__(required_scopes=required_scopes)
        self._grants = dict(grants)

    async def verify_token(self, token: str) -> AccessToken | None:
        grant = self._grants.get(hash_token(token))
        if grant is None:
            return None
        return AccessToken(token=token, client_id=grant.client_id, scopes=list(grant.scopes))


class ChainedTokenVerifier(TokenVerifier):
    """Tries each verifier in turn; the first that accepts the token wins."""

    def __init__(self, verifiers: list[TokenVerifier], required_scopes: list[str] | None = None) -> None:
        super().__init__(required_scopes=required_scopes)
        self._verifiers = verifiers

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self._verifiers:
            access = await verifier.verify_token(token)
            if access is not None:
                return access
        return None


class StrictJWTVerifier(JWTVerifier):
    """FastMCP's JWT verifier, plus the time claims it lets through: a missing ``exp``, a future ``iat``.

    FastMCP checks ``exp`` only when present, and ignores ``iat``; a token minted without an expiry, or
    minted ahead of time by a compromised or misconfigured issuer, would then be good forever.
    """

    def __init__(self, *, require_exp: bool = True, leeway_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_exp = require_exp
        self.leeway_seconds = leeway_seconds

    async def load_access_token(self, token: str) -> AccessToken | None:
        access = await super().load_access_token(token)  # signature, exp/nbf if present, iss, aud, scopes
        if access is None:
            return None
        problem = self._time_claim_problem(access.claims)
        if problem is not None:
            logger.info("Bearer token rejected for client %s: %s", access.client_id, problem)
            return None
        return access

    def _time_claim_problem(self, claims: dict[str, Any]) -> str | None:
        exp = claims.get("exp")
        if exp is None and self.require_exp:
            return "no exp claim (tokens must expire; set auth.jwt_require_exp=false to accept them)"
        if exp is not None and not _is_number(exp):
            return f"exp is not a number: {exp!r}"
        iat = claims.get("iat")
        if iat is not None:
            if not _is_number(iat):
                return f"iat is not a number: {iat!r}"
            ahead = float(iat) - time.time()
            if ahead > self.leeway_seconds:
                return f"iat is {ahead:.0f}s in the future (more than the {self.leeway_seconds:g}s leeway)"
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_auth(settings: AuthSettings) -> AuthProvider | None:
    """The auth provider for ``settings``, or ``None`` when auth is off."""
    if not settings.enabled:
        return None
    scopes = list(settings.required_scopes)
    verifiers: list[TokenVerifier] = []
    if settings.tokens:
        verifiers.append(HashedTokenVerifier(settings.tokens))
    if settings.jwks_uri or settings.jwt_public_key:
        if not settings.audience:
            raise ConfigError(
                "JWT auth needs an audience; without one, tokens minted for any other service would pass.",
                hint="Set auth.audience to this server's resource identifier.",
            )
        verifiers.append(
            StrictJWTVerifier(
                require_exp=settings.jwt_require_exp,
                leeway_seconds=settings.jwt_leeway_seconds,
                jwks_uri=settings.jwks_uri,
                public_key=settings.jwt_public_key,
                issuer=settings.issuer,
                audience=settings.audience,
                algorithm=settings.algorithm,
            )
        )
    # Scopes are checked after verification by the transport, so a valid token that lacks them gets
    # 403 insufficient_scope rather than 401 invalid_token.
    verifier = ChainedTokenVerifier(verifiers, required_scopes=scopes)
    if settings.resource_url is None:
        return verifier
    if not settings.authorization_servers:
        raise ConfigError(
            "resource_url is set but authorization_servers is empty; protected-resource metadata needs one.",
            hint="Set auth.authorization_servers to the issuer URL(s) of your tokens.",
        )
    return RemoteAuthProvider(
        token_verifier=verifier,
        authorization_servers=[AnyHttpUrl(url) for url in settings.authorization_servers],
        base_url=settings.resource_url,
        required_scopes=scopes,
    )


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (``""`` when it holds none)."""
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""


async def check_bearer(verify: TokenCheck, authorization: str) -> AccessToken | None:
    """The access an ``Authorization`` value grants (``None``: no bearer token, or one ``verify`` refuses).

    The one token check of every A2A face of an agent (HTTP bindings and gRPC alike).
    """
    token = bearer_token(authorization)
    return await verify(token) if token else None


Endpoint = Callable[[Request], Awaitable[Response]]


def require_bearer(endpoint: Endpoint, provider: AuthProvider, scopes: Sequence[str] = ()) -> Endpoint:
    """``endpoint`` behind the MCP endpoint's bearer check: 401 without a good token, 403 without ``scopes``.

    For the routes the serving layer adds itself (``/metrics``), which FastMCP's auth does not cover.
    """
    needed = frozenset(scopes)

    def challenge(status: int, error: str | None, description: str) -> Response:
        value = 'Bearer realm="toolmesh"'
        if error is not None:
            value += f', error="{error}", error_description="{description}"'
        return JSONResponse(
            {"error": error or "unauthorized", "error_description": description},
            status_code=status,
            headers={"www-authenticate": value},
        )

    async def guarded(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return challenge(401, None, "this endpoint needs a bearer token (Authorization: Bearer ...)")
        access = await provider.verify_token(token.strip())
        if access is None:
            return challenge(401, "invalid_token", "the bearer token is not valid for this server")
        missing = needed - set(access.scopes)
        if missing:
            lacking = " ".join(sorted(missing))
            return challenge(403, "insufficient_scope", f"the token lacks scope(s) {lacking}")
        return await endpoint(request)

    return guarded
