"""Conformance: the fixture server for the official MCP suite.

Later: our own checks, runnable against any MCP server or A2A agent.
"""

__all__: list[str] = []
