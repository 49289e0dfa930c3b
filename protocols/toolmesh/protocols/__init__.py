"""The shared layer: errors, settings, serving, auth, plugins and the CLI. Imports no other slice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolmesh.protocols.exports import lazy_exports

if TYPE_CHECKING:
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

# Loaded on first use: importing the package (as every ``toolmesh`` command does) must not import the
# serving stack (fastmcp, starlette, uvicorn) for a command that does not serve.
_HOME = {
    **dict.fromkeys(
        [
            "ConfigError",
            "ConflictError",
            "InputError",
            "LimitExceeded",
            "NotFoundError",
            "PermissionDenied",
            "TimeoutExceeded",
            "ToolmeshError",
            "UnavailableError",
            "UpstreamError",
        ],
        "errors",
    ),
    "ServerSpec": "plugins",
    **dict.fromkeys(["a2a_http_app", "mcp_http_app", "new_server", "running", "serve"], "serving"),
    **dict.fromkeys(["AuthSettings", "ServingSettings", "TokenGrant", "hash_token"], "settings"),
}


__getattr__ = lazy_exports(__name__, _HOME)
