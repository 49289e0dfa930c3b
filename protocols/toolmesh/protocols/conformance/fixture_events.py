"""Server events in the fixture: list changes, resource updates and how clients hear about them.

- Handshake era: ``resources/subscribe`` / ``resources/unsubscribe`` keep a per-session set of URIs;
  changes go out as notifications on the session's standalone stream.
- Modern era (2026-07-28): ``subscriptions/listen`` streams (the SDK's :class:`ListenHandler`) fed
  by a :class:`SubscriptionBus`; the ack comes first and every frame carries the subscription id.

The trigger tools mutate the fixture for real (a tool or prompt appears or disappears) so a client
can watch a list-changed notification arrive.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import anyio
import mcp_types as mt
from fastmcp import Context, FastMCP
from fastmcp.prompts import Prompt
from fastmcp.tools import Tool, ToolResult
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import (
    ListenHandler,
    PromptsListChanged,
    ResourceUpdated,
    SubscriptionBus,
    ToolsListChanged,
)

from toolmesh.protocols.conformance.asking import is_modern
from toolmesh.protocols.errors import LimitExceeded, ToolmeshError, wire_code

__all__ = ["DYNAMIC_PROMPT", "DYNAMIC_TOOL", "WATCHED_URI", "SessionSubscriptions", "add_events"]

WATCHED_URI = "test://watched-resource"
DYNAMIC_TOOL = "test_dynamic_tool"
DYNAMIC_PROMPT = "test_dynamic_prompt"
MAX_SUBSCRIPTIONS_PER_SESSION = 256
MAX_TRACKED_SESSIONS = 10_000
_CHANGES = mt.ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
_READ_ONLY = mt.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def _session_key(request: Any) -> str:
    """The Streamable HTTP session a request belongs to (stdio has exactly one: "stdio")."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return "stdio"
    return str(headers.get("mcp-session-id") or "stateless")


class SessionSubscriptions:
    """Resource URIs each handshake-era session subscribed to.

    Bounded both ways: per session, and in sessions (the least recently subscribing session is forgotten
    first, since sessions that simply go away never unsubscribe).
    """

    def __init__(self, *, max_sessions: int = MAX_TRACKED_SESSIONS) -> None:
        self._by_session: OrderedDict[str, set[str]] = OrderedDict()
        self._max_sessions = max_sessions

    def subscribe(self, session: str, uri: str) -> None:
        uris = self._by_session.setdefault(session, set())
        self._by_session.move_to_end(session)
        if uri not in uris and len(uris) >= MAX_SUBSCRIPTIONS_PER_SESSION:
            raise LimitExceeded(
                f"at most {MAX_SUBSCRIPTIONS_PER_SESSION} resource subscriptions per session",
                hint="Unsubscribe from resources you no longer watch.",
            )
        uris.add(uri)
        while len(self._by_session) > self._max_sessions:
            self._by_session.popitem(last=False)

    def unsubscribe(self, session: str, uri: str) -> None:
        uris = self._by_session.get(session)
        if uris is not None:
            uris.discard(uri)
            if not uris:
                del self._by_session[session]

    def is_subscribed(self, session: str, uri: str) -> bool:
        return uri in self._by_session.get(session, ())


def add_events(server: FastMCP[Any], bus: SubscriptionBus) -> SessionSubscriptions:
    """Register subscribe/unsubscribe, subscriptions/listen and the trigger tools."""
    subscriptions = SessionSubscriptions()
    low = server._mcp_server  # the SDK server FastMCP wraps: the one place to add protocol handlers

    async def on_subscribe(
        ctx: ServerRequestContext[Any, Any], params: mt.SubscribeRequestParams
    ) -> mt.EmptyResult:
        try:
            subscriptions.subscribe(_session_key(ctx.request), str(params.uri))
        except ToolmeshError as exc:  # not a tool call: answer with the error's JSON-RPC code ourselves
            raise MCPError(code=wire_code(exc).jsonrpc, message=str(exc)) from exc
        return mt.EmptyResult()

    async def on_unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: mt.UnsubscribeRequestParams
    ) -> mt.EmptyResult:
        subscriptions.unsubscribe(_session_key(ctx.request), str(params.uri))
        return mt.EmptyResult()

    low.add_request_handler("resources/subscribe", mt.SubscribeRequestParams, on_subscribe)
    low.add_request_handler("resources/unsubscribe", mt.UnsubscribeRequestParams, on_unsubscribe)
    low.add_request_handler("subscriptions/listen", mt.SubscriptionsListenRequestParams, ListenHandler(bus))
    lock = anyio.Lock()

    @server.tool(annotations=_CHANGES)
    async def test_trigger_tool_change(ctx: Context) -> ToolResult:
        """Adds or removes the tool `test_dynamic_tool`, then announces that the tool list changed."""
        async with lock:
            if await server.get_tool(DYNAMIC_TOOL) is None:
                server.add_tool(Tool.from_function(_dynamic_tool, name=DYNAMIC_TOOL, annotations=_READ_ONLY))
                change = "added"
            else:
                server.local_provider.remove_tool(DYNAMIC_TOOL)
                change = "removed"
        await bus.publish(ToolsListChanged())
        if not is_modern(ctx):
            await ctx.session.send_notification(mt.ToolListChangedNotification())
        return ToolResult(content=[mt.TextContent(type="text", text=f"{DYNAMIC_TOOL} {change}")])

    @server.tool(annotations=_CHANGES)
    async def test_trigger_prompt_change(ctx: Context) -> ToolResult:
        """Adds or removes the prompt `test_dynamic_prompt`, then announces that the prompt list changed."""
        async with lock:
            if await server.get_prompt(DYNAMIC_PROMPT) is None:
                server.add_prompt(Prompt.from_function(_dynamic_prompt, name=DYNAMIC_PROMPT))
                change = "added"
            else:
                server.local_provider.remove_prompt(DYNAMIC_PROMPT)
                change = "removed"
        await bus.publish(PromptsListChanged())
        if not is_modern(ctx):
            await ctx.session.send_notification(mt.PromptListChangedNotification())
        return ToolResult(content=[mt.TextContent(type="text", text=f"{DYNAMIC_PROMPT} {change}")])

    @server.tool(annotations=_CHANGES)
    async def test_update_watched_resource(ctx: Context) -> ToolResult:
        """Announces a change of test://watched-resource to its subscribers."""
        await bus.publish(ResourceUpdated(uri=WATCHED_URI))
        notified = False
        request = ctx.request_context.request if ctx.request_context is not None else None
        if not is_modern(ctx) and subscriptions.is_subscribed(_session_key(request), WATCHED_URI):
            await ctx.session.send_resource_updated(WATCHED_URI)
            notified = True
        text = f"{WATCHED_URI} updated; this session {'was' if notified else 'was not'} notified"
        return ToolResult(content=[mt.TextContent(type="text", text=text)])

    @server.tool(annotations=_READ_ONLY)
    async def test_logging_tool(ctx: Context) -> ToolResult:
        """Logs at info and warning; the client sees them only at the level it asked for."""
        await ctx.log("test_logging_tool started", level="info", logger_name="conformance")
        await ctx.log("test_logging_tool warning sample", level="warning", logger_name="conformance")
        return ToolResult(content=[mt.TextContent(type="text", text="logged 2 messages")])

    return subscriptions


async def _dynamic_tool() -> str:
    """A tool that exists only between two calls of test_trigger_tool_change."""
    return "dynamic tool called"


async def _dynamic_prompt() -> str:
    """A prompt that exists only between two calls of test_trigger_prompt_change."""
    return "This prompt was added at run time."
