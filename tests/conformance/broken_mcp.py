"""A hand-written MCP server (standard library only) that can be broken on purpose.

With no faults it is a small, correct server on both eras (2026-07-28 discover, 2025-11-25 initialize):
three tools (one destructive, which the kit must never call unless allowed), two pages of tools/list,
progress, cache hints, -32700/-32600/-32601/-32602 errors. Each fault breaks exactly one requirement so
the tests can prove that each check fails when it should.

Run on stdio: ``python broken_mcp.py [FAULT ...]``; over HTTP: :func:`http_app`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

FAULTS = frozenset(
    {
        "stdout-log",  # MCP-STDIO-LOGGING: prints a log line on stdout
        "multiline-json",  # MCP-STDIO-FRAMING: pretty-printed (multi-line) responses
        "no-exit",  # MCP-STDIO-SHUTDOWN: ignores the end of stdin
        "bad-discover",  # MCP-LIFECYCLE: negotiation result without capabilities
        "legacy-only",  # (not a fault) server/discover is an unknown method
        "bad-envelope",  # MCP-JSONRPC: tools/list responses carry result and error
        "unknown-method-ok",  # MCP-UNKNOWN-METHOD
        "unknown-tool-ok",  # MCP-UNKNOWN-TOOL
        "dup-tools",  # MCP-TOOLS-LIST
        "bad-input-schema",  # MCP-TOOL-INPUT-SCHEMA
        "bad-output-schema",  # MCP-TOOL-OUTPUT-SCHEMA
        "structured-mismatch",  # MCP-TOOL-STRUCTURED
        "bad-content",  # MCP-TOOL-STRUCTURED: a content block the SDK's CallToolResult rejects
        "no-annotations",  # MCP-TOOL-ANNOTATIONS
        "pagination-loop",  # MCP-PAGINATION
        "no-cache-hints",  # MCP-CACHING
        "bad-progress",  # MCP-PROGRESS
        "crash-on-cancel",  # MCP-CANCELLATION
        "crash-on-malformed",  # MCP-HOSTILE-MALFORMED
        "crash-on-invalid",  # MCP-HOSTILE-INVALID-REQUEST
        "accept-wrong-types",  # MCP-HOSTILE-WRONG-TYPES
        "crash-on-oversized",  # MCP-HOSTILE-OVERSIZED
        "no-origin-check",  # MCP-HTTP-ORIGIN (HTTP only)
    }
)
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
DESTRUCTIVE_MARKER_ENV = "BROKEN_MCP_DESTRUCTIVE_MARKER"


class Crash(Exception):
    """The server dies (a fault)."""


def _tools(faults: set[str]) -> list[dict[str, Any]]:
    echo_input: dict[str, Any] = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 100},
            "times": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    if "bad-input-schema" in faults:
        echo_input = {"type": "object", "properties": {"text": {"type": "strng"}}}
    echo_output: dict[str, Any] = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "length": {"type": "integer"}},
        "required": ["text", "length"],
    }
    if "bad-output-schema" in faults:
        echo_output = {"type": 5}
    read_only = {
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    }
    tools = [
        {
            "name": "echo",
            "description": "Echo text.",
            "inputSchema": echo_input,
            "outputSchema": echo_output,
            "annotations": read_only,
        },
        {
            "name": "count",
            "description": "Count to n.",
            "annotations": read_only,
            "inputSchema": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 5}},
                "required": ["n"],
            },
        },
        {
            "name": "delete_everything",
            "description": "Destructive: must not be called by a checker.",
            "inputSchema": {"type": "object", "properties": {}},
            "annotations": {"readOnlyHint": False, "destructiveHint": True},
        },
    ]
    if "no-annotations" in faults:
        for tool in tools:
            tool.pop("annotations")
    return tools


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class Server:
    def __init__(self, faults: set[str]):
        unknown = faults - FAULTS
        if unknown:
            raise SystemExit(f"unknown faults: {sorted(unknown)}")
        self.faults = faults
        self.tools = _tools(faults)

    # --- one raw message in, zero or more messages out ---

    def handle_raw(self, line: str) -> list[dict[str, Any]]:
        if "crash-on-oversized" in self.faults and len(line) > 1_000_000:
            raise Crash("line too long")
        try:
            message = json.loads(line)
        except ValueError:
            if "crash-on-malformed" in self.faults:
                raise Crash("parse error") from None
            return [_error(None, -32700, "Parse error")]
        if not isinstance(message, dict):
            return [_error(None, -32600, "Invalid Request: not an object")]
        return self.handle(message)

    def handle(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        method = message.get("method")
        request_id = message.get("id")
        if "method" not in message:
            return []  # a response from the client (e.g. to a server request): nothing to do
        if not isinstance(method, str):
            if "crash-on-invalid" in self.faults:
                raise Crash("method is not a string")
            return [_error(request_id, -32600, "Invalid Request: method must be a string")]
        params = message.get("params", {})
        if not isinstance(params, dict):
            if "crash-on-invalid" in self.faults:
                raise Crash("params is not an object")
            return [_error(request_id, -32600, "Invalid Request: params must be an object")]
        if "id" not in message:  # notification
            if method == "notifications/cancelled" and "crash-on-cancel" in self.faults:
                raise Crash("cancelled")
            return []
        modern = params.get("_meta", {}).get("io.modelcontextprotocol/protocolVersion") == MODERN
        try:
            out = self.dispatch(method, params, request_id, modern)
        except LookupError:
            return [_error(request_id, -32601, f"Method not found: {method}")]
        except ValueError as exc:
            return [_error(request_id, -32602, str(exc))]
        response = out[-1]
        if "bad-envelope" in self.faults and method == "tools/list":
            response["error"] = None
        return out

    def dispatch(
        self, method: str, params: dict[str, Any], request_id: Any, modern: bool
    ) -> list[dict[str, Any]]:
        def ok(result: dict[str, Any], *, cacheable: bool = False) -> list[dict[str, Any]]:
            if modern:
                result["resultType"] = "complete"
                if cacheable and "no-cache-hints" not in self.faults:
                    result.update(ttlMs=60_000, cacheScope="public")
            return [{"jsonrpc": "2.0", "id": request_id, "result": result}]

        capabilities: dict[str, Any] = {"tools": {"listChanged": False}}
        if method == "server/discover" and "legacy-only" not in self.faults:
            result: dict[str, Any] = {"supportedVersions": [MODERN], "capabilities": capabilities}
            if "bad-discover" in self.faults:
                result.pop("capabilities")
            return ok(result, cacheable=True)
        if method == "initialize":
            result = {
                "protocolVersion": LEGACY,
                "capabilities": capabilities,
                "serverInfo": {"name": "broken-mcp", "version": "1.0"},
            }
            if "bad-discover" in self.faults:
                result.pop("capabilities")
            return ok(result)
        if method == "ping":
            return ok({})
        if method == "tools/list":
            return ok(self.list_tools(params.get("cursor")), cacheable=True)
        if method == "tools/call":
            return self.call_tool(params, request_id, ok)
        if "unknown-method-ok" in self.faults:
            return ok({})
        raise LookupError(method)

    def list_tools(self, cursor: Any) -> dict[str, Any]:
        tools = self.tools + (self.tools if "dup-tools" in self.faults else [])
        if "pagination-loop" in self.faults:
            return {"tools": tools[:1], "nextCursor": "again"}
        if cursor is None:
            return {"tools": tools[:2], "nextCursor": "page-2"}
        if cursor == "page-2":
            return {"tools": tools[2:]}
        raise ValueError(f"invalid cursor {str(cursor)[:40]!r}")

    def call_tool(self, params: dict[str, Any], request_id: Any, ok: Any) -> list[dict[str, Any]]:
        name = params.get("name")
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ValueError("arguments must be an object")
        if name == "echo":
            text = arguments.get("text")
            if not isinstance(text, str) and "accept-wrong-types" not in self.faults:
                raise ValueError("text must be a string")
            text = str(text)
            notes = self.progress(params, 2)
            structured: dict[str, Any] = {"text": text, "length": len(text)}
            if "structured-mismatch" in self.faults:
                structured = {"text": len(text)}
            result = {
                "content": [{"type": "text", "text": json.dumps(structured)}],
                "structuredContent": structured,
                "isError": False,
            }
            return [*notes, *ok(result)]
        if name == "count":
            n = arguments.get("n")
            if not isinstance(n, int) or isinstance(n, bool):
                return ok({"content": [{"type": "text", "text": "n must be an integer"}], "isError": True})
            kind = "txt" if "bad-content" in self.faults else "text"
            return ok({"content": [{"type": kind, "text": " ".join(map(str, range(n)))}], "isError": False})
        if name == "delete_everything":
            marker = os.environ.get(DESTRUCTIVE_MARKER_ENV)
            if marker:
                with open(marker, "a", encoding="utf-8") as fh:
                    fh.write("called\n")
            return ok({"content": [{"type": "text", "text": "deleted"}], "isError": False})
        if "unknown-tool-ok" in self.faults:
            return ok({"content": [{"type": "text", "text": "sure"}], "isError": False})
        raise ValueError(f"Unknown tool: {name!r}")

    def progress(self, params: dict[str, Any], steps: int) -> list[dict[str, Any]]:
        token = params.get("_meta", {}).get("progressToken")
        if token is None:
            return []
        values = [2.0, 1.0] if "bad-progress" in self.faults else [float(i + 1) for i in range(steps)]
        return [
            {
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progressToken": token, "progress": value, "total": float(steps)},
            }
            for value in values
        ]


def _write(message: dict[str, Any], faults: set[str]) -> None:
    text = json.dumps(message, indent=2 if "multiline-json" in faults else None)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    faults = set(argv)
    server = Server(faults)
    if "stdout-log" in faults:
        print("broken-mcp starting up, logging to stdout")
    print("broken-mcp ready", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = server.handle_raw(line)
        except Crash as exc:
            print(f"crashed: {exc}", file=sys.stderr)
            return 3
        for message in out:
            _write(message, faults)
    if "no-exit" in faults:
        import time

        time.sleep(60)
    return 0


def http_app(faults: set[str]) -> Any:
    """The same server over a minimal Streamable HTTP endpoint at /mcp (JSON or SSE responses)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    server = Server(faults)

    async def endpoint(request: Request) -> Response:
        origin = request.headers.get("origin")
        if (
            origin
            and "127.0.0.1" not in origin
            and "localhost" not in origin
            and "no-origin-check" not in faults
        ):
            return JSONResponse(_error(None, -32600, "forbidden origin"), status_code=403)
        body = (await request.body()).decode("utf-8", "replace")
        if len(body) > 1_000_000:
            return JSONResponse(_error(None, -32600, "request too large"), status_code=413)
        try:
            out = server.handle_raw(body)
        except Crash:
            return Response("internal error", status_code=500)
        if not out:
            return Response(status_code=202)
        if len(out) == 1:
            status = (
                400
                if "error" in out[0] and out[0]["error"] and out[0]["error"]["code"] in (-32700, -32600)
                else 200
            )
            return JSONResponse(out[0], status_code=status)
        events = "".join(f"event: message\ndata: {json.dumps(m)}\n\n" for m in out)
        return Response(events, media_type="text/event-stream")

    return Starlette(routes=[Route("/mcp", endpoint, methods=["POST"])])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
