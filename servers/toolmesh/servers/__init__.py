"""toolmesh's MCP servers: docs, sql, code and memory.

Each is a subpackage registered as a `toolmesh.servers` entry point.
"""

__all__: list[str] = []
