"""The one settings shape every deployable extends with its own env prefix.

Settings are read at the edge only (``__main__``, the CLI); everything below takes explicit arguments.
A server's settings class subclasses :class:`ServingSettings` and sets ``env_prefix``, e.g.
``TOOLMESH_SQL_PORT=9000``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from toolmesh.protocols.errors import ConfigError, ToolmeshError

__all__ = [
    "AuthSettings",
    "ServingSettings",
    "TokenGrant",
    "env_prefix",
    "hash_token",
    "override",
    "resolve_sqlite_url",
]

Transport = Literal["stdio", "http"]
_RELATIVE_SQLITE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?![/:~])(.+)$")


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a static bearer token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def resolve_sqlite_url(url: str, base: Path) -> str:
    """``url`` with the file of a relative ``sqlite:///file.db`` taken from ``base`` (a config file's folder);
    absolute files, ``~`` and ``:memory:`` and every other URL unchanged."""
    match = _RELATIVE_SQLITE.match(url)
    if match is None or match.group(2).startswith(":memory:"):
        return url
    return f"{match.group(1)}{base / match.group(2)}"


M = TypeVar("M", bound=BaseModel)


def override(settings: M, **changes: Any) -> M:
    """``settings`` with ``changes`` applied and validated as when it was built (``model_copy(update=…)``
    would keep ``port=999999``); a bad value is a :class:`ConfigError` naming the setting and the fix."""
    if not changes:
        return settings
    data = {name: getattr(settings, name) for name in type(settings).model_fields}
    try:
        return type(settings).model_validate({**data, **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "the settings"
        prefix = settings.model_config.get("env_prefix", "")
        raise ConfigError(
            f"{name}={error.get('input')!r} is invalid: {error['msg']}",
            hint=f"Pass a valid {name} (the option, or {prefix}{name.split('.')[0].upper()}).",
        ) from exc


def env_prefix(settings: BaseSettings) -> str:
    """The environment prefix of a settings object (``TOOLMESH_SQL_``), for messages naming a setting."""
    return str(settings.model_config.get("env_prefix", "TOOLMESH_"))


class TokenGrant(BaseModel):
    """What a static bearer token (stored only as its SHA-256) grants."""

    client_id: str
    scopes: list[str] = Field(default_factory=list)


class AuthSettings(BaseModel):
    """Optional auth for HTTP. With nothing set, HTTP is open (stdio never has auth)."""

    # Static tokens: SHA-256 hex digest -> grant. Generate a digest with `toolmesh token hash`.
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    # JWT access tokens validated against a JWKS (or a static PEM key), audience and issuer checked.
    jwks_uri: str | None = None
    jwt_public_key: str | None = None
    issuer: str | None = None
    audience: str | None = None
    algorithm: str = "RS256"
    # A JWT without `exp` never expires, so one leaked token works forever: refused unless this is False.
    jwt_require_exp: bool = True
    # Clock skew tolerated between the token issuer and this server: a later `iat` is refused.
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=600)
    # Scopes every request needs; tools may require more.
    required_scopes: list[str] = Field(default_factory=list)
    # Public URL of this server, for protected-resource metadata (RFC 9728) and the 401 challenge.
    resource_url: str | None = None
    authorization_servers: list[str] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _digests_only(cls, value: dict[str, TokenGrant]) -> dict[str, TokenGrant]:
        for digest in value:
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(
                    "auth tokens must be configured as lowercase SHA-256 hex digests, not raw tokens; "
                    "run `toolmesh token hash` to produce one"
                )
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.jwks_uri or self.jwt_public_key)


class ServingSettings(BaseSettings):
    """Transport, HTTP hardening, auth and limits shared by every server and agent."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    path: str = "/mcp"
    # Stateless: every request is self-contained, so any replica can serve any request.
    stateless: bool = True
    json_response: bool = True
    # Host/Origin protection against DNS rebinding. Extra names beyond loopback and the bind host.
    allowed_hosts: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    metrics: bool = True
    # With auth on, /metrics needs a token like /mcp does (tool names and traffic are not public);
    # True serves it to anyone who can reach the port (e.g. a scraper on a private network).
    metrics_public: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # Seconds a client has to send a whole request head, from connecting or from the next request's first
    # byte (slowloris); 408 and close after that.
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    # Seconds an idle keep-alive connection stays open. Longer than clients' pool expiry (httpx 5 s, Go 90 s)
    # and load balancers' idle timeouts, or a client reuses a connection as we close it (a ReadError).
    keep_alive_timeout: int = Field(default=120, ge=1, le=3600)
    # Seconds uvicorn waits for in-flight requests on shutdown.
    graceful_timeout: float = Field(default=10.0, ge=0)
    # Register in this registry while serving over HTTP (heartbeats; deregistered on a clean shutdown), with
    # this publisher token; the URL advertised is public_url (a base URL; the path is appended), by default
    # http://HOST:PORT. Agents register the same way (TOOLMESH_AGENTS_REGISTRY_URL).
    registry_url: str | None = None
    registry_token: SecretStr | None = None
    public_url: str | None = None

    def problems(self) -> list[ToolmeshError]:
        """What would stop this deployable from working, found without starting it (``toolmesh config
        check``): each a message and the fix. Subclasses add their own checks (files, secrets)."""
        return []

    @field_validator("path")
    @classmethod
    def _path_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/', e.g. /mcp")
        return value.rstrip("/") or "/"
