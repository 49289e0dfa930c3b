"""A raw MCP client for the kit: JSON-RPC over a spawned process's pipes or over Streamable HTTP.

The kit speaks the wire itself (rather than through an SDK client) so that it can see, and send, what SDK
clients hide: every stdout line, stray output, malformed and oversized messages, HTTP statuses. Both eras
are spoken: 2026-07-28 (``server/discover``, a ``_meta`` envelope on every request, ``Mcp-*`` headers) and
2025-11-25 (the ``initialize`` handshake, ``Mcp-Session-Id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx

__all__ = [
    "LEGACY",
    "MODERN",
    "EraPreference",
    "Exchange",
    "HttpTransport",
    "McpSession",
    "NegotiationError",
    "StdioTransport",
    "Transport",
    "TransportClosed",
]

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
EraPreference = Literal["auto", "2026-07-28", "2025-11-25"]

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO = {"name": "toolmesh-conformance", "version": "1.0"}
_NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_STREAM_LIMIT = 64 * 1024 * 1024  # longest stdout line the kit reads (the oversized check echoes big text)
_MAX_KEPT_LINES = 10_000


class TransportClosed(Exception):
    """The server went away (process exited, connection refused)."""


class NegotiationError(Exception):
    """Neither server/discover nor initialize produced a usable session."""


@dataclass(slots=True)
class Exchange:
    """One message sent and what came back for it."""

    method: str | None
    request_id: Any
    response: dict[str, Any] | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None  # HTTP only
    body: str = ""  # HTTP only: the raw body when it was not JSON-RPC
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def result(self) -> dict[str, Any] | None:
        value = (self.response or {}).get("result")
        return value if isinstance(value, dict) else None

    @property
    def error(self) -> dict[str, Any] | None:
        value = (self.response or {}).get("error")
        return value if isinstance(value, dict) else None

    @property
    def error_code(self) -> int | None:
        code = (self.error or {}).get("code")
        return code if isinstance(code, int) else None

    def describe(self) -> str:
        """A short account of what came back, for ``observed``."""
        prefix = f"HTTP {self.status} " if self.status is not None else ""
        if self.error is not None:
            return f"{prefix}error {self.error.get('code')}: {str(self.error.get('message'))[:160]}"
        if self.result is not None:
            flag = " (isError)" if self.result.get("isError") is True else ""
            return f"{prefix}result{flag}"
        if self.response is not None:
            return f"{prefix}malformed response {json.dumps(self.response)[:160]}"
        return f"{prefix}no JSON-RPC response {self.body[:120]!r}".strip()


def _refusal(request: dict[str, Any]) -> dict[str, Any]:
    message = f"the conformance kit does not support {request.get('method')}"
    return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32601, "message": message}}


def _id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _is_response(message: dict[str, Any]) -> bool:
    return "method" not in message and ("result" in message or "error" in message or "id" in message)


class Transport(ABC):
    """Sends bytes, collects the JSON-RPC messages that come back."""

    kind: str

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def send(
        self,
        payload: bytes,
        *,
        request_id: Any,
        wait: bool,
        headers: Mapping[str, str],
        limit: float,
    ) -> Exchange:
        """Send one message; with ``wait`` return once the response with ``request_id`` arrives.

        Raises TimeoutError when ``wait`` and no response came within ``limit`` seconds, and
        TransportClosed when the server is gone.
        """

    @abstractmethod
    async def alive(self) -> bool: ...


class StdioTransport(Transport):
    """Spawns the server and speaks newline-delimited JSON-RPC over its stdin/stdout."""

    kind = "stdio"

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None):
        if not argv:
            raise ValueError("empty stdio command")
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.stdout_lines: list[bytes] = []  # every raw line, in order
        self.stderr_lines: list[bytes] = []
        self.inbox: list[dict[str, Any]] = []  # every parsed message, in order
        self.exit_code: int | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()

    async def open(self) -> None:
        env = {**os.environ, **self.env} if self.env is not None else None
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.cwd,
            limit=_STREAM_LIMIT,
        )
        self._tasks = [asyncio.create_task(self._read_stdout()), asyncio.create_task(self._read_stderr())]

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        try:
            while True:
                try:
                    line = await stream.readline()
                except ValueError:  # a line longer than the limit: keep a marker, drop the rest of it
                    self.stdout_lines.append(b"<line longer than 64 MiB>")
                    continue
                if not line:
                    break
                if len(self.stdout_lines) < _MAX_KEPT_LINES:
                    self.stdout_lines.append(line)
                self._dispatch(line)
        finally:
            self._closed.set()
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(TransportClosed("the server closed its stdout"))

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        self.inbox.append(message)
        if isinstance(message.get("method"), str) and "id" in message:
            self._refuse(message)
        if _is_response(message):
            waiter = self._waiters.get(_id_key(message.get("id")))
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    def _refuse(self, request: dict[str, Any]) -> None:
        """Refuse a server-to-client request (sampling, elicitation, roots): the kit has none."""
        process = self.process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return
        process.stdin.write(json.dumps(_refusal(request)).encode() + b"\n")

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            if len(self.stderr_lines) < _MAX_KEPT_LINES:
                self.stderr_lines.append(line)

    async def send(
        self,
        payload: bytes,
        *,
        request_id: Any,
        wait: bool,
        headers: Mapping[str, str],
        limit: float,
    ) -> Exchange:
        process = self.process
        if process is None or process.stdin is None:
            raise TransportClosed("not started")
        if process.returncode is not None or self._closed.is_set():
            raise TransportClosed(f"the server exited (code {process.returncode})")
        method = _method_of(payload)
        exchange = Exchange(method, request_id)
        start = len(self.inbox)
        key = _id_key(request_id)
        waiter: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[key] = waiter
        try:
            try:
                process.stdin.write(payload.replace(b"\n", b" ") + b"\n")
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise TransportClosed(f"the server closed its stdin: {exc}") from exc
            if waiter is not None:
                with anyio.fail_after(limit):
                    exchange.response = await waiter
        finally:
            if waiter is not None:
                self._waiters.pop(key, None)
        exchange.notifications = [m for m in self.inbox[start:] if not _is_response(m)]
        return exchange

    async def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self._closed.is_set()

    async def close_stdin_and_wait(self, limit: float) -> int | None:
        """Close the server's stdin and wait for it to exit; None if it still runs after ``limit`` s."""
        process = self.process
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        with anyio.move_on_after(limit):
            self.exit_code = await process.wait()
            return self.exit_code
        return None

    async def close(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            exited = await self.close_stdin_and_wait(2.0)
            if exited is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                with anyio.move_on_after(3.0):
                    await process.wait()
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        for task in self._tasks:
            with anyio.move_on_after(2.0):
                await task
            if not task.done():
                task.cancel()


class HttpTransport(Transport):
    """POSTs JSON-RPC to a Streamable HTTP endpoint; reads JSON or SSE responses."""

    kind = "http"

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, verify: bool = True):
        self.url = url
        self.base_headers = dict(headers or {})
        self.session_id: str | None = None
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), verify=verify)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self.client.aclose()

    async def alive(self) -> bool:
        return True

    async def send(
        self,
        payload: bytes,
        *,
        request_id: Any,
        wait: bool,
        headers: Mapping[str, str],
        limit: float,
    ) -> Exchange:
        exchange = Exchange(_method_of(payload), request_id)
        sent = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **self.base_headers,
            **({"mcp-session-id": self.session_id} if self.session_id else {}),
            **headers,
        }
        try:
            with anyio.fail_after(limit):
                async with self.client.stream("POST", self.url, content=payload, headers=sent) as response:
                    exchange.status = response.status_code
                    exchange.headers = {k.lower(): v for k, v in response.headers.items()}
                    if sid := response.headers.get("mcp-session-id"):
                        self.session_id = sid
                    ctype = response.headers.get("content-type", "")
                    if ctype.startswith("text/event-stream"):
                        await self._read_sse(response, exchange, request_id, sent)
                    else:
                        body = (await response.aread()).decode("utf-8", "replace")
                        self._read_json(body, exchange, request_id)
        except httpx.TransportError as exc:
            raise TransportClosed(f"{type(exc).__name__}: {exc}") from exc
        return exchange

    @staticmethod
    def _read_json(body: str, exchange: Exchange, request_id: Any) -> None:
        exchange.body = body[:2000]
        try:
            message = json.loads(body) if body.strip() else None
        except ValueError:
            return
        for item in message if isinstance(message, list) else [message]:
            if not isinstance(item, dict):
                continue
            if _is_response(item) and exchange.response is None:
                exchange.response = item
            elif not _is_response(item):
                exchange.notifications.append(item)

    async def _read_sse(
        self, response: httpx.Response, exchange: Exchange, request_id: Any, sent: Mapping[str, str]
    ) -> None:
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
                continue
            if line.strip() or not data:
                continue
            text = "\n".join(data)
            data = []
            try:
                message = json.loads(text)
            except ValueError:
                exchange.body += text[:500]
                continue
            if not isinstance(message, dict):
                continue
            if _is_response(message):
                exchange.response = message
                if _id_key(message.get("id")) == _id_key(request_id):
                    return
            else:
                exchange.notifications.append(message)
                if "id" in message:  # a server-to-client request on the stream: refuse it
                    headers = {k: v for k, v in sent.items() if not k.startswith(("mcp-method", "mcp-name"))}
                    if sid := self.session_id:
                        headers["mcp-session-id"] = sid
                    await self.client.post(self.url, json=_refusal(message), headers=headers)


def _method_of(payload: bytes) -> str | None:
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    method = message.get("method") if isinstance(message, dict) else None
    return method if isinstance(method, str) else None


class McpSession:
    """One negotiated conversation with a server, on either era; records every exchange."""

    def __init__(
        self,
        transport: Transport,
        *,
        era: EraPreference = "auto",
        timeout: float = 15.0,
        startup_timeout: float = 60.0,
    ):
        self.transport = transport
        self.startup_timeout = startup_timeout
        self.preference: EraPreference = era
        self.timeout = timeout
        self.version: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self.negotiation: Exchange | None = None
        self.history: list[Exchange] = []
        self._next_id = 0

    @property
    def modern(self) -> bool:
        return self.version == MODERN

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- envelopes ---

    def _meta(self, version: str) -> dict[str, Any]:
        return {
            PROTOCOL_VERSION_META: version,
            CLIENT_INFO_META: CLIENT_INFO,
            CLIENT_CAPABILITIES_META: {},
        }

    def params_for(
        self, method: str, params: Mapping[str, Any] | None, *, version: str | None = None
    ) -> dict[str, Any]:
        out = dict(params or {})
        version = version or self.version
        if version == MODERN:
            out["_meta"] = {**self._meta(version), **dict(out.get("_meta") or {})}
        return out

    def headers_for(
        self, method: str, params: Mapping[str, Any], *, version: str | None = None
    ) -> dict[str, str]:
        version = version or self.version
        headers: dict[str, str] = {}
        if version is not None and method != "initialize":
            headers["mcp-protocol-version"] = version
        if version == MODERN:
            headers["mcp-method"] = method
            key = _NAME_PARAMS.get(method)
            value = params.get(key) if key else None
            if isinstance(value, str) and value.isascii() and value.isprintable():
                headers["mcp-name"] = value
        return headers

    # --- sending ---

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: float | None = None,
        version: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send a request in the negotiated era and wait for its response."""
        request_id = self.next_id()
        full = self.params_for(method, params, version=version)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": full}
        headers = {**self.headers_for(method, full, version=version), **(extra_headers or {})}
        return await self.send_message(message, headers=headers, limit=limit)

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> Exchange:
        full = self.params_for(method, params)
        message = {"jsonrpc": "2.0", "method": method, "params": full}
        return await self.send_raw(
            json.dumps(message).encode(), request_id=None, wait=False, headers=self.headers_for(method, full)
        )

    async def send_message(
        self,
        message: dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        limit: float | None = None,
    ) -> Exchange:
        return await self.send_raw(
            json.dumps(message).encode(),
            request_id=message.get("id"),
            wait=True,
            headers=headers or {},
            limit=limit,
        )

    async def send_raw(
        self,
        payload: bytes,
        *,
        request_id: Any,
        wait: bool = True,
        headers: Mapping[str, str] | None = None,
        limit: float | None = None,
    ) -> Exchange:
        exchange = await self.transport.send(
            payload, request_id=request_id, wait=wait, headers=headers or {}, limit=limit or self.timeout
        )
        self.history.append(exchange)
        return exchange

    # --- negotiation ---

    async def connect(self) -> Exchange:
        """Negotiate an era: server/discover first (unless 2025-11-25 is asked for), then initialize."""
        await self.transport.open()
        problems: list[str] = []
        if self.preference in ("auto", MODERN):
            try:
                exchange = await self.request(
                    "server/discover", {}, version=MODERN, limit=self.startup_timeout
                )
            except TimeoutError:
                problems.append("server/discover: no response")
            else:
                result = exchange.result
                versions = result.get("supportedVersions") if result else None
                if isinstance(versions, list) and MODERN in versions:
                    self.version = MODERN
                    self.capabilities = dict(result.get("capabilities") or {}) if result else {}
                    meta = (result or {}).get("_meta") or {}
                    self.server_info = dict(meta.get("io.modelcontextprotocol/serverInfo") or {})
                    self.negotiation = exchange
                    return exchange
                problems.append(f"server/discover: {exchange.describe()}")
            if self.preference == MODERN:
                raise NegotiationError("; ".join(problems))
        params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
        try:
            exchange = await self.request("initialize", params, version=LEGACY, limit=self.startup_timeout)
        except TimeoutError as exc:
            raise NegotiationError("; ".join([*problems, "initialize: no response"])) from exc
        result = exchange.result
        if result is None or not isinstance(result.get("protocolVersion"), str):
            raise NegotiationError("; ".join([*problems, f"initialize: {exchange.describe()}"]))
        self.version = str(result["protocolVersion"])
        self.capabilities = dict(result.get("capabilities") or {})
        self.server_info = dict(result.get("serverInfo") or {})
        self.negotiation = exchange
        await self.notify("notifications/initialized")
        return exchange

    async def ping(self, limit: float = 5.0) -> tuple[bool, str]:
        """Is the server still serving? A cheap request that every server answers."""
        if not await self.transport.alive():
            return False, "the server process has exited"
        method = (
            "tools/list" if "tools" in self.capabilities else ("server/discover" if self.modern else "ping")
        )
        try:
            exchange = await self.request(method, {}, limit=limit)
        except TimeoutError:
            return False, f"{method} got no response within {limit:.0f}s"
        except TransportClosed as exc:
            return False, f"{method} failed: {exc}"
        if exchange.result is None:
            return False, f"{method} answered {exchange.describe()}"
        return True, f"{method} still answered"

    async def close(self) -> None:
        await self.transport.close()
