"""Serve a FastMCP server over stdio, answering lines that are not a JSON-RPC message, not dropping them.

The MCP SDK's stdio transport logs a line it cannot parse and reads on: the client, which may be
waiting for an answer, never hears of it. Here every line goes through
:func:`toolmesh.protocols.jsonrpc.check_message` first; a refused line is answered on stdout with a
JSON-RPC error (``"id": null``: -32700 for text that is not JSON, -32600 for JSON that is not a valid
message) and the server keeps reading. Blank lines are skipped.

This is FastMCP's ``run_stdio_async`` with our own stdin: the SDK's ``stdio_server`` still owns stdout
(fd 1 points at stderr while serving, so stray prints cannot corrupt the stream); stdin is read in place.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
from collections.abc import Callable
from typing import IO, Any, BinaryIO, cast

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectReceiveStream
from fastmcp import FastMCP
from fastmcp.server.context import reset_transport, set_transport
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from toolmesh.protocols.jsonrpc import Rejection, check_message

__all__ = ["CheckedLines", "serve_stdio"]

logger = logging.getLogger(__name__)


class _Unowned(io.TextIOWrapper):
    """A text layer whose close leaves the buffer (the process's stdin) open."""

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # already detached
            self.detach()


class CheckedLines:
    """UTF-8 lines of ``buffer`` that pass the envelope check; each refused one goes to ``on_reject``.

    Only ``readline`` is offered, which is all ``anyio.AsyncFile`` iteration calls; it runs in a worker
    thread, so ``on_reject`` must be thread-safe.
    """

    def __init__(self, buffer: BinaryIO, on_reject: Callable[[Rejection], None]) -> None:
        self._text = _Unowned(buffer, encoding="utf-8", errors="replace")
        self._on_reject = on_reject

    def readline(self) -> str:
        while True:
            line = self._text.readline()
            if not line:
                return line  # end of input
            if not line.strip():
                continue
            rejection = check_message(line, full=True)
            if rejection is None:
                return line
            logger.warning("refused a stdio line (%s): %s", rejection.code, rejection.message)
            self._on_reject(rejection)


def _from_worker_thread(send: Callable[[Rejection], None]) -> Callable[[Rejection], None]:
    def on_reject(rejection: Rejection) -> None:
        # RuntimeError: the event loop is gone; we are shutting down and nobody is listening
        with contextlib.suppress(RuntimeError):
            anyio.from_thread.run_sync(send, rejection)

    return on_reject


async def _answer(rejections: MemoryObjectReceiveStream[Rejection], write: Any) -> None:
    async with rejections, write:
        async for rejection in rejections:
            await write.send(SessionMessage(rejection.as_mcp()))


async def serve_stdio(server: FastMCP[Any], stdin: BinaryIO | None = None) -> None:
    """Run ``server`` on stdin/stdout until stdin ends."""
    send, receive = anyio.create_memory_object_stream[Rejection](math.inf)
    lines = CheckedLines(stdin or sys.stdin.buffer, _from_worker_thread(send.send_nowait))
    token = set_transport("stdio")
    try:
        # FastMCP's own stdio runner, minus its stdin: the lifespan, then the low-level server.
        async with (
            server._lifespan_manager(),
            stdio_server(stdin=anyio.wrap_file(cast(IO[str], lines))) as (read_stream, write_stream),
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(_answer, receive, write_stream.clone())
            mcp = server._mcp_server
            await mcp.run(read_stream, write_stream, mcp.create_initialization_options())
            tasks.cancel_scope.cancel()
    finally:
        send.close()
        reset_transport(token)
