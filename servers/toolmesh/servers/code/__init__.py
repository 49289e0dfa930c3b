"""The code MCP server: a tree-sitter symbol index, references, call edges, text search and safe reads."""

from __future__ import annotations

from toolmesh.protocols.plugins import ServerSpec
from toolmesh.servers.code.server import build_server
from toolmesh.servers.code.settings import CodeSettings

__all__ = ["SPEC", "CodeSettings", "build_server"]

SPEC = ServerSpec(
    name="code",
    summary="Symbols, references, call edges, text search and bounded reads over a repository (tree-sitter).",
    settings_type=CodeSettings,
    build=build_server,
)
