"""The shared layer: errors, settings, serving, auth, plugins and the CLI. Imports no other slice."""

from toolmesh.protocols.errors import (
    ConfigError,
    ConflictError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    TimeoutExceeded,
    ToolmeshError,
    UnavailableError,
    UpstreamError,
)
from toolmesh.protocols.plugins import ServerSpec
from toolmesh.protocols.serving import a2a_http_app, mcp_http_app, new_server, running, serve
from toolmesh.protocols.settings import AuthSettings, ServingSettings, TokenGrant, hash_token

__all__ = [
    "AuthSettings",
    "ConfigError",
    "ConflictError",
    "InputError",
    "LimitExceeded",
    "NotFoundError",
    "PermissionDenied",
    "ServerSpec",
    "ServingSettings",
    "TimeoutExceeded",
    "TokenGrant",
    "ToolmeshError",
    "UnavailableError",
    "UpstreamError",
    "a2a_http_app",
    "hash_token",
    "mcp_http_app",
    "new_server",
    "running",
    "serve",
]
