"""A server for the graceful-shutdown test: `sleep` marks its start in a file, then sleeps."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from toolmesh.protocols.serving import new_server, serve
from toolmesh.protocols.settings import ServingSettings

server = new_server("slow")


@server.tool
async def sleep(seconds: float, marker: str) -> str:
    """Touch ``marker``, sleep, answer."""
    Path(marker).write_text("started", encoding="utf-8")
    await anyio.sleep(seconds)
    return "done"


if __name__ == "__main__":
    serve(server, ServingSettings(transport="http", port=int(sys.argv[1]), log_level="INFO"))
