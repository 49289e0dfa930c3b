"""The A2A 1.0 gRPC binding for the kit: raw calls to ``lf.a2a.v1.A2AService`` with grpc.aio.

Requests are the same ProtoJSON dicts the HTTP bindings send (parsed into the a2a_pb2 messages), results
come back as ProtoJSON (camelCase), and errors are named by the ``google.rpc.ErrorInfo`` reason in the
status details (``TASK_NOT_FOUND``, ``CONTENT_TYPE_NOT_SUPPORTED``, ...), so every check runs unchanged.
An error without A2A details is named by its gRPC status (``UNAUTHENTICATED``, ``UNAVAILABLE``, ...).
The interface URL is ``host:port`` (A2A 1.0; TLS on port 443); ``grpc(s)://`` and ``http(s)://`` forms work.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import anyio
import grpc
import grpc.aio
import httpx
from a2a.types import a2a_pb2
from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError  # type: ignore[import-untyped]
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from toolmesh.protocols.cards import CardError, grpc_target
from toolmesh.protocols.conformance.a2a_wire import A2A_VERSION, Binding, Reply, final_event
from toolmesh.protocols.conformance.runner import Finding, failed, passed

__all__ = ["SERVICE", "GrpcBinding", "grpc_error_codes"]

SERVICE = "/lf.a2a.v1.A2AService/"
GRPC_MEDIA = "application/grpc"
_A2A_DOMAIN = "a2a-protocol.org"
# what an HTTP client sends that is not the caller's to forward (gRPC sets its own)
_HTTP_ONLY = frozenset(
    {"accept", "accept-encoding", "connection", "content-length", "content-type", "host", "te", "user-agent"}
    | {"a2a-version"}  # set per call (a2a-sdk's HTTP client leaves one on the shared httpx client)
)


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The A2A reason in the status details, else the gRPC status name."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.reason and info.domain in ("", _A2A_DOMAIN):
                return str(info.reason)
    return str(error.code().name)


def _error_reply(error: grpc.aio.AioRpcError, events: list[dict[str, Any]] | None = None) -> Reply:
    status = int(error.code().value[0])
    return Reply(
        status,
        code=status,
        reason=_reason(error),
        message=str(error.details() or ""),
        events=events or [],
        content_type=GRPC_MEDIA,
    )


class GrpcBinding(Binding):
    name = "GRPC"
    stream_media = GRPC_MEDIA

    def __init__(self, url: str, client: httpx.AsyncClient, *, timeout: float, version: str = A2A_VERSION):
        super().__init__(url, client, timeout=timeout, version=version)
        self._channel: grpc.aio.Channel | None = None

    def channel(self) -> grpc.aio.Channel:
        """The channel to the interface (one per binding; :meth:`aclose` closes it)."""
        if self._channel is None:
            self._channel = self._open()
        return self._channel

    def _open(self) -> grpc.aio.Channel:
        target, tls = grpc_target(self.url)
        if tls:
            return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
        return grpc.aio.insecure_channel(target)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def metadata(self, version: str | None = None) -> list[tuple[str, str]]:
        """``a2a-version`` plus the caller's headers (``--header``: a bearer token) as metadata."""
        sent = [("a2a-version", version if version is not None else self.version)]
        for key, value in self.client.headers.items():
            if key.lower() not in _HTTP_ONLY:
                sent.append((key.lower(), value))
        return sent

    def sdk_config(self) -> dict[str, Any]:
        return {"grpc_channel_factory": lambda _url: self._open()}

    def sdk_metadata(self) -> dict[str, str]:
        return {k: v for k, v in self.metadata() if k != "a2a-version"}  # the SDK sends its own

    def _encode(self, payload: Any, proto: type[Any]) -> bytes | Reply:
        try:
            message = ParseDict(payload, proto(), ignore_unknown_fields=False)
        except (ParseError, ValueError, TypeError) as exc:
            why = f"not a {proto.__name__}: {str(exc)[:160]}"
            return Reply(0, reason="NOT_ENCODABLE", message=why, content_type=GRPC_MEDIA)
        return bytes(message.SerializeToString())

    async def call_raw(
        self, method: str, body: bytes, response: type[Any] | None, *, version: str | None = None
    ) -> Reply:
        """Call ``method`` of the service with serialized ``body``; the reply as ProtoJSON."""
        decode: Callable[[bytes], Any] = response.FromString if response is not None else bytes
        try:
            call = self.channel().unary_unary(SERVICE + method, response_deserializer=decode)
            with anyio.fail_after(self.timeout + 1):
                result = await call(body, metadata=self.metadata(version), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            return _error_reply(exc)
        except CardError as exc:
            return Reply(0, reason="BAD_URL", message=str(exc), content_type=GRPC_MEDIA)
        data = MessageToDict(result) if response is not None else {}
        return Reply(0, result=data, content_type=GRPC_MEDIA)

    async def _unary(
        self, method: str, payload: Any, request: type[Any], response: type[Any], version: str | None = None
    ) -> Reply:
        body = self._encode(payload, request)
        if isinstance(body, Reply):
            return body
        return await self.call_raw(method, body, response, version=version)

    async def _stream(self, method: str, payload: Any, request: type[Any], max_events: int) -> Reply:
        body = self._encode(payload, request)
        if isinstance(body, Reply):
            return body
        events: list[dict[str, Any]] = []
        try:
            stream = self.channel().unary_stream(
                SERVICE + method, response_deserializer=a2a_pb2.StreamResponse.FromString
            )
            call = stream(body, metadata=self.metadata(), timeout=self.timeout)
            with anyio.fail_after(self.timeout + 1):
                try:
                    async for item in call:
                        events.append(MessageToDict(item))
                        if len(events) >= max_events or final_event(events[-1]):
                            break
                finally:
                    call.cancel()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and events:
                return Reply(0, result={}, events=events, content_type=GRPC_MEDIA)
            return _error_reply(exc, events)
        except CardError as exc:
            return Reply(0, reason="BAD_URL", message=str(exc), content_type=GRPC_MEDIA)
        return Reply(0, result={}, events=events, content_type=GRPC_MEDIA)

    async def send_message(self, request: dict[str, Any], *, version: str | None = None) -> Reply:
        return await self._unary(
            "SendMessage", request, a2a_pb2.SendMessageRequest, a2a_pb2.SendMessageResponse, version
        )

    async def stream_message(self, request: dict[str, Any], *, max_events: int = 200) -> Reply:
        return await self._stream("SendStreamingMessage", request, a2a_pb2.SendMessageRequest, max_events)

    async def get_task(
        self, task_id: str, *, history_length: int | None = None, version: str | None = None
    ) -> Reply:
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        return await self._unary("GetTask", params, a2a_pb2.GetTaskRequest, a2a_pb2.Task, version)

    async def list_tasks(self, *, context_id: str, page_size: int) -> Reply:
        params = {"contextId": context_id, "pageSize": page_size}
        return await self._unary("ListTasks", params, a2a_pb2.ListTasksRequest, a2a_pb2.ListTasksResponse)

    async def cancel_task(self, task_id: str) -> Reply:
        return await self._unary("CancelTask", {"id": task_id}, a2a_pb2.CancelTaskRequest, a2a_pb2.Task)

    async def subscribe(self, task_id: str, *, max_events: int = 50) -> Reply:
        return await self._stream(
            "SubscribeToTask", {"id": task_id}, a2a_pb2.SubscribeToTaskRequest, max_events
        )

    async def create_push(self, task_id: str, url: str, token: str) -> Reply:
        config = a2a_pb2.TaskPushNotificationConfig
        params = {"taskId": task_id, "url": url, "token": token}
        return await self._unary("CreateTaskPushNotificationConfig", params, config, config)

    async def get_push(self, task_id: str, config_id: str) -> Reply:
        return await self._unary(
            "GetTaskPushNotificationConfig",
            {"taskId": task_id, "id": config_id},
            a2a_pb2.GetTaskPushNotificationConfigRequest,
            a2a_pb2.TaskPushNotificationConfig,
        )

    async def list_push(self, task_id: str) -> Reply:
        return await self._unary(
            "ListTaskPushNotificationConfigs",
            {"taskId": task_id},
            a2a_pb2.ListTaskPushNotificationConfigsRequest,
            a2a_pb2.ListTaskPushNotificationConfigsResponse,
        )

    async def delete_push(self, task_id: str, config_id: str) -> Reply:
        return await self._unary(
            "DeleteTaskPushNotificationConfig",
            {"taskId": task_id, "id": config_id},
            a2a_pb2.DeleteTaskPushNotificationConfigRequest,
            empty_pb2.Empty,
        )

    async def malformed(self) -> Reply:
        """Bytes that are not a SendMessageRequest (a truncated length-delimited field)."""
        return await self.call_raw("SendMessage", b"\x0a\xff\xff\xff", a2a_pb2.SendMessageResponse)

    async def probe(self) -> Reply:
        return await self.get_task(f"toolmesh-conformance-{uuid.uuid4()}")


async def grpc_error_codes(binding: GrpcBinding, malformed: Reply) -> Finding:
    """A2A-ERROR-CODES over gRPC: UNIMPLEMENTED, INVALID_ARGUMENT and NOT_FOUND where A2A 1.0 puts them;
    bytes that do not decode are refused (grpcio answers UNKNOWN or INTERNAL for those, not the agent)."""
    unknown = await binding.call_raw("ToolmeshNoSuchMethod", b"", None)
    bad_params = await binding.send_message({"message": {}})  # a SendMessageRequest without a message
    missing = await binding.get_task(f"toolmesh-conformance-{uuid.uuid4()}")
    expected = [
        ("unknown method", unknown, "UNIMPLEMENTED", 12),
        ("invalid params", bad_params, "INVALID_ARGUMENT", 3),
        ("unknown task", missing, "NOT_FOUND", 5),
    ]
    problems = [
        f"{label}: expected {name}, got {reply.describe()}"
        for label, reply, name, code in expected
        if reply.code != code
    ]
    if malformed.ok or malformed.code in (None, 14):  # 14: UNAVAILABLE, never reached the agent
        problems.append(
            f"bytes that are not a SendMessageRequest: expected a refusal, got {malformed.describe()}"
        )
    if problems:
        return failed("; ".join(problems))
    shown = [*(f"{label}: {name}" for label, _, name, _ in expected), f"undecodable: {malformed.reason}"]
    return passed(", ".join(shown))
