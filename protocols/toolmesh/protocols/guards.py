"""ASGI guards every HTTP face runs behind: Host/Origin checks, a request-size limit, the JSON-RPC envelope.

The Host check (421) and the Origin check (403) stop DNS-rebinding: a browser page that resolves its
own name to 127.0.0.1 still sends its own Host and Origin. The size limit answers 413 before the body
reaches any parser, whether or not the client sent Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from fnmatch import fnmatchcase
from ipaddress import ip_address
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolmesh.protocols.jsonrpc import check_message

__all__ = [
    "LOOPBACK_HOSTS",
    "BodySizeLimitMiddleware",
    "HostOriginGuard",
    "JsonRpcEnvelopeGuard",
    "split_host",
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_UNGUARDED_PATHS = frozenset({"/healthz"})  # load balancers probe with whatever Host they like


def split_host(value: str) -> str:
    """The host part of a Host header or netloc, lowercased, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.rsplit(":", 1)[0]
    return value


def _is_unspecified(host: str) -> bool:
    try:
        return ip_address(host).is_unspecified
    except ValueError:
        return False


async def _jsonrpc_error(send: Send, status: int, code: int, message: str) -> None:
    payload = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _replaying(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that hands back ``first`` (already read by a guard) once, then the real stream."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HostOriginGuard:
    """421 on a Host that is not ours, 403 on a cross-site Origin that is not allowed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        env_hint: str = "TOOLMESH_ALLOWED_HOSTS",
    ) -> None:
        self.app = app
        hosts = {*LOOPBACK_HOSTS, *(split_host(h) for h in allowed_hosts)}
        bind = split_host(bind_host)
        if bind and not _is_unspecified(bind):
            hosts.add(bind)
        self.allowed_hosts = tuple(sorted(hosts))
        self.allowed_origins = tuple(o.strip().rstrip("/").lower() for o in allowed_origins)
        self.env_hint = env_hint

    def host_allowed(self, host: str) -> bool:
        name = split_host(host)
        return bool(name) and any(fnmatchcase(name, pattern) for pattern in self.allowed_hosts)

    def origin_allowed(self, origin: str, host: str) -> bool:
        normalized = origin.strip().rstrip("/").lower()
        if any(pattern == "*" or fnmatchcase(normalized, pattern) for pattern in self.allowed_origins):
            return True
        try:
            parts = urlsplit(normalized)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        # Same origin: the page was served by us, under the Host it is talking to.
        return parts.netloc == host.strip().lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in _UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.host_allowed(host):
            await _plain(
                send,
                421,
                f"Host {host!r} is not allowed (DNS-rebinding protection). "
                f"If this server is reached under that name, add it to {self.env_hint}.",
            )
            return
        origin = headers.get("origin")
        if origin is not None and origin != "null" and not self.origin_allowed(origin, host):
            await _plain(
                send, 403, f"Origin {origin!r} is not allowed. Add it to the allowed origins to permit it."
            )
            return
        if origin == "null":
            await _plain(send, 403, "Origin 'null' (sandboxed or file:// pages) is not allowed.")
            return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for request bodies over ``max_bytes``, counted as they arrive (Content-Length is not trusted)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        # Read the whole body first (it is bounded), then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replaying(message, receive), send)

    async def _reject(self, send: Send) -> None:
        await _jsonrpc_error(
            send,
            413,
            -32600,
            f"Request body exceeds the {self.max_bytes}-byte limit; send less data per request.",
        )


class JsonRpcEnvelopeGuard:
    """400 with a JSON-RPC error (``"id": null``) for a POST to the MCP endpoint that is not one message.

    Not JSON: -32700. A batch (a JSON array), or a request whose ``id`` is an object, float, boolean or
    null: -32600, where the SDK would take the request for a notification and answer a silent 202
    (see :mod:`toolmesh.protocols.jsonrpc`). Notifications, which carry no ``id``, pass and get their 202.
    Runs inside BodySizeLimitMiddleware, so the body is bounded and arrives as one message.
    """

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path.rstrip("/") or "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).rstrip("/") or "/"
        if scope["type"] != "http" or scope.get("method") != "POST" or path != self.path:
            await self.app(scope, receive, send)
            return
        first = await receive()
        if first["type"] == "http.request" and not first.get("more_body", False):
            rejection = check_message(first.get("body", b""))
            if rejection is not None:
                await _jsonrpc_error(send, 400, rejection.code, rejection.message)
                return
        await self.app(scope, _replaying(first, receive), send)
