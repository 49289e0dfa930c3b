"""The sql MCP server: safe, fast, read-only database access (SQLite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

from toolmesh.protocols.plugins import ServerSpec
from toolmesh.servers.sql.server import build_server
from toolmesh.servers.sql.settings import SqlSettings

__all__ = ["SPEC", "SqlSettings", "build_server"]

SPEC = ServerSpec(
    name="sql",
    summary="Read-only SQL over SQLite, PostgreSQL and MySQL/MariaDB: schemas, schema linking, queries.",
    settings_type=SqlSettings,
    build=build_server,
)
