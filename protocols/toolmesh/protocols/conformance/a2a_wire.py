"""Raw A2A 1.0 calls over the JSON-RPC and HTTP+JSON bindings, with errors normalised to one vocabulary
(gRPC, the third binding, is in :mod:`~toolmesh.protocols.conformance.a2a_grpc`).

Both bindings answer the same operations; a :class:`Reply` carries the success payload (ProtoJSON,
camelCase) or the error, named by its A2A reason (``TASK_NOT_FOUND``, ``UNSUPPORTED_OPERATION``, ...)
whichever binding it came from, so one check runs unchanged on each advertised interface.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
import httpx
from google.protobuf.json_format import ParseDict, ParseError  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]

__all__ = [
    "A2A_VERSION",
    "TERMINAL_STATES",
    "Binding",
    "JsonRpcBinding",
    "Reply",
    "RestBinding",
    "final_event",
    "proto_problem",
    "user_message",
]

A2A_VERSION = "1.0"
TERMINAL_STATES = frozenset(
    {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
)
INTERRUPTED_STATES = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})

# JSON-RPC codes of the A2A 1.0 error taxonomy, by reason.
JSONRPC_REASONS = {
    -32001: "TASK_NOT_FOUND",
    -32002: "TASK_NOT_CANCELABLE",
    -32003: "PUSH_NOTIFICATION_NOT_SUPPORTED",
    -32004: "UNSUPPORTED_OPERATION",
    -32005: "CONTENT_TYPE_NOT_SUPPORTED",
    -32006: "INVALID_AGENT_RESPONSE",
    -32007: "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
    -32008: "EXTENSION_SUPPORT_REQUIRED",
    -32009: "VERSION_NOT_SUPPORTED",
    -32600: "INVALID_REQUEST",
    -32601: "METHOD_NOT_FOUND",
    -32602: "INVALID_PARAMS",
    -32603: "INTERNAL_ERROR",
    -32700: "PARSE_ERROR",
}
# HTTP statuses of the HTTP+JSON binding, by reason.
REST_STATUS = {
    "TASK_NOT_FOUND": 404,
    "TASK_NOT_CANCELABLE": 400,
    "PUSH_NOTIFICATION_NOT_SUPPORTED": 400,
    "UNSUPPORTED_OPERATION": 400,
    "VERSION_NOT_SUPPORTED": 400,
    "INVALID_PARAMS": 400,
    "METHOD_NOT_FOUND": 404,
}


@dataclass(slots=True)
class Reply:
    """One A2A call's outcome, binding-neutral."""

    status: int
    result: dict[str, Any] | None = None
    code: int | None = None  # the JSON-RPC error code, or the HTTP status for HTTP+JSON errors
    reason: str | None = None
    message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)  # streaming: StreamResponse payloads
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None and self.reason is None and self.code is None

    def describe(self) -> str:
        if self.content_type.startswith("application/grpc"):
            return self._describe_grpc()
        if self.ok:
            keys = ", ".join(sorted(self.result or {}))[:80]
            return f"HTTP {self.status} result {{{keys}}}" + (
                f" + {len(self.events)} events" if self.events else ""
            )
        if self.reason or self.code is not None:
            return f"HTTP {self.status} error {self.code} {self.reason or ''}: {self.message[:120]}".rstrip(
                ": "
            )
        return f"HTTP {self.status} {self.message[:120]}"

    def _describe_grpc(self) -> str:
        if self.ok:
            keys = ", ".join(sorted(self.result or {}))[:80]
            return f"gRPC OK {{{keys}}}" + (f" + {len(self.events)} events" if self.events else "")
        return f"gRPC status {self.code} {self.reason or ''}: {self.message[:120]}".rstrip(": ")


def user_message(
    text: str, *, task_id: str = "", context_id: str = "", part: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A user message of one part: ``part`` when given, else ``text`` as a text part."""
    message: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "role": "ROLE_USER",
        "parts": [part if part is not None else {"text": text}],
    }
    if task_id:
        message["taskId"] = task_id
    if context_id:
        message["contextId"] = context_id
    return message


def proto_problem(payload: Any, proto: type[ProtoMessage]) -> str | None:
    """Why ``payload`` does not parse as the ProtoJSON form of ``proto`` (None when it does)."""
    if not isinstance(payload, dict):
        return f"not a JSON object: {type(payload).__name__}"
    try:
        ParseDict(payload, proto(), ignore_unknown_fields=False)
    except (ParseError, ValueError, TypeError) as exc:
        return str(exc)[:200]
    return None


class Binding(ABC):
    """One advertised interface of an agent."""

    name: str

    def __init__(self, url: str, client: httpx.AsyncClient, *, timeout: float, version: str = A2A_VERSION):
        self.url = url.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.version = version

    # the media type a streaming reply must carry
    stream_media = "text/event-stream"

    def headers(self, version: str | None = None) -> dict[str, str]:
        return {"A2A-Version": version if version is not None else self.version}

    async def aclose(self) -> None:
        """Release what the binding holds beyond the shared HTTP client (a gRPC channel)."""
        return None

    def sdk_config(self) -> dict[str, Any]:
        """What a2a-sdk's ``ClientConfig`` needs to reach this interface."""
        return {"httpx_client": self.client}

    def sdk_metadata(self) -> dict[str, str] | None:
        """Per-call service parameters for a2a-sdk's client (``None``: the HTTP client carries them)."""
        return None

    @abstractmethod
    async def send_message(self, request: dict[str, Any], *, version: str | None = None) -> Reply: ...

    @abstractmethod
    async def stream_message(self, request: dict[str, Any], *, max_events: int = 200) -> Reply: ...

    @abstractmethod
    async def get_task(
        self, task_id: str, *, history_length: int | None = None, version: str | None = None
    ) -> Reply: ...

    @abstractmethod
    async def list_tasks(self, *, context_id: str, page_size: int) -> Reply: ...

    @abstractmethod
    async def cancel_task(self, task_id: str) -> Reply: ...

    @abstractmethod
    async def subscribe(self, task_id: str, *, max_events: int = 50) -> Reply: ...

    @abstractmethod
    async def create_push(self, task_id: str, url: str, token: str) -> Reply: ...

    @abstractmethod
    async def get_push(self, task_id: str, config_id: str) -> Reply: ...

    @abstractmethod
    async def list_push(self, task_id: str) -> Reply: ...

    @abstractmethod
    async def delete_push(self, task_id: str, config_id: str) -> Reply: ...

    @abstractmethod
    async def malformed(self) -> Reply:
        """Send a body that is not JSON to the message-sending endpoint."""

    @abstractmethod
    async def probe(self) -> Reply:
        """The cheapest A2A call: GetTask of an id that cannot exist."""


class JsonRpcBinding(Binding):
    name = "JSONRPC"

    async def call(self, method: str, params: Any, *, version: str | None = None) -> Reply:
        body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
        response = await self.client.post(
            self.url, json=body, headers=self.headers(version), timeout=self.timeout
        )
        return self._reply(response.status_code, response.text, response.headers.get("content-type", ""))

    @staticmethod
    def _reply(status: int, text: str, ctype: str) -> Reply:
        reply = Reply(status, content_type=ctype)
        try:
            data = json.loads(text)
        except ValueError:
            reply.message = f"not JSON: {text[:120]!r}"
            return reply
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
            reply.message = f"not a JSON-RPC response: {text[:120]!r}"
            return reply
        error = data.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            reply.code = code if isinstance(code, int) else None
            reply.reason = JSONRPC_REASONS.get(reply.code or 0, "UNKNOWN")
            reply.message = str(error.get("message", ""))
            return reply
        result = data.get("result")
        if isinstance(result, dict):
            reply.result = result
        elif "result" in data and result is None:  # google.protobuf.Empty (e.g. a delete)
            reply.result = {}
        else:
            reply.message = f"result is not an object: {str(result)[:80]}"
        return reply

    async def _stream(self, method: str, params: Any, max_events: int) -> Reply:
        body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
        headers = {**self.headers(), "accept": "text/event-stream"}
        with anyio.fail_after(self.timeout):
            async with self.client.stream(
                "POST", self.url, json=body, headers=headers, timeout=self.timeout
            ) as resp:
                ctype = resp.headers.get("content-type", "")
                if not ctype.startswith("text/event-stream"):
                    return self._reply(
                        resp.status_code, (await resp.aread()).decode("utf-8", "replace"), ctype
                    )
                reply = Reply(resp.status_code, result={}, content_type=ctype)
                async for data in _sse_data(resp):
                    inner = self._reply(resp.status_code, data, "application/json")
                    if not inner.ok:
                        return Reply(
                            resp.status_code,
                            code=inner.code,
                            reason=inner.reason or "BAD_EVENT",
                            message=inner.message,
                            events=reply.events,
                            content_type=ctype,
                        )
                    reply.events.append(inner.result or {})
                    if len(reply.events) >= max_events or final_event(inner.result or {}):
                        break
                return reply

    async def send_message(self, request: dict[str, Any], *, version: str | None = None) -> Reply:
        return await self.call("SendMessage", request, version=version)

    async def stream_message(self, request: dict[str, Any], *, max_events: int = 200) -> Reply:
        return await self._stream("SendStreamingMessage", request, max_events)

    async def get_task(
        self, task_id: str, *, history_length: int | None = None, version: str | None = None
    ) -> Reply:
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        return await self.call("GetTask", params, version=version)

    async def list_tasks(self, *, context_id: str, page_size: int) -> Reply:
        return await self.call("ListTasks", {"contextId": context_id, "pageSize": page_size})

    async def cancel_task(self, task_id: str) -> Reply:
        return await self.call("CancelTask", {"id": task_id})

    async def subscribe(self, task_id: str, *, max_events: int = 50) -> Reply:
        return await self._stream("SubscribeToTask", {"id": task_id}, max_events)

    async def create_push(self, task_id: str, url: str, token: str) -> Reply:
        return await self.call(
            "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": url, "token": token}
        )

    async def get_push(self, task_id: str, config_id: str) -> Reply:
        return await self.call("GetTaskPushNotificationConfig", {"taskId": task_id, "id": config_id})

    async def list_push(self, task_id: str) -> Reply:
        return await self.call("ListTaskPushNotificationConfigs", {"taskId": task_id})

    async def delete_push(self, task_id: str, config_id: str) -> Reply:
        return await self.call("DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": config_id})

    async def malformed(self) -> Reply:
        response = await self.client.post(
            self.url,
            content=b'{"jsonrpc": "2.0", "method": ',
            headers={**self.headers(), "content-type": "application/json"},
            timeout=self.timeout,
        )
        return self._reply(response.status_code, response.text, response.headers.get("content-type", ""))

    async def probe(self) -> Reply:
        return await self.get_task(f"toolmesh-conformance-{uuid.uuid4()}")


class RestBinding(Binding):
    name = "HTTP+JSON"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> Reply:
        response = await self.client.request(
            method,
            self.url + path,
            json=body,
            params=params,
            headers=self.headers(version),
            timeout=self.timeout,
        )
        return self._reply(response.status_code, response.text, response.headers.get("content-type", ""))

    @staticmethod
    def _reply(status: int, text: str, ctype: str) -> Reply:
        reply = Reply(status, content_type=ctype)
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = None
        if status >= 400:
            reply.code = status
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict):
                reply.message = str(error.get("message", ""))
                for detail in error.get("details") or []:
                    if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
                        reply.reason = detail["reason"]
            else:
                reply.message = text[:120]
            return reply
        if isinstance(data, dict):
            reply.result = data
        else:
            reply.message = f"not a JSON object: {text[:120]!r}"
        return reply

    async def _stream(self, method: str, path: str, body: Any, max_events: int) -> Reply:
        headers = {**self.headers(), "accept": "text/event-stream"}
        with anyio.fail_after(self.timeout):
            async with self.client.stream(
                method, self.url + path, json=body, headers=headers, timeout=self.timeout
            ) as resp:
                ctype = resp.headers.get("content-type", "")
                if not ctype.startswith("text/event-stream"):
                    return self._reply(
                        resp.status_code, (await resp.aread()).decode("utf-8", "replace"), ctype
                    )
                reply = Reply(resp.status_code, result={}, content_type=ctype)
                async for data in _sse_data(resp):
                    try:
                        event = json.loads(data)
                    except ValueError:
                        return Reply(
                            resp.status_code, reason="BAD_EVENT", message=data[:120], events=reply.events
                        )
                    if not isinstance(event, dict):
                        return Reply(
                            resp.status_code, reason="BAD_EVENT", message=data[:120], events=reply.events
                        )
                    if isinstance(event.get("error"), dict):
                        inner = self._reply(500, data, "application/json")
                        return Reply(
                            resp.status_code,
                            code=inner.code,
                            reason=inner.reason or "STREAM_ERROR",
                            message=inner.message,
                            events=reply.events,
                        )
                    reply.events.append(event)
                    if len(reply.events) >= max_events or final_event(event):
                        break
                return reply

    async def send_message(self, request: dict[str, Any], *, version: str | None = None) -> Reply:
        return await self._call("POST", "/message:send", body=request, version=version)

    async def stream_message(self, request: dict[str, Any], *, max_events: int = 200) -> Reply:
        return await self._stream("POST", "/message:stream", request, max_events)

    async def get_task(
        self, task_id: str, *, history_length: int | None = None, version: str | None = None
    ) -> Reply:
        params = {"historyLength": history_length} if history_length is not None else None
        return await self._call("GET", f"/tasks/{quote(task_id, safe='')}", params=params, version=version)

    async def list_tasks(self, *, context_id: str, page_size: int) -> Reply:
        return await self._call("GET", "/tasks", params={"contextId": context_id, "pageSize": page_size})

    async def cancel_task(self, task_id: str) -> Reply:
        return await self._call("POST", f"/tasks/{quote(task_id, safe='')}:cancel", body={})

    async def subscribe(self, task_id: str, *, max_events: int = 50) -> Reply:
        return await self._stream("GET", f"/tasks/{quote(task_id, safe='')}:subscribe", None, max_events)

    async def create_push(self, task_id: str, url: str, token: str) -> Reply:
        path = f"/tasks/{quote(task_id, safe='')}/pushNotificationConfigs"
        return await self._call("POST", path, body={"url": url, "token": token})

    async def get_push(self, task_id: str, config_id: str) -> Reply:
        path = f"/tasks/{quote(task_id, safe='')}/pushNotificationConfigs/{quote(config_id, safe='')}"
        return await self._call("GET", path)

    async def list_push(self, task_id: str) -> Reply:
        return await self._call("GET", f"/tasks/{quote(task_id, safe='')}/pushNotificationConfigs")

    async def delete_push(self, task_id: str, config_id: str) -> Reply:
        path = f"/tasks/{quote(task_id, safe='')}/pushNotificationConfigs/{quote(config_id, safe='')}"
        return await self._call("DELETE", path)

    async def malformed(self) -> Reply:
        response = await self.client.post(
            self.url + "/message:send",
            content=b'{"message": ',
            headers={**self.headers(), "content-type": "application/json"},
            timeout=self.timeout,
        )
        return self._reply(response.status_code, response.text, response.headers.get("content-type", ""))

    async def probe(self) -> Reply:
        return await self.get_task(f"toolmesh-conformance-{uuid.uuid4()}")


def final_event(event: dict[str, Any]) -> bool:
    """Does this StreamResponse end the stream (a message, or a terminal/interrupted status)?"""
    if "message" in event:
        return True
    state = None
    if isinstance(event.get("statusUpdate"), dict):
        state = (event["statusUpdate"].get("status") or {}).get("state")
    elif isinstance(event.get("task"), dict):
        state = (event["task"].get("status") or {}).get("state")
    return state in TERMINAL_STATES or state in INTERRUPTED_STATES


async def _sse_data(response: httpx.Response) -> Any:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line.strip() and data:
            yield "\n".join(data)
            data = []
    if data:
        yield "\n".join(data)
