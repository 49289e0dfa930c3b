"""Independent A2A targets for the kit: an a2a-sdk sample agent, and the same agent with injected faults.

The sample agent is plain a2a-sdk code (no toolmesh code in the agent): it upper-cases text into an
artifact, fails a message that starts with "fail", asks for input when a message starts with "confirm",
and works slowly (cancellably) when asked to "wait". ``BrokenAgent`` wraps its ASGI app and corrupts the
wire in one named way per fault, so that each A2A check can be shown to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import grpc.aio
import httpx
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.grpc_handler import GrpcHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import (
    BasePushNotificationSender,
    InMemoryPushNotificationConfigStore,
    InMemoryTaskStore,
    TaskUpdater,
)
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, TaskState, a2a_pb2_grpc
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import ServingSettings


class SampleExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        resumed = (
            context.current_task is not None
            and context.current_task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        )
        await updater.start_work()
        if text.lower().startswith("confirm") and not resumed:
            await updater.requires_input(updater.new_agent_message([new_text_part("Please say yes or no.")]))
            return
        if text.lower().startswith("fail"):
            await updater.failed(updater.new_agent_message([new_text_part("failing, as asked")]))
            return
        if "wait" in text.lower():
            await asyncio.sleep(30)  # cancelled by CancelTask
        await updater.add_artifact([new_text_part(text.upper())], name="upper")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def sample_card(
    base: str, *, streaming: bool = True, push: bool = True, rest: bool = True, grpc_url: str | None = None
) -> AgentCard:
    interfaces = [
        AgentInterface(url=f"{base}/a2a/jsonrpc", protocol_binding="JSONRPC", protocol_version="1.0")
    ]
    if rest:
        interfaces.append(
            AgentInterface(url=f"{base}/a2a/rest", protocol_binding="HTTP+JSON", protocol_version="1.0")
        )
    if grpc_url:  # A2A 1.0: host:port
        interfaces.append(AgentInterface(url=grpc_url, protocol_binding="GRPC", protocol_version="1.0"))
    return AgentCard(
        name="sample-upper",
        description="Upper-cases text (an a2a-sdk sample agent for the conformance kit).",
        version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=streaming, push_notifications=push),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="upper", name="Upper", description="Upper-case text", tags=["text"])],
    )


def sample_app(
    card: AgentCard, *, push: bool = True, plain_sdk: bool = False
) -> tuple[Starlette, DefaultRequestHandler]:
    """The sample agent's app. ``plain_sdk`` serves a2a-sdk's handler as it ships, with the A2A gaps it
    leaves (see ``toolmesh.agents.handler``); otherwise the handler that closes them, and a cached card."""
    push_store = InMemoryPushNotificationConfigStore() if push else None
    handler_cls = DefaultRequestHandler if plain_sdk else _closed_handler()
    handler = handler_cls(
        agent_executor=SampleExecutor(),
        task_store=InMemoryTaskStore(),
        agent_card=card,
        push_config_store=push_store,
        push_sender=BasePushNotificationSender(httpx.AsyncClient(), push_store) if push_store else None,
    )
    cache = None if plain_sdk else "public, max-age=60"
    routes = [
        *create_agent_card_routes(card, cache_control=cache),
        *create_jsonrpc_routes(handler, rpc_url="/a2a/jsonrpc"),
        *create_rest_routes(handler, path_prefix="/a2a/rest"),
    ]
    return Starlette(routes=routes), handler


def _closed_handler() -> type[DefaultRequestHandler]:
    from toolmesh.agents.handler import AgentRequestHandler  # the agents slice; the kit itself needs none

    return AgentRequestHandler


def grpc_server(handler: DefaultRequestHandler, *, plain_sdk: bool = False) -> tuple[grpc.aio.Server, int]:
    """a2a-sdk's gRPC server for ``handler`` on a free loopback port (not started); the server and port.

    ``plain_sdk`` serves a2a-sdk's ``GrpcHandler`` as it ships (it ignores the ``a2a-version`` metadata);
    otherwise with the call-context builder toolmesh's agents use, which checks it."""
    builder = None
    if not plain_sdk:
        from toolmesh.agents.grpc_server import GrpcCallContextBuilder

        builder = GrpcCallContextBuilder()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(GrpcHandler(handler, context_builder=builder), server)  # type: ignore[no-untyped-call]
    return server, server.add_insecure_port("127.0.0.1:0")


class BrokenAgent:
    """ASGI middleware that breaks the agent in the named ways (``faults``)."""

    FAULTS = frozenset(
        {
            "card-missing",  # 404 on the well-known path
            "card-no-version",  # card without version and interfaces' protocolVersion
            "card-no-skills",  # card with an empty skills list
            "dead-interface",  # the card advertises an interface URL that answers 404
            "send-bad-state",  # SendMessage returns a task with an invalid state
            "stream-garbage",  # SendStreamingMessage returns non-SSE JSON
            "get-task-wrong-id",  # GetTask returns another id
            "list-ignores-context",  # ListTasks returns tasks of other contexts
            "cancel-terminal-ok",  # CancelTask of a completed task "succeeds"
            "subscribe-terminal-ok",  # SubscribeToTask of a completed task returns a working snapshot
            "push-broken",  # push config methods answer internal errors
            "reopen-terminal",  # a follow-up to a completed task moves it back to working
            "wrong-error-codes",  # JSON-RPC errors all become -32603
            "ignore-version",  # an unsupported A2A-Version is served anyway
            "new-context",  # follow-ups get a new contextId
            "artifact-no-parts",  # artifacts lose their parts
            "input-required-stuck",  # resuming an input-required task answers a different task
        }
    )

    def __init__(self, app: ASGIApp, faults: Iterable[str]):
        self.app = app
        self.faults = set(faults)
        unknown = self.faults - self.FAULTS
        if unknown:
            raise ValueError(f"unknown faults {unknown}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path == "/.well-known/agent-card.json" and "card-missing" in self.faults:
            await _respond(send, 404, {"error": "not here"})
            return
        body = b""
        if scope["method"] in ("POST", "PUT"):
            body = await _read_body(receive)
        request: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = json.loads(body) if body else {}
            request = parsed if isinstance(parsed, dict) else {}
        method = request.get("method") if path.endswith("/jsonrpc") else f"{scope['method']} {path}"
        if "ignore-version" in self.faults and headers.get("a2a-version", "1.0") not in ("1.0", "1.0.0"):
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"a2a-version"]}
            scope["headers"].append((b"a2a-version", b"1.0"))
        params = request.get("params") if isinstance(request.get("params"), dict) else {}
        message = params.get("message") if isinstance(params.get("message"), dict) else {}
        if "reopen-terminal" in self.faults and method == "SendMessage":
            task_id = message.get("taskId")
            if task_id:
                task = {"id": task_id, "contextId": "ctx", "status": {"state": "TASK_STATE_WORKING"}}
                await _respond(
                    send, 200, {"jsonrpc": "2.0", "id": request.get("id"), "result": {"task": task}}
                )
                return
        if "input-required-stuck" in self.faults and method == "SendMessage" and message.get("taskId"):
            message.pop("taskId")
            body = json.dumps(request).encode()
        if "push-broken" in self.faults and isinstance(method, str) and "PushNotificationConfig" in method:
            error = {"code": -32603, "message": "push store exploded"}
            await _respond(send, 200, {"jsonrpc": "2.0", "id": request.get("id"), "error": error})
            return
        if "stream-garbage" in self.faults and method == "SendStreamingMessage":
            await _respond(send, 200, {"not": "a stream"})
            return
        captured = await _capture(self.app, scope, body, receive, send)
        if captured is None:  # an event stream, already passed through
            return
        status, resp_headers, resp_body = captured
        if path == "/.well-known/agent-card.json" and status == 200:
            card = json.loads(resp_body)
            if "card-no-version" in self.faults:
                card.pop("version", None)
                for iface in card.get("supportedInterfaces", []):
                    iface.pop("protocolVersion", None)
            if "card-no-skills" in self.faults:
                card["skills"] = []
            if "dead-interface" in self.faults:
                card["supportedInterfaces"].append(
                    {
                        "url": card["supportedInterfaces"][0]["url"] + "-gone",
                        "protocolBinding": "JSONRPC",
                        "protocolVersion": "1.0",
                    }
                )
            await _respond(send, 200, card)
            return
        ctype = resp_headers.get("content-type", "")
        if not path.endswith("/jsonrpc") or not ctype.startswith("application/json"):
            await _raw(send, status, resp_headers, resp_body)
            return
        response = json.loads(resp_body)
        result = response.get("result") if isinstance(response, dict) else None
        error = response.get("error") if isinstance(response, dict) else None
        if "wrong-error-codes" in self.faults and isinstance(error, dict):
            error["code"] = -32603
        if isinstance(result, dict):
            task = (
                result.get("task") if method == "SendMessage" else (result if method == "GetTask" else None)
            )
            if isinstance(task, dict):
                if "send-bad-state" in self.faults and method == "SendMessage":
                    task["status"]["state"] = "DONE-ISH"
                if "get-task-wrong-id" in self.faults and method == "GetTask":
                    task["id"] = str(uuid.uuid4())
                if "new-context" in self.faults and method == "SendMessage" and message.get("contextId"):
                    task["contextId"] = str(uuid.uuid4())
                if "artifact-no-parts" in self.faults:
                    for artifact in task.get("artifacts", []):
                        artifact["parts"] = []
            if "list-ignores-context" in self.faults and method == "ListTasks":
                for task in result.get("tasks", []):
                    task["contextId"] = str(uuid.uuid4())
        if (
            "cancel-terminal-ok" in self.faults
            and method == "CancelTask"
            and error
            and error.get("code") == -32002
        ):
            task = {"id": params.get("id"), "contextId": "ctx", "status": {"state": "TASK_STATE_COMPLETED"}}
            response = {"jsonrpc": "2.0", "id": request.get("id"), "result": task}
        if (
            "subscribe-terminal-ok" in self.faults
            and method == "SubscribeToTask"
            and error
            and error.get("code") == -32004
        ):
            task = {"id": params.get("id"), "contextId": "ctx", "status": {"state": "TASK_STATE_WORKING"}}
            await _sse(send, [{"jsonrpc": "2.0", "id": request.get("id"), "result": {"task": task}}])
            return
        await _respond(send, status, response)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _capture(
    app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
) -> tuple[int, dict[str, str], bytes] | None:
    """Run ``app`` with ``body``: a JSON response is buffered and returned for tampering; an event
    stream is passed straight through to ``send`` (None is returned), so long streams are not held up."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    status = 500
    headers: dict[str, str] = {}
    chunks: list[bytes] = []
    streaming = False

    async def capture(message: Message) -> None:
        nonlocal status, headers, streaming
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            if headers.get("content-type", "").startswith("text/event-stream"):
                streaming = True
                await send(message)
        elif streaming:
            await send(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app({**scope}, replay, capture)
    return None if streaming else (status, headers, b"".join(chunks))


async def _respond(send: Send, status: int, payload: Any) -> None:
    await _raw(send, status, {"content-type": "application/json"}, json.dumps(payload).encode())


async def _raw(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    kept = {k: v for k, v in headers.items() if k not in ("content-length",)}
    kept["content-length"] = str(len(body))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode()) for k, v in kept.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _sse(send: Send, events: list[dict[str, Any]]) -> None:
    body = b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events)
    await _raw(send, 200, {"content-type": "text/event-stream"}, body)


@contextlib.asynccontextmanager
async def serve_sample(
    *,
    faults: Iterable[str] = (),
    streaming: bool = True,
    push: bool = True,
    rest: bool = True,
    grpc: bool = True,
    plain_sdk: bool = False,
) -> AsyncIterator[str]:
    """Serve the sample agent (with ``faults``; faults break the HTTP bindings only) on ephemeral ports,
    with a gRPC interface unless ``grpc`` is off; yields its base URL."""
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    card = sample_card(base, streaming=streaming, push=push, rest=rest)
    app, handler = sample_app(card, push=push, plain_sdk=plain_sdk)
    server = None
    if grpc:
        server, port = grpc_server(handler, plain_sdk=plain_sdk)
        card.supported_interfaces.append(  # the handler and card routes hold this very card
            AgentInterface(url=f"127.0.0.1:{port}", protocol_binding="GRPC", protocol_version="1.0")
        )
        await server.start()
    faults = set(faults)
    outer = Starlette()
    outer.mount("/", BrokenAgent(app, faults) if faults else app)
    settings = ServingSettings(transport="http", port=0, graceful_timeout=1)
    try:
        async with running(outer, settings, sock=sock) as url:
            yield url
    finally:
        if server is not None:
            await server.stop(1)
        await handler.aclose()
