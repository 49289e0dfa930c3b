from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastmcp import FastMCP
from pydantic import BaseModel, Field

from toolmesh.protocols.errors import NotFoundError
from toolmesh.protocols.serving import new_server


class Echo(BaseModel):
    text: str
    length: int


def make_server() -> FastMCP[Any]:
    server = new_server("echo", instructions="Echo tools for tests.")

    @server.tool(annotations={"readOnlyHint": True})
    async def echo(text: Annotated[str, Field(max_length=1000)]) -> Echo:
        """Return the text and its length."""
        return Echo(text=text, length=len(text))

    @server.tool
    async def lookup(name: str) -> str:
        """Fail the way a real tool does when a name is unknown."""
        raise NotFoundError(f"no column {name!r}", hint="Did you mean `name`?")

    @server.tool
    async def crash() -> str:
        """Fail with an internal error whose details must not leak."""
        raise RuntimeError("password=hunter2")

    return server


@pytest.fixture
def server() -> FastMCP[Any]:
    return make_server()
