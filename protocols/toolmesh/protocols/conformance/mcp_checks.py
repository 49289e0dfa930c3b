"""MCP checks beyond the official suite, runnable against any server over stdio or Streamable HTTP.

Generic by construction: tools are found with ``tools/list`` and called only when their annotations say
read-only and not destructive (or the user passes ``--allow-calls``), with arguments built from their input
schema. Every check is bounded in time and skips with a reason when the server lacks the capability.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as mt
from mcp.shared.inbound import mcp_param_headers, x_mcp_header_map
from pydantic import BaseModel, ValidationError

from toolmesh.protocols.conformance.mcp_wire import (
    MODERN,
    EraPreference,
    Exchange,
    HttpTransport,
    McpSession,
    NegotiationError,
    StdioTransport,
    Transport,
    TransportClosed,
)
from toolmesh.protocols.conformance.report import CheckResult, Outcome, Report
from toolmesh.protocols.conformance.runner import (
    CheckRegistry,
    Finding,
    failed,
    passed,
    run_checks,
    skipped,
    warned,
)
from toolmesh.protocols.conformance.schemas import (
    NoExample,
    example_for,
    schema_problem,
    validation_error,
    wrong_type_arguments,
)

__all__ = ["MCP_CHECKS", "McpContext", "McpOptions", "McpTarget", "check_mcp"]

MCP_CHECKS: CheckRegistry[McpContext] = CheckRegistry("mcp")

_LIST_METHODS = {
    "tools": ("tools/list", "tools", "name"),
    "prompts": ("prompts/list", "prompts", "name"),
    "resources": ("resources/list", "resources", "uri"),
}
_LIST_MODELS: dict[str, type[BaseModel]] = {
    "tools/list": mt.ListToolsResult,
    "prompts/list": mt.ListPromptsResult,
    "resources/list": mt.ListResourcesResult,
}
_ANNOTATION_HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
_NO_SUCH_TOOL = "toolmesh-conformance-no-such-tool"
_MAX_CALLED_TOOLS = 25


@dataclass(frozen=True, slots=True)
class McpTarget:
    """Where the server is: a Streamable HTTP URL, or a command to spawn for stdio."""

    url: str | None = None
    stdio: Sequence[str] | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.url is None) == (self.stdio is None):
            raise ValueError("give exactly one of url or stdio")

    @property
    def label(self) -> str:
        return self.url if self.url is not None else " ".join(self.stdio or [])

    def transport(self) -> Transport:
        if self.url is not None:
            return HttpTransport(self.url, headers=self.headers)
        return StdioTransport(list(self.stdio or []), env=self.env, cwd=self.cwd)


@dataclass(frozen=True, slots=True)
class McpOptions:
    era: EraPreference = "auto"
    allow_calls: bool = False  # call tools whose annotations do not promise read-only and non-destructive
    timeout: float = 15.0  # per request
    startup_timeout: float = 60.0  # for the first answer (a stdio server may import a lot first)
    max_pages: int = 50
    shutdown_grace: float = 5.0  # stdio: how long the server may take to exit after its stdin closes
    silence: float = 2.0  # how long to wait for an answer that a lenient server may never send
    oversized_bytes: int = 6 * 1024 * 1024
    only: frozenset[str] | None = None


@dataclass(slots=True)
class ToolCall:
    tool: dict[str, Any]
    arguments: dict[str, Any] | None
    token: str
    exchange: Exchange | None = None
    problem: str | None = None

    @property
    def name(self) -> str:
        return str(self.tool.get("name"))


class McpContext:
    """What the checks share: the session, the tool list and one call of each safe tool."""

    def __init__(self, session: McpSession, options: McpOptions) -> None:
        self.session = session
        self.options = options
        self._tools: list[dict[str, Any]] | None = None
        self._tools_problem: str | None = None
        self._calls: list[ToolCall] | None = None

    @property
    def transport(self) -> Transport:
        return self.session.transport

    @property
    def listed_tools(self) -> list[dict[str, Any]] | None:
        return self._tools

    @property
    def has_tools(self) -> bool:
        return "tools" in self.session.capabilities

    async def tools(self) -> list[dict[str, Any]]:
        """Every tool over every page (cached); raises ValueError with the problem if listing fails."""
        if self._tools is None and self._tools_problem is None:
            try:
                items, _ = await self.list_all("tools/list", "tools")
                self._tools = [t for t in items if isinstance(t, dict)]
            except ValueError as exc:
                self._tools_problem = str(exc)
        if self._tools is None:
            raise ValueError(self._tools_problem or "tools/list failed")
        return self._tools

    async def list_all(self, method: str, key: str) -> tuple[list[Any], list[Exchange]]:
        """Follow nextCursor to the end; ValueError on a malformed page, a loop or too many pages."""
        items: list[Any] = []
        exchanges: list[Exchange] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(self.options.max_pages):
            exchange = await self.session.request(method, {"cursor": cursor} if cursor else {})
            exchanges.append(exchange)
            result = exchange.result
            if result is None:
                raise ValueError(f"{method} answered {exchange.describe()}")
            page = result.get(key)
            if not isinstance(page, list):
                raise ValueError(f"{method} result has no {key!r} array")
            model = _LIST_MODELS.get(method)
            if model is not None and (problem := model_problem(model, result)) is not None:
                raise ValueError(f"{method}: {problem}")
            items.extend(page)
            cursor = result.get("nextCursor")
            if cursor is None:
                return items, exchanges
            if not isinstance(cursor, str):
                raise ValueError(f"{method} nextCursor is {type(cursor).__name__}, not a string")
            if cursor in seen:
                raise ValueError(f"{method} returned cursor {cursor[:40]!r} twice: pagination loops")
            seen.add(cursor)
        raise ValueError(f"{method} still had a nextCursor after {self.options.max_pages} pages")

    def call_headers(self, tool: dict[str, Any], arguments: Any) -> dict[str, str]:
        """2026-07-28 over HTTP: the Mcp-Param-* headers mirroring arguments marked x-mcp-header."""
        if not (
            self.session.modern and isinstance(self.transport, HttpTransport) and isinstance(arguments, dict)
        ):
            return {}
        try:
            return mcp_param_headers(x_mcp_header_map(tool.get("inputSchema")), arguments)
        except (TypeError, ValueError):
            return {}

    async def call_tool(
        self, tool: dict[str, Any], arguments: Any, *, limit: float | None = None, **meta: Any
    ) -> Exchange:
        params: dict[str, Any] = {"name": tool.get("name"), "arguments": arguments}
        if meta:
            params["_meta"] = meta
        return await self.session.request(
            "tools/call", params, limit=limit, extra_headers=self.call_headers(tool, arguments)
        )

    def callable(self, tool: dict[str, Any]) -> bool:
        """May the kit call this tool? Only read-only, non-destructive ones unless --allow-calls."""
        if self.options.allow_calls:
            return True
        notes = tool.get("annotations")
        if not isinstance(notes, dict):
            return False
        return notes.get("readOnlyHint") is True and notes.get("destructiveHint") is not True

    async def calls(self) -> list[ToolCall]:
        """One call of each callable tool (cached), with a progress token and schema-built arguments."""
        if self._calls is not None:
            return self._calls
        calls: list[ToolCall] = []
        tools = [t for t in await self.tools() if self.callable(t)][:_MAX_CALLED_TOOLS]
        for index, tool in enumerate(tools):
            call = ToolCall(tool, None, f"toolmesh-progress-{index}")
            calls.append(call)
            schema = tool.get("inputSchema")
            try:
                call.arguments = example_for(schema if isinstance(schema, dict) else {})
            except NoExample as exc:
                call.problem = f"no arguments could be built from the input schema: {exc}"
                continue
            try:
                call.exchange = await self.call_tool(
                    tool, call.arguments, limit=self.options.timeout, progressToken=call.token
                )
            except TimeoutError:
                call.problem = f"no response within {self.options.timeout:.0f}s"
        self._calls = calls
        return calls


def model_problem(model: type[BaseModel], data: Any) -> str | None:
    """Why ``data`` is not what the official SDK's wire model ``model`` accepts (None when it is)."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "result"
        return f"{model.__name__} rejects it: {where}: {first['msg']} ({exc.error_count()} error(s))"
    return None


def _names(items: list[Any], key: str) -> list[str]:
    return [str(item.get(key)) for item in items if isinstance(item, dict)]


async def _still_up(ctx: McpContext, what: str) -> Finding | None:
    """A failure if the server no longer answers after ``what``; None when it does."""
    ok, note = await ctx.session.ping()
    return None if ok else failed(f"after {what}: {note}")


# --------------------------------------------------------------------------- lifecycle


@MCP_CHECKS.check("MCP-LIFECYCLE")
async def check_lifecycle(ctx: McpContext) -> Finding:
    session = ctx.session
    exchange = session.negotiation
    result = exchange.result if exchange else None
    if result is None:
        return failed("negotiation produced no result")
    if not isinstance(result.get("capabilities"), dict):
        return failed("negotiation result has no capabilities object")
    model: type[BaseModel] = mt.DiscoverResult if session.modern else mt.InitializeResult
    if (problem := model_problem(model, result)) is not None:
        return failed(problem)
    if session.modern:
        versions = result.get("supportedVersions")
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            return failed("server/discover supportedVersions is not a list of strings")
        return passed(f"server/discover: supportedVersions {versions}")
    info = result.get("serverInfo")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return failed("initialize result has no serverInfo.name")
    if not isinstance(info.get("version"), str):
        return failed("initialize result has no serverInfo.version")
    return passed(f"initialize: protocolVersion {result.get('protocolVersion')}, server {info.get('name')}")


# --------------------------------------------------------------------------- tools


@MCP_CHECKS.check("MCP-TOOLS-LIST")
async def check_tools_list(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    try:
        tools = await ctx.tools()
    except ValueError as exc:
        return failed(str(exc))
    problems: list[str] = []
    names = [t.get("name") for t in tools]
    for tool in tools:
        if not isinstance(tool.get("name"), str) or not tool.get("name"):
            problems.append(f"a tool has no string name: {json.dumps(tool)[:80]}")
        if not isinstance(tool.get("inputSchema"), dict):
            problems.append(f"{tool.get('name')}: no inputSchema object")
    dupes = sorted({str(n) for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate tool names: {', '.join(dupes)}")
    if problems:
        return failed("; ".join(problems[:5]))
    return passed(f"{len(tools)} tools, names unique")


async def _schemas(ctx: McpContext, key: str) -> Finding | list[tuple[str, Any]]:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    try:
        tools = await ctx.tools()
    except ValueError as exc:
        return failed(f"tools/list failed: {exc}")
    return [(str(t.get("name")), t.get(key)) for t in tools if key in t]


async def _check_schemas(ctx: McpContext, key: str, label: str, none_reason: str) -> Finding:
    found = await _schemas(ctx, key)
    if isinstance(found, Finding):
        return found
    if not found:
        return skipped(none_reason)
    bad = [f"{name}: {problem}" for name, schema in found if (problem := schema_problem(schema))]
    if bad:
        return failed("; ".join(bad[:5]))
    return passed(f"{len(found)} {label} schemas valid")


@MCP_CHECKS.check("MCP-TOOL-INPUT-SCHEMA")
async def check_input_schemas(ctx: McpContext) -> Finding:
    return await _check_schemas(ctx, "inputSchema", "input", "the server lists no tools")


@MCP_CHECKS.check("MCP-TOOL-OUTPUT-SCHEMA")
async def check_output_schemas(ctx: McpContext) -> Finding:
    return await _check_schemas(ctx, "outputSchema", "output", "no tool declares an outputSchema")


@MCP_CHECKS.check("MCP-TOOL-ANNOTATIONS")
async def check_annotations(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    try:
        tools = await ctx.tools()
    except ValueError as exc:
        return failed(f"tools/list failed: {exc}")
    if not tools:
        return skipped("the server lists no tools")
    missing = [str(t.get("name")) for t in tools if not isinstance(t.get("annotations"), dict)]
    wrong = [
        f"{t.get('name')}.{hint}"
        for t in tools
        if isinstance(t.get("annotations"), dict)
        for hint in _ANNOTATION_HINTS
        if hint in t["annotations"] and not isinstance(t["annotations"][hint], bool)
    ]
    if wrong:
        return failed(f"non-boolean hints: {', '.join(wrong[:8])}")
    if missing:
        return failed(f"{len(missing)}/{len(tools)} tools have no annotations: {', '.join(missing[:8])}")
    return passed(f"{len(tools)} tools annotated")


@MCP_CHECKS.check("MCP-TOOL-STRUCTURED", timeout=180)
async def check_structured(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    calls = await ctx.calls()
    if not calls:
        return skipped("no tool is safe to call (none is annotated readOnlyHint); pass --allow-calls")
    problems: list[str] = []
    checked = 0
    for call in calls:
        result = call.exchange.result if call.exchange is not None else None
        if call.exchange is not None and result is None:
            call.problem = call.problem or f"answered {call.exchange.describe()}"
        if result is None:
            continue
        if result.get("resultType") == "input_required":  # 2026-07-28: the tool asks the client first
            if (problem := model_problem(mt.InputRequiredResult, result)) is not None:
                problems.append(f"{call.name}: {problem}")
            call.problem = call.problem or "asked for input (the kit does not answer input requests)"
            continue
        if (problem := model_problem(mt.CallToolResult, result)) is not None:
            problems.append(f"{call.name}: {problem}")
        schema = call.tool.get("outputSchema")
        if not isinstance(schema, dict) or result.get("isError") is True:
            continue
        checked += 1
        structured = result.get("structuredContent")
        if structured is None:
            problems.append(f"{call.name}: declares an outputSchema but returned no structuredContent")
        elif (error := validation_error(structured, schema)) is not None:
            problems.append(f"{call.name}: structuredContent does not match outputSchema: {error}")
    if problems:
        return failed("; ".join(problems[:5]))
    if not checked:
        reasons = [f"{c.name}: {c.problem}" for c in calls if c.problem]
        why = "; ".join(reasons[:3]) if reasons else "no successful call of a tool with an outputSchema"
        return skipped(why)
    return passed(f"{checked} tool results match their output schemas")


@MCP_CHECKS.check("MCP-PROGRESS", timeout=180)
async def check_progress(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    calls = await ctx.calls()
    if not calls:
        return skipped("no tool is safe to call; pass --allow-calls")
    tokens = {call.token for call in calls}
    seen = 0
    problems: list[str] = []
    for call in calls:
        if call.exchange is None:
            continue
        last: float | None = None
        for note in call.exchange.notifications:
            if note.get("method") != "notifications/progress":
                continue
            params = note.get("params") or {}
            token, progress, total = params.get("progressToken"), params.get("progress"), params.get("total")
            seen += 1
            if token not in tokens:
                problems.append(f"{call.name}: progress for unknown token {token!r}")
            elif token != call.token:
                problems.append(f"{call.name}: progress carries another request's token {token!r}")
            if not isinstance(progress, int | float) or isinstance(progress, bool):
                problems.append(f"{call.name}: progress is not a number: {progress!r}")
                continue
            if last is not None and progress <= last:
                problems.append(f"{call.name}: progress went from {last} to {progress} (must increase)")
            if total is not None and (not isinstance(total, int | float) or isinstance(total, bool)):
                problems.append(f"{call.name}: total is not a number: {total!r}")
            last = progress
    if problems:
        return failed("; ".join(problems[:5]))
    if not seen:
        return skipped(f"none of the {len(calls)} tools called sent progress notifications")
    return passed(f"{seen} progress notifications, tokens and order correct")


@MCP_CHECKS.check("MCP-UNKNOWN-METHOD")
async def check_unknown_method(ctx: McpContext) -> Finding:
    exchange = await ctx.session.request("toolmesh/no-such-method", {})
    if exchange.error_code == -32601:
        return passed("error -32601")
    return failed(f"expected error -32601, got {exchange.describe()}")


@MCP_CHECKS.check("MCP-UNKNOWN-TOOL")
async def check_unknown_tool(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    exchange = await ctx.session.request("tools/call", {"name": _NO_SUCH_TOOL, "arguments": {}})
    if exchange.error_code == -32602:
        return passed("error -32602")
    if exchange.error is not None:
        return failed(f"protocol error, but not -32602: {exchange.describe()}")
    if (exchange.result or {}).get("isError") is True:
        return failed(
            "answered with an isError result; the spec lists unknown tools as protocol error -32602"
        )
    return failed(f"a call to a tool that does not exist succeeded: {exchange.describe()}")


# --------------------------------------------------------------------------- utilities


@MCP_CHECKS.check("MCP-PAGINATION", timeout=120)
async def check_pagination(ctx: McpContext) -> Finding:
    lists = [(cap, spec) for cap, spec in _LIST_METHODS.items() if cap in ctx.session.capabilities]
    if not lists:
        return skipped("the server advertises no listable capability")
    notes: list[str] = []
    for _, (method, key, ident) in lists:
        try:
            items, exchanges = await ctx.list_all(method, key)
        except ValueError as exc:
            return failed(str(exc))
        names = _names(items, ident)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            return failed(f"{method}: items repeated across pages: {', '.join(dupes[:5])}")
        notes.append(f"{method}: {len(items)} items in {len(exchanges)} page(s)")
    method = lists[0][1][0]
    bad = await ctx.session.request(method, {"cursor": "toolmesh-invalid-cursor-\u2603"})
    if bad.error_code == -32602:
        notes.append("invalid cursor: -32602")
        return passed("; ".join(notes))
    if bad.error is not None:
        return warned("; ".join([*notes, f"invalid cursor answered {bad.describe()} (SHOULD be -32602)"]))
    return warned("; ".join([*notes, "an invalid cursor was accepted (SHOULD be error -32602)"]))


@MCP_CHECKS.check("MCP-CACHING")
async def check_caching(ctx: McpContext) -> Finding:
    if not ctx.session.modern:
        return skipped(f"caching hints are a {MODERN} feature; negotiated {ctx.session.version}")
    results: list[tuple[str, dict[str, Any] | None]] = [
        ("server/discover", ctx.session.negotiation.result if ctx.session.negotiation else None)
    ]
    for cap, (method, _, _) in _LIST_METHODS.items():
        if cap in ctx.session.capabilities:
            results.append((method, (await ctx.session.request(method, {})).result))
    listed = dict(results).get("resources/list") or {}
    resources = [
        r for r in listed.get("resources") or [] if isinstance(r, dict) and isinstance(r.get("uri"), str)
    ]
    if resources:  # reading is side-effect free by definition
        read = await ctx.session.request("resources/read", {"uri": resources[0]["uri"]})
        if read.result is not None and read.result.get("resultType") != "input_required":
            results.append(("resources/read", read.result))
    problems: list[str] = []
    for method, result in results:
        if result is None:
            problems.append(f"{method}: no result")
            continue
        ttl, scope = result.get("ttlMs"), result.get("cacheScope")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
            problems.append(f"{method}: ttlMs is {ttl!r}")
        if scope not in ("public", "private"):
            problems.append(f"{method}: cacheScope is {scope!r}")
    if problems:
        return failed("; ".join(problems[:5]))
    shown = ", ".join(f"{m} ttlMs={r.get('ttlMs')}/{r.get('cacheScope')}" for m, r in results if r)
    return passed(shown)


@MCP_CHECKS.check("MCP-CANCELLATION", timeout=60)
async def check_cancellation(ctx: McpContext) -> Finding:
    session = ctx.session
    transport = ctx.transport
    notes: list[str] = []
    calls = [c for c in await ctx.calls() if c.arguments is not None] if ctx.has_tools else []
    if isinstance(transport, StdioTransport):
        start = len(transport.inbox)
        await session.notify(
            "notifications/cancelled", {"requestId": "toolmesh-never-sent", "reason": "conformance check"}
        )
        if (down := await _still_up(ctx, "cancelling an unknown request")) is not None:
            return down
        answered = [m for m in transport.inbox[start:] if "method" not in m and m.get("id") is None]
        if answered:
            return failed(f"answered a notification: {json.dumps(answered[0])[:160]}")
        notes.append("unknown request id ignored")
        if calls:
            call = max(calls, key=lambda c: len(c.exchange.notifications) if c.exchange else 0)
            request_id = session.next_id()
            params = session.params_for("tools/call", {"name": call.name, "arguments": call.arguments})
            message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
            await session.send_raw(json.dumps(message).encode(), request_id=request_id, wait=False)
            await session.notify(
                "notifications/cancelled", {"requestId": request_id, "reason": "conformance"}
            )
            if (down := await _still_up(ctx, f"cancelling a call of {call.name}")) is not None:
                return down
            notes.append(f"in-flight {call.name} cancelled, server still serving")
        return passed("; ".join(notes))
    if isinstance(transport, HttpTransport):
        if not session.modern:
            note = await session.notify(
                "notifications/cancelled", {"requestId": "toolmesh-never-sent", "reason": "conformance check"}
            )
            if note.status is not None and note.status >= 500:
                return failed(f"a cancellation notification got HTTP {note.status}")
            if note.result is not None or note.error is not None:
                return failed(f"answered a notification with a JSON-RPC message: {note.describe()}")
            notes.append(f"cancel notification: HTTP {note.status}")
        if calls:
            call = calls[0]
            finished = False
            with anyio.move_on_after(0.2):  # abandoning the POST is the HTTP spelling of cancellation
                await ctx.call_tool(call.tool, call.arguments, limit=30)
                finished = True
            notes.append(
                f"{call.name} {'finished before it could be abandoned' if finished else 'abandoned'}"
            )
        if (down := await _still_up(ctx, "cancellation")) is not None:
            return down
        return passed("; ".join([*notes, "server still serving"]))
    return skipped(f"unknown transport {transport.kind}")


# --------------------------------------------------------------------------- hostile input


async def _send_bytes(
    ctx: McpContext, payload: bytes, request_id: Any, limit: float | None = None
) -> Exchange | None:
    """Send raw bytes; the exchange, or None when nothing came back in time (stdio)."""
    headers = ctx.session.headers_for("tools/list", {}) if isinstance(ctx.transport, HttpTransport) else {}
    try:
        return await ctx.session.send_raw(
            payload, request_id=request_id, headers=headers, limit=limit or ctx.options.silence
        )
    except (TimeoutError, TransportClosed):  # silence, or the server died (the liveness probe says which)
        return None


def _http_refused(exchange: Exchange) -> bool:
    return exchange.status is not None and 400 <= exchange.status < 500


@MCP_CHECKS.check("MCP-HOSTILE-MALFORMED")
async def check_malformed(ctx: McpContext) -> Finding:
    exchange = await _send_bytes(ctx, b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", ', None)
    if (down := await _still_up(ctx, "malformed JSON")) is not None:
        return down
    if exchange is None:
        return warned("no parse error came back (SHOULD be -32700); the server stays up")
    if exchange.status is not None and exchange.status >= 500:
        return failed(f"malformed JSON caused {exchange.describe()}")
    if exchange.error_code == -32700:
        return passed(f"{exchange.describe()}; server stays up")
    if exchange.result is not None:
        return failed(f"malformed JSON got a result: {exchange.describe()}")
    if _http_refused(exchange):
        return warned(f"refused with {exchange.describe()} (SHOULD carry -32700); server stays up")
    return warned(f"answered {exchange.describe()} (SHOULD be -32700); server stays up")


@MCP_CHECKS.check("MCP-HOSTILE-INVALID-REQUEST")
async def check_invalid_request(ctx: McpContext) -> Finding:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("method is a number", {"jsonrpc": "2.0", "id": "toolmesh-invalid-1", "method": 42}),
        (
            "params is a string",
            {"jsonrpc": "2.0", "id": "toolmesh-invalid-2", "method": "tools/list", "params": "x"},
        ),
    ]
    notes: list[str] = []
    silent: list[str] = []
    for label, message in cases:
        exchange = await _send_bytes(ctx, json.dumps(message).encode(), message["id"])
        if (down := await _still_up(ctx, label)) is not None:
            return down
        if exchange is None:
            silent.append(label)
            continue
        if exchange.status is not None and exchange.status >= 500:
            return failed(f"{label}: {exchange.describe()}")
        if exchange.result is not None:
            return failed(f"{label}: accepted with a result")
        notes.append(f"{label}: {exchange.describe()}")
    if silent:
        return warned(f"no error response for: {', '.join(silent)} (SHOULD be -32600); server stays up")
    return passed("; ".join(notes))


@MCP_CHECKS.check("MCP-HOSTILE-WRONG-TYPES", timeout=60)
async def check_wrong_types(ctx: McpContext) -> Finding:
    if not ctx.has_tools:
        return skipped("the server does not advertise the tools capability")
    tools = [t for t in await ctx.tools() if ctx.callable(t)]
    if not tools:
        return skipped("no tool is safe to call (none is annotated readOnlyHint); pass --allow-calls")
    notes: list[str] = []
    for tool in tools[:5]:
        raw_schema = tool.get("inputSchema")
        broken = wrong_type_arguments(raw_schema) if isinstance(raw_schema, dict) else None
        cases: list[tuple[str, Any]] = [("arguments is a string", "not-an-object")]
        if broken is not None:
            cases.insert(0, (broken[1], broken[0]))
        for label, arguments in cases:
            try:
                exchange = await ctx.call_tool(tool, arguments)
            except TimeoutError:
                return failed(f"{tool.get('name')} ({label}): no response within {ctx.session.timeout:.0f}s")
            if (down := await _still_up(ctx, f"{tool.get('name')} ({label})")) is not None:
                return down
            result = exchange.result
            if result is not None and result.get("isError") is not True:
                return failed(f"{tool.get('name')} ({label}): accepted, returned a successful result")
            if exchange.status is not None and exchange.status >= 500:
                return failed(f"{tool.get('name')} ({label}): {exchange.describe()}")
            notes.append(f"{tool.get('name')} ({label}): {exchange.describe()}")
    return passed("; ".join(notes[:4]))


@MCP_CHECKS.check("MCP-HOSTILE-OVERSIZED", timeout=90)
async def check_oversized(ctx: McpContext) -> Finding:
    size = ctx.options.oversized_bytes
    request_id = "toolmesh-oversized"
    params = ctx.session.params_for("tools/call", {"name": _NO_SUCH_TOOL, "arguments": {"blob": "A" * size}})
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    started = time.monotonic()
    try:
        exchange: Exchange | None = await _send_bytes(ctx, json.dumps(message).encode(), request_id, limit=30)
    except TransportClosed as exc:
        exchange = None
        if (down := await _still_up(ctx, f"a {size // 1024} KiB request ({exc})")) is not None:
            return down
    if (down := await _still_up(ctx, f"a {size // 1024} KiB request")) is not None:
        return down
    took = time.monotonic() - started
    if exchange is None:
        return warned(f"no answer to a {size // 1024} KiB request; server stays up")
    if exchange.status is not None and exchange.status >= 500:
        return failed(f"{size // 1024} KiB request: {exchange.describe()}")
    result = exchange.result
    if result is not None and result.get("isError") is not True:
        return failed(f"{size // 1024} KiB call of a non-existent tool succeeded")
    return passed(f"{size // 1024} KiB request: {exchange.describe()} in {took:.1f}s; server stays up")


# --------------------------------------------------------------------------- transports


@MCP_CHECKS.check("MCP-HTTP-ORIGIN")
async def check_origin(ctx: McpContext) -> Finding:
    if not isinstance(ctx.transport, HttpTransport):
        return skipped("Streamable HTTP only")
    method = "tools/list" if ctx.has_tools else ("server/discover" if ctx.session.modern else "ping")
    exchange = await ctx.session.request(method, {}, extra_headers={"origin": "http://evil.example"})
    if exchange.status == 403:
        return passed("foreign Origin refused with 403")
    if exchange.status is not None and 400 <= exchange.status < 500:
        return warned(f"foreign Origin refused with HTTP {exchange.status} (spec: 403)")
    return failed(f"a request with Origin http://evil.example was served: {exchange.describe()}")


@MCP_CHECKS.check("MCP-JSONRPC")
async def check_jsonrpc(ctx: McpContext) -> Finding:
    problems: list[str] = []
    count = 0
    for exchange in ctx.session.history:
        response = exchange.response
        if response is None or exchange.request_id is None:
            continue
        count += 1
        label = exchange.method or "raw"
        if response.get("jsonrpc") != "2.0":
            problems.append(f"{label}: jsonrpc is {response.get('jsonrpc')!r}")
        null_error = (
            response.get("id") is None and "error" in response
        )  # id undetectable: JSON-RPC allows null
        if response.get("id") != exchange.request_id and not null_error:
            problems.append(f"{label}: id {response.get('id')!r} != request id {exchange.request_id!r}")
        if ("result" in response) == ("error" in response):
            problems.append(f"{label}: needs exactly one of result and error")
        error = response.get("error")
        if "error" in response and (
            not isinstance(error, dict)
            or not isinstance(error.get("code"), int)
            or not isinstance(error.get("message"), str)
        ):
            problems.append(f"{label}: error without integer code and string message")
        if "result" in response and not isinstance(response.get("result"), dict):
            problems.append(f"{label}: result is not an object")
    if problems:
        return failed(f"{len(problems)} problem(s): " + "; ".join(problems[:4]))
    if not count:
        return skipped("no responses were recorded")
    return passed(f"{count} responses well formed")


def _stdout_lines(ctx: McpContext) -> list[bytes] | None:
    transport = ctx.transport
    return list(transport.stdout_lines) if isinstance(transport, StdioTransport) else None


@MCP_CHECKS.check("MCP-STDIO-FRAMING", needs_session=False)
async def check_framing(ctx: McpContext) -> Finding:
    lines = _stdout_lines(ctx)
    if lines is None:
        return skipped("stdio only")
    if not lines:
        return skipped("the server wrote nothing to stdout")
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text.startswith((b"{", b"[")):
            continue  # text output: MCP-STDIO-LOGGING reports it
        try:
            message = json.loads(text)
        except ValueError:
            problems.append(f"line {number} is not a complete JSON message: {text[:80]!r}")
            continue
        if not isinstance(message, dict):
            problems.append(f"line {number} is a JSON {type(message).__name__}, not one message")
        elif message.get("jsonrpc") != "2.0" or not ("method" in message or "id" in message):
            problems.append(f"line {number} is JSON but not a JSON-RPC message: {text[:80]!r}")
        if not raw.endswith(b"\n"):
            problems.append(f"line {number} is not newline-terminated")
    if problems:
        return failed(f"{len(problems)} bad line(s): " + "; ".join(problems[:3]))
    return passed(f"{len(lines)} stdout lines, each one JSON-RPC message")


@MCP_CHECKS.check("MCP-STDIO-LOGGING", needs_session=False)
async def check_logging(ctx: McpContext) -> Finding:
    lines = _stdout_lines(ctx)
    if lines is None or not isinstance(ctx.transport, StdioTransport):
        return skipped("stdio only")
    if not lines:
        return skipped("the server wrote nothing to stdout")
    stray = [raw for raw in lines if not raw.strip().startswith((b"{", b"["))]
    if stray:
        shown = "; ".join(repr(s.strip()[:60]) for s in stray[:3])
        return failed(f"{len(stray)} non-message line(s) on stdout: {shown}")
    return passed(f"stdout clean; {len(ctx.transport.stderr_lines)} line(s) on stderr")


@MCP_CHECKS.check("MCP-STDIO-SHUTDOWN", needs_session=False)
async def check_shutdown(ctx: McpContext) -> Finding:
    transport = ctx.transport
    if not isinstance(transport, StdioTransport):
        return skipped("stdio only")
    if transport.process is None:
        return skipped("the server did not start")
    grace = ctx.options.shutdown_grace
    code = await transport.close_stdin_and_wait(grace)
    if code is None:
        return failed(f"still running {grace:.0f}s after its stdin was closed")
    return passed(f"exited with code {code} after stdin closed")


# --------------------------------------------------------------------------- run


async def check_mcp(target: McpTarget, options: McpOptions | None = None) -> Report:
    """Run every MCP check against ``target``; never raises for server misbehaviour."""
    options = options or McpOptions()
    transport = target.transport()
    session = McpSession(
        transport, era=options.era, timeout=options.timeout, startup_timeout=options.startup_timeout
    )
    report = Report("mcp", target.label, details={"transport": transport.kind})
    only = set(options.only) if options.only is not None else None
    try:
        try:
            with anyio.fail_after(options.startup_timeout * 2 + 5):
                await session.connect()
        except (NegotiationError, TransportClosed, TimeoutError, OSError) as exc:
            report.results.append(
                CheckResult("MCP-LIFECYCLE", Outcome.FAIL, f"could not negotiate a session: {exc}")
            )
            if isinstance(transport, StdioTransport) and transport.stderr_lines:
                report.details["stderr"] = b"".join(transport.stderr_lines[-5:]).decode("utf-8", "replace")
            ctx = McpContext(session, options)
            for check in MCP_CHECKS.checks[1:]:
                if check.needs_session:
                    report.results.append(CheckResult(check.requirement_id, Outcome.SKIP, "no session"))
                else:
                    report.results.extend(
                        await run_checks(
                            [check], ctx, variant=transport.kind, only=only, fatal=(TransportClosed,)
                        )
                    )
            return report
        report.details["protocol_version"] = str(session.version)
        if session.server_info:
            report.details["server"] = (
                f"{session.server_info.get('name')} {session.server_info.get('version', '')}"
            )
        ctx = McpContext(session, options)
        report.results.extend(
            await run_checks(
                MCP_CHECKS.checks,
                ctx,
                variant=f"{transport.kind} {session.version}",
                only=only,
                fatal=(TransportClosed,),
            )
        )
        if ctx.listed_tools is not None:
            report.details["tools"] = str(len(ctx.listed_tools))
    finally:
        await session.close()
    return report
