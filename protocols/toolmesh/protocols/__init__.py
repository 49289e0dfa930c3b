"""The shared layer: errors, settings, serving, auth, plugins and the CLI. Imports no other slice."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'toolmesh.protocols' has no attribute {name!r}")
    return getattr(importlib.import_module(f"toolmesh.protocols.{module}"), name)
