"""Conformance: checks runnable against any MCP server or A2A agent (`toolmesh check`), with a requirement
manifest tied to the specs, and the fixture server we run the official MCP suite against.

Entry points: :func:`toolmesh.protocols.conformance.mcp_checks.check_mcp`,
:func:`toolmesh.protocols.conformance.a2a_checks.check_a2a` and the manifest in ``manifest.py``.
"""

__all__: list[str] = []
