"""Prometheus metrics: tool calls, errors and latency by tool, and HTTP requests by status.

Each served app owns its :class:`Metrics` (its own ``CollectorRegistry``), so several servers in one
process, as in tests and the gateway, never collide.
"""

from __future__ import annotations

import time
from typing import Any

import mcp_types as mt
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetricsMiddleware", "Metrics", "ToolMetricsMiddleware"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The collectors of one served app."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.registry = CollectorRegistry(auto_describe=True)
        self.tool_calls = Counter(
            "toolmesh_tool_calls", "Tool calls by tool", ["server", "tool"], registry=self.registry
        )
        self.tool_errors = Counter(
            "toolmesh_tool_errors",
            "Tool calls that ended in an error",
            ["server", "tool"],
            registry=self.registry,
        )
        self.tool_latency = Histogram(
            "toolmesh_tool_latency_seconds",
            "Tool call latency",
            ["server", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "toolmesh_http_requests",
            "HTTP requests by method and status",
            ["server", "method", "status"],
            registry=self.registry,
        )

        self._children: dict[str, tuple[Any, Any, Any]] = {}

    def observe_tool(self, tool: str, seconds: float, *, error: bool) -> None:
        children = self._children.get(tool)
        if children is None:  # labels() is a locked dict lookup; resolve each tool's children once
            children = (
                self.tool_calls.labels(self.server, tool),
                self.tool_latency.labels(self.server, tool),
                self.tool_errors.labels(self.server, tool),
            )
            self._children[tool] = children
        calls, latency, errors = children
        calls.inc()
        latency.observe(seconds)
        if error:
            errors.inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ToolMetricsMiddleware(Middleware):
    """Counts every tool call, its errors (raised or ``isError``) and its latency."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        started = time.perf_counter()
        error = True
        try:
            result = await call_next(context)
            error = result.is_error
            return result
        finally:
            self._metrics.observe_tool(context.message.name, time.perf_counter() - started, error=error)


class HttpMetricsMiddleware:
    """ASGI middleware counting HTTP responses by method and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.http_requests.labels(self.metrics.server, scope.get("method", ""), str(status)).inc()
