"""Bearer auth for HTTP faces: hashed static tokens and JWTs checked against a JWKS.

Static tokens are configured only as SHA-256 digests, so a leaked settings file leaks no token.
JWTs are validated for signature, expiry, issuer and audience (a token minted for another
resource is refused). With a public ``resource_url`` the server also serves OAuth 2.0
protected-resource metadata (RFC 9728) and points the 401 challenge at it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastmcp.server.auth import AccessToken, AuthProvider, RemoteAuthProvider, TokenVerifier
from fastmcp.server.auth.providers.jwt import JWTVerifier
from pydantic import AnyHttpUrl

from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.settings import AuthSettings, TokenGrant, hash_token

__all__ = [
    "ChainedTokenVerifier",
    "HashedTokenVerifier",
    "TokenCheck",
    "bearer_token",
    "build_auth",
    "check_bearer",
]

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
            JWTVerifier(
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
