"""The agent's gRPC binding: a2a-sdk's ``GrpcHandler`` around the request handler the HTTP bindings serve.

One :class:`GrpcFace` per agent, on its own port (bound when the agent is built, so the card can name it;
served from the agent's lifespan, stopped with a bounded grace). What it adds to a2a-sdk's handler:

- bearer auth: with auth on, every call's ``authorization`` metadata goes through the same token check
  as the HTTP bindings (:func:`toolmesh.protocols.auth.check_bearer`), else ``UNAUTHENTICATED``; the
  caller it names owns the tasks, as over HTTP, so a task is the same task on every binding;
- the ``a2a-version`` metadata is checked (a2a-sdk's gRPC handler ignores it): another major version is
  refused with ``VersionNotSupportedError`` (absent means 1.0: ``lf.a2a.v1.A2AService`` is the 1.0 service);
- messages are capped at the HTTP body limit, and a port already in use is an error (gRPC would
  otherwise share it through ``SO_REUSEPORT``).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import grpc
import grpc.aio
from a2a.auth.user import UnauthenticatedUser, User
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import RequestHandler
from a2a.server.request_handlers.grpc_handler import DefaultGrpcServerCallContextBuilder, GrpcHandler
from a2a.types import a2a_pb2_grpc
from a2a.utils.errors import VersionNotSupportedError

from toolmesh.protocols.auth import TokenCheck, check_bearer
from toolmesh.protocols.errors import ConfigError

__all__ = ["GrpcCallContextBuilder", "GrpcFace", "grpc_address"]

_caller: contextvars.ContextVar[User | None] = contextvars.ContextVar("toolmesh_grpc_caller", default=None)
_UNAUTHENTICATED = (
    "a valid bearer token is required: send the metadata `authorization: Bearer <token>` "
    "(the token the agent's HTTP bindings take)"
)


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as gRPC names a target (``[::1]:50051`` for an IPv6 address)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{shown}:{port}"


class _Caller(User):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        values[str(key).lower()] = value if isinstance(value, str) else value.decode("latin-1")
    return values


class GrpcCallContextBuilder(DefaultGrpcServerCallContextBuilder):
    """The call context: the caller the token check named, the metadata as headers, the version checked."""

    def build(self, context: grpc.aio.ServicerContext) -> ServerCallContext:
        metadata = _metadata(context)
        version = metadata.get("a2a-version", "1.0").strip() or "1.0"
        if version.split(".")[0] != "1":
            raise VersionNotSupportedError(
                message=f"A2A version {version!r} is not supported here; send a2a-version: 1.0"
            )
        built = super().build(context)
        built.state["headers"] = metadata
        return built

    def build_user(self, context: grpc.aio.ServicerContext) -> User:
        return _caller.get() or UnauthenticatedUser()


def _guarded(handler: Any, verify: TokenCheck) -> Any:
    """``handler`` (one method of the service) behind the bearer check."""

    async def admit(context: grpc.aio.ServicerContext) -> None:
        access = await check_bearer(verify, _metadata(context).get("authorization", ""))
        if access is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)
        # each RPC runs in its own task: the caller stays with this call
        _caller.set(_Caller(str(getattr(access, "client_id", "client"))))

    if handler.unary_unary is not None:
        inner: Callable[[Any, Any], Awaitable[Any]] = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await admit(context)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        stream_inner: Callable[[Any, Any], AsyncIterator[Any]] = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await admit(context)
            async for item in stream_inner(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler  # the A2A service has no client-streaming methods


class _BearerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, verify: TokenCheck) -> None:
        self._verify = verify

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        return None if handler is None else _guarded(handler, self._verify)


class GrpcFace:
    """The A2A gRPC server of one agent, bound at ``host:port`` (0 picks a free port; read :attr:`port`)."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        host: str,
        port: int,
        verify: TokenCheck | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
        grace: float = 10.0,
    ) -> None:
        interceptors = [_BearerInterceptor(verify)] if verify is not None else []
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        servicer = GrpcHandler(handler, context_builder=GrpcCallContextBuilder())
        a2a_pb2_grpc.add_A2AServiceServicer_to_server(servicer, self.server)  # type: ignore[no-untyped-call]
        target = grpc_address(host, port)
        try:
            self.port: int = self.server.add_insecure_port(target)
        except RuntimeError as exc:
            raise ConfigError(
                f"cannot serve gRPC on {target}: {exc}",
                hint="Pick a free port with TOOLMESH_AGENTS_GRPC_PORT (0 picks one), "
                "or set TOOLMESH_AGENTS_GRPC_ENABLED=false.",
            ) from exc
        self.host = host
        self.grace = grace
        self.started = False

    @property
    def address(self) -> str:
        """Where the server listens, as ``host:port``."""
        return grpc_address(self.host, self.port)

    async def start(self) -> None:
        await self.server.start()
        self.started = True

    async def stop(self) -> None:
        """Stop taking calls; running ones get ``grace`` seconds, then are cancelled (bounded)."""
        if not self.started:
            return
        with anyio.fail_after(self.grace + 5):
            await self.server.stop(self.grace)
        self.started = False
