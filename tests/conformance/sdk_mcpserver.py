"""An independent MCP server for the kit's fairness tests: the official SDK's own high-level MCPServer.

No toolmesh code: this stands in for the python-sdk example servers (which are not published on PyPI).
``python sdk_mcpserver.py`` serves it on stdio; :func:`build` returns it for HTTP.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field


class Weather(BaseModel):
    city: str
    celsius: float
    summary: str


def build() -> MCPServer:
    server = MCPServer("sdk-weather", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False))
    async def forecast(city: Annotated[str, Field(min_length=1, max_length=80)], ctx: Context) -> Weather:
        """A made-up forecast for a city."""
        await ctx.report_progress(1, 2)
        await ctx.report_progress(2, 2)
        return Weather(city=city, celsius=21.5, summary=f"mild in {city}")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    async def reset_station(station: str) -> str:
        """Pretend to reset a weather station (destructive: the kit must not call it)."""
        raise RuntimeError("a conformance checker called a destructive tool")

    @server.resource("weather://cities")
    def cities() -> str:
        return "Lisbon\nOslo"

    @server.prompt()
    def ask(city: str) -> str:
        return f"What is the weather in {city}?"

    return server


if __name__ == "__main__":
    build().run("stdio")
