"""Small in-process MCP servers with controllable behaviour, for the mesh tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import mcp_types as mt
from fastmcp import FastMCP
from pydantic import BaseModel, Field

from toolmesh.protocols.errors import InputError
from toolmesh.protocols.serving import new_server

READ = mt.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class Echo(BaseModel):
    text: str
    calls: int


class Rows(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Knobs:
    """What a test server does: fail the next N calls, hang, count calls."""

    fail_next: int = 0
    hang: bool = False
    calls: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    hold_first: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0
    together: asyncio.Event = field(default_factory=asyncio.Event)


def echo_server(name: str = "echo", knobs: Knobs | None = None) -> tuple[FastMCP[Any], Knobs]:
    knobs = knobs or Knobs()
    server = new_server(name)

    @server.tool(annotations=READ)
    async def echo(text: Annotated[str, Field(description="Text to echo back.")]) -> Echo:
        """Echo the text back (read-only, cacheable)."""
        knobs.calls += 1
        knobs.started.set()
        if knobs.hold_first and knobs.calls == 1:
            await knobs.release.wait()
        if knobs.hang:
            try:
                await knobs.release.wait()  # until cancelled (or released so a server can shut down)
            except asyncio.CancelledError:
                knobs.cancelled.set()
                raise
        if knobs.fail_next > 0:
            knobs.fail_next -= 1
            raise RuntimeError("simulated crash")  # masked -> an internal error result
        return Echo(text=text, calls=knobs.calls)

    @server.tool
    async def shout(text: str) -> Echo:
        """Upper-case the text (not annotated read-only: never cached)."""
        knobs.calls += 1
        return Echo(text=text.upper(), calls=knobs.calls)

    @server.tool(annotations=READ)
    async def lookup(key: str) -> Rows:
        """Rows for a key; an unknown key is an input error."""
        if key == "missing":
            raise InputError("no such key 'missing'", hint="Use 'a' or 'b'.")
        return Rows(columns=["key", "value"], rows=[[key, 1]])

    @server.tool(annotations=READ)
    async def meet(tag: str) -> Echo:
        """Wait until two calls are in flight at once (proves concurrency)."""
        knobs.calls += 1
        knobs.arrived += 1
        if knobs.arrived >= 2:
            knobs.together.set()
        await knobs.together.wait()
        return Echo(text=tag, calls=knobs.calls)

    return server, knobs
