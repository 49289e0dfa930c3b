"""A pool of long-lived ``fastmcp.Client`` connections to the MCP servers discovery found (``ServerRef``).

:class:`McpPool` keeps one connected client per server (opened lazily, in its own holder task so the
transport's cancel scopes are entered and exited in one task) and bounds concurrent calls per server.
Failures are classified: a tool's ``isError`` result is a :class:`ToolCallError` (retrying will not help);
connection problems, timeouts and server faults are :class:`TransientToolError` / :class:`StepTimeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as mt
from fastmcp import Client
from mcp import MCPError

from toolmesh.agents.discovery import ServerRef
from toolmesh.agents.errors import StepTimeout, ToolCallError, TransientToolError

__all__ = ["McpPool", "ToolOutcome", "render_content"]

logger = logging.getLogger(__name__)

# Protocol errors that mean "this call is wrong", not "this server is unwell".
_CALLER_CODES = {mt.INVALID_PARAMS, mt.METHOD_NOT_FOUND, mt.INVALID_REQUEST, mt.PARSE_ERROR}


@dataclass(slots=True)
class ToolOutcome:
    """A tool's answer: structured content, readable text, and cache hints from ``_meta``."""

    structured: Any
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def render_content(content: list[Any]) -> str:
    """The text blocks of an MCP result joined (other block types are named, not inlined)."""
    parts: list[str] = []
    for block in content:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:
            parts.append(f"[{getattr(block, 'type', 'content')}]")
    return "\n".join(parts)


class _Held:
    """A connected client kept open by a holder task until :meth:`close`."""

    def __init__(self, client: Client[Any]) -> None:
        self.client = client
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Connected and not closing (a session that ended on its own is not reused)."""
        return (
            self.error is None and not self.stop.is_set() and self.task is not None and not self.task.done()
        )

    async def _hold(self) -> None:
        try:
            async with self.client:
                self.ready.set()
                await self.stop.wait()
        except BaseException as exc:  # surfaced to the opener; a holder must never crash the loop
            self.error = exc
            self.ready.set()
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def open(self, seconds: float) -> None:
        self.task = asyncio.create_task(self._hold(), name="mcp-client-holder")
        with anyio.fail_after(seconds):
            await self.ready.wait()
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, 5.0)


class McpPool:
    """Connected clients by server id; at most ``max_per_server`` calls in flight to one server."""

    def __init__(self, *, max_per_server: int = 8, connect_timeout: float = 10.0) -> None:
        self.max_per_server = max_per_server
        self.connect_timeout = connect_timeout
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.connects = 0

    async def _client(self, server: ServerRef) -> Client[Any]:
        held = self._held.get(server.id)
        if held is not None and held.alive:
            return held.client
        lock = self._locks.setdefault(server.id, asyncio.Lock())
        async with lock:
            held = self._held.get(server.id)
            if held is not None and held.alive:
                return held.client
            held = _Held(Client(server.connect_target()))
            try:
                await held.open(self.connect_timeout)
            except TimeoutError as exc:
                await held.close()
                raise TransientToolError(f"connecting to MCP server {server.id!r} timed out") from exc
            except Exception as exc:
                await held.close()
                raise TransientToolError(
                    f"cannot connect to MCP server {server.id!r} ({server.url or 'in-process'}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self._held[server.id] = held
            self.connects += 1
            return held.client

    async def drop(self, server: ServerRef) -> None:
        """Forget the connection to ``server`` (after a transport failure); the next call reconnects."""
        held = self._held.pop(server.id, None)
        if held is not None:
            await held.close()

    def _slot(self, server: ServerRef) -> asyncio.Semaphore:
        return self._slots.setdefault(server.id, asyncio.Semaphore(self.max_per_server))

    async def call(
        self,
        server: ServerRef,
        tool: str,
        arguments: dict[str, Any],
        *,
        time_limit: float,
    ) -> ToolOutcome:
        """Call ``tool``; raises ToolCallError / TransientToolError / StepTimeout (see module doc)."""
        async with self._slot(server):
            try:
                with anyio.fail_after(time_limit):
                    client = await self._client(server)
                    result = await client.call_tool_mcp(tool, arguments, timeout=time_limit)
            except TimeoutError as exc:
                await self.drop(server)
                raise StepTimeout(f"{server.name}.{tool} did not answer within {time_limit:g} s") from exc
            except MCPError as exc:
                if exc.code in _CALLER_CODES:
                    raise ToolCallError(f"{server.name}.{tool} refused the call: {exc}") from exc
                raise TransientToolError(f"{server.name}.{tool} failed: {exc}") from exc
            except (TransientToolError, ToolCallError):
                raise
            except Exception as exc:
                await self.drop(server)
                raise TransientToolError(
                    f"{server.name}.{tool} failed in transport: {type(exc).__name__}: {exc}"
                ) from exc
        text = render_content(list(result.content))
        if result.is_error:
            raise ToolCallError(f"{server.name}.{tool} answered with an error: {text[:2000]}")
        meta = dict(result.meta or {}) if getattr(result, "meta", None) else {}
        return ToolOutcome(structured=result.structured_content, text=text, meta=meta)

    async def list_tools(
        self, server: ServerRef, *, time_limit: float = 15.0
    ) -> tuple[list[mt.Tool], float | None]:
        """``tools/list`` of ``server`` and its cache hint in seconds (None when the server gave none)."""
        async with self._slot(server):
            try:
                with anyio.fail_after(time_limit):
                    client = await self._client(server)
                    result = await client.list_tools_mcp()
            except TimeoutError as exc:
                await self.drop(server)
                raise StepTimeout(f"tools/list of {server.id!r} timed out") from exc
            except TransientToolError:
                raise
            except Exception as exc:
                await self.drop(server)
                raise TransientToolError(f"tools/list of {server.id!r} failed: {exc}") from exc
        ttl_ms = getattr(result, "ttl_ms", None)
        return list(result.tools), (ttl_ms / 1000.0 if isinstance(ttl_ms, int | float) else None)

    async def aclose(self) -> None:
        held, self._held = list(self._held.values()), {}
        for item in held:
            await item.close()
