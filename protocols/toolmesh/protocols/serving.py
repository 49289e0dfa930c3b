"""Run any FastMCP server (or an A2A Starlette app) over stdio or Streamable HTTP, hardened the same way.

- :func:`new_server` makes a FastMCP server with toolmesh's tool middleware: ToolmeshError → an
  ``isError`` result with the error's own message; internal errors masked; metrics by tool.
- :func:`mcp_http_app` / :func:`a2a_http_app` wrap an app with Host/Origin protection, a body-size
  limit, ``/healthz`` and Prometheus ``/metrics``.
- :func:`serve` runs a server from its settings (registered in a registry while it serves, when one is
  set); :func:`running` serves an app on a pre-bound socket for tests, demos and benchmarks, and shuts
  it down gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import mcp_types as mt
import uvicorn
from fastmcp import FastMCP
from fastmcp.exceptions import DisabledError, ToolError
from fastmcp.exceptions import NotFoundError as FastMCPNotFoundError
from fastmcp.server.auth import AuthProvider
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from mcp import MCPError
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Lifespan

from toolmesh.protocols.auth import Endpoint, build_auth, require_bearer
from toolmesh.protocols.connections import timed_h11
from toolmesh.protocols.errors import ConfigError, ToolmeshError
from toolmesh.protocols.guards import BodySizeLimitMiddleware, HostOriginGuard, JsonRpcEnvelopeGuard
from toolmesh.protocols.logs import configure_logging, quiet_expected_errors
from toolmesh.protocols.metrics import HttpMetricsMiddleware, Metrics, ToolMetricsMiddleware
from toolmesh.protocols.settings import ServingSettings, env_prefix
from toolmesh.protocols.stdio import serve_stdio
from toolmesh.protocols.version import package_version

__all__ = [
    "ToolErrorMiddleware",
    "a2a_http_app",
    "bind_socket",
    "mcp_http_app",
    "metrics_of",
    "new_server",
    "running",
    "serve",
]

logger = logging.getLogger(__name__)

_METRICS_ATTR = "_toolmesh_metrics"


class ToolErrorMiddleware(Middleware):
    """Turns a ToolmeshError raised by a tool into an ``isError`` result carrying its message and hint.

    A call to a tool that does not exist is a protocol error, as the MCP spec says: JSON-RPC -32602
    naming the tool and listing the ones the caller can see (FastMCP alone answers with an ``isError``
    result, which reads to a model as if the tool had run and failed).
    """

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        try:
            return await call_next(context)
        except (FastMCPNotFoundError, DisabledError) as exc:
            raise await _unknown_tool(context, exc) from exc
        except ToolmeshError as exc:
            raise ToolError(str(exc)) from exc
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ToolmeshError):
                raise ToolError(str(cause)) from cause
            raise


_LISTED_TOOLS = 50


async def _unknown_tool(context: MiddlewareContext[mt.CallToolRequestParams], exc: Exception) -> Exception:
    """The -32602 error for a call to a tool that does not exist (``exc`` itself if the tool does exist)."""
    ctx = context.fastmcp_context
    if ctx is None:
        return exc
    server = ctx.fastmcp
    name = context.message.name
    if await server.get_tool(name) is not None:  # the tool exists: something inside it was not found
        return exc
    names = sorted({tool.name for tool in await server.list_tools()})
    shown = ", ".join(names[:_LISTED_TOOLS])
    if len(names) > _LISTED_TOOLS:
        shown += f" (+{len(names) - _LISTED_TOOLS} more)"
    return MCPError(
        code=mt.INVALID_PARAMS,
        message=f"Unknown tool: {name!r}. Available tools: {shown or 'none'}.",
        data={"tool": name, "available": names[:_LISTED_TOOLS]},
    )


def new_server(
    name: str, *, instructions: str | None = None, version: str | None = None, **kwargs: Any
) -> FastMCP[Any]:
    """A FastMCP server with toolmesh's middleware; unexpected exceptions are masked from clients."""
    quiet_expected_errors()
    metrics = Metrics(name)
    middleware = [ToolErrorMiddleware(), ToolMetricsMiddleware(metrics), *kwargs.pop("middleware", [])]
    kwargs.setdefault("mask_error_details", True)
    server: FastMCP[Any] = FastMCP(
        name,
        instructions=instructions,
        version=version or package_version(),
        middleware=middleware,
        **kwargs,
    )
    setattr(server, _METRICS_ATTR, metrics)
    return server


def metrics_of(server: FastMCP[Any]) -> Metrics:
    """The metrics of a server made by :func:`new_server` (or fresh ones for a bare FastMCP server)."""
    metrics = getattr(server, _METRICS_ATTR, None)
    if metrics is None:
        metrics = Metrics(server.name)
        server.add_middleware(ToolMetricsMiddleware(metrics))
        setattr(server, _METRICS_ATTR, metrics)
    return metrics


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _wrap(
    routes: list[BaseRoute],
    settings: ServingSettings,
    metrics: Metrics | None,
    lifespan: Lifespan[Any] | None,
    prefix: str,
    inner: Sequence[AsgiMiddleware] = (),
    auth: AuthProvider | None = None,
) -> Starlette:
    own: list[BaseRoute] = [Route("/healthz", _healthz, methods=["GET"])]
    if settings.metrics and metrics is not None:
        endpoint: Endpoint = metrics.endpoint
        if settings.auth.enabled and not settings.metrics_public:
            provider = auth or build_auth(settings.auth)
            assert provider is not None  # auth is enabled
            endpoint = require_bearer(endpoint, provider, settings.auth.required_scopes)
        own.append(Route("/metrics", endpoint, methods=["GET"]))
    middleware = [
        AsgiMiddleware(
            HostOriginGuard,
            bind_host=settings.host,
            allowed_hosts=settings.allowed_hosts,
            allowed_origins=settings.allowed_origins,
            env_hint=f"{prefix}ALLOWED_HOSTS",
        ),
        AsgiMiddleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        *inner,
    ]
    if metrics is not None:
        middleware.insert(0, AsgiMiddleware(HttpMetricsMiddleware, metrics=metrics))
    return Starlette(routes=[*own, *routes], middleware=middleware, lifespan=lifespan)


def _also(lifespan: Lifespan[Any], extra: Callable[[], AbstractAsyncContextManager[object]]) -> Lifespan[Any]:
    @contextlib.asynccontextmanager
    async def both(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as state, extra():
            yield state

    return both


def mcp_http_app(
    server: FastMCP[Any],
    settings: ServingSettings,
    *,
    while_serving: Callable[[], AbstractAsyncContextManager[object]] | None = None,
) -> Starlette:
    """The Streamable HTTP app for ``server`` at ``settings.path``, behind toolmesh's guards.

    ``while_serving`` is entered once the MCP endpoint is up and left before it stops (a registration).
    """
    if settings.auth.enabled:
        server.auth = build_auth(settings.auth)
    mcp_app = server.http_app(
        path=settings.path,
        stateless_http=settings.stateless,
        json_response=settings.json_response,
        host_origin_protection=False,  # HostOriginGuard below covers every route, not only /mcp
    )
    return _wrap(
        [Mount("/", app=mcp_app)],
        settings,
        metrics_of(server),
        mcp_app.lifespan if while_serving is None else _also(mcp_app.lifespan, while_serving),
        env_prefix(settings),
        inner=[AsgiMiddleware(JsonRpcEnvelopeGuard, path=settings.path)],
        auth=server.auth,
    )


def a2a_http_app(
    routes: Sequence[BaseRoute],
    settings: ServingSettings,
    *,
    name: str,
    lifespan: Lifespan[Any] | None = None,
    middleware: Sequence[AsgiMiddleware] = (),
    collectors: Sequence[Collector] = (),
) -> Starlette:
    """An A2A Starlette app (card, JSON-RPC and REST routes) behind the same guards, health and metrics.

    ``collectors`` are served in ``/metrics`` too (an agent's model gateway).
    """
    metrics = Metrics(name)
    for collector in collectors:
        metrics.registry.register(collector)
    inner = Starlette(routes=list(routes), middleware=list(middleware))
    return _wrap([Mount("/", app=inner)], settings, metrics, lifespan, env_prefix(settings))


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # TCP named as the protocol: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
    # it a response's headers and body wait out Nagle and delayed ACK (40 ms on every response)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _uvicorn_config(app: Starlette, settings: ServingSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # keep our stderr logging
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
        http=timed_h11(settings.header_timeout),  # a deadline for each request head (slowloris)
        h11_max_incomplete_event_size=64 * 1024,  # and a bound on its size
        timeout_keep_alive=settings.keep_alive_timeout,  # outlasts clients' pools: no reuse-as-we-close race
    )


@contextlib.asynccontextmanager
async def running(
    app: Starlette,
    settings: ServingSettings | None = None,
    *,
    sock: socket.socket | None = None,
    startup_timeout: float = 30.0,
) -> AsyncIterator[str]:
    """Serve ``app`` until the block exits; yields its base URL (``http://127.0.0.1:PORT``)."""
    settings = settings or ServingSettings(transport="http")
    sock = sock or bind_socket(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(_uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("HTTP server stopped during start-up")
                await asyncio.sleep(0.005)
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{port}"
    finally:
        server.should_exit = True
        with anyio.fail_after(settings.graceful_timeout + 5):
            await task
        sock.close()


def serve(server: FastMCP[Any], settings: ServingSettings, *, name: str | None = None) -> None:
    """Run ``server`` with ``settings`` until interrupted (SIGINT/SIGTERM shut HTTP down gracefully).

    Over HTTP with ``settings.registry_url`` set, the server registers itself as ``name`` (default: its
    own name) while it serves, and deregisters on shutdown (:mod:`toolmesh.protocols.registration`).
    """
    configure_logging(settings.log_level)
    if settings.transport == "stdio":
        if settings.registry_url:
            logger.warning(
                "not registering %s in %s: a stdio server is reachable only by the client that started it; "
                "serve it over HTTP (--transport http) to register it",
                name or server.name,
                settings.registry_url,
            )
        anyio.run(serve_stdio, server)
        return
    sockets, while_serving = None, None
    if settings.registry_url:
        try:  # bound first: the port to advertise is known (port 0 picks one)
            sock = bind_socket(settings.host, settings.port)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                hint=f"Choose another port (--port, or {env_prefix(settings)}PORT).",
            ) from exc
        sockets = [sock]
        while_serving = _registration(server, settings, name or server.name, sock.getsockname()[1])
    app = mcp_http_app(server, settings, while_serving=while_serving)
    logger.warning("serving %s on http://%s:%s%s", server.name, settings.host, settings.port, settings.path)
    uvicorn.Server(_uvicorn_config(app, settings)).run(sockets=sockets)


def _registration(
    server: FastMCP[Any], settings: ServingSettings, name: str, port: int
) -> Callable[[], AbstractAsyncContextManager[object]]:
    from toolmesh.protocols.registration import advertised_url, registered

    prefix = env_prefix(settings)
    url = advertised_url(
        host=settings.host,
        port=port,
        path=settings.path,
        public_url=settings.public_url,
        setting=f"{prefix}PUBLIC_URL",
    )
    assert settings.registry_url is not None
    registry_url = settings.registry_url
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    return lambda: registered(
        server, name=name, url=url, registry_url=registry_url, token=token, env_prefix=prefix
    )
