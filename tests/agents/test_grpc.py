"""A2A over gRPC on a real agent app (real sockets), driven by a2a-sdk's own gRPC client: every operation,
a multi-turn task, the A2A 1.0 gaps our handler closes, bearer auth and the version check."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio
import grpc
import grpc.aio
import pytest
from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    a2a_pb2,
    a2a_pb2_grpc,
)
from a2a.utils.errors import ContentTypeNotSupportedError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from tests.agents.grpc_agent import TOKEN, grpc_agent
from toolmesh.agents.grpc_server import GrpcFace
from toolmesh.protocols.errors import ConfigError


def _client(card: AgentCard, *, streaming: bool) -> Client:
    config = ClientConfig(
        streaming=streaming,
        supported_protocol_bindings=["GRPC"],
        grpc_channel_factory=grpc.aio.insecure_channel,
    )
    return ClientFactory(config).create(card)


def _message(text: str, *, task_id: str = "", context_id: str = "", media: str = "") -> Message:
    part = Part(text=text, media_type=media) if media else Part(text=text)
    return Message(
        role=Role.ROLE_USER,
        message_id=f"m-{text}-{task_id}",
        parts=[part],
        task_id=task_id,
        context_id=context_id,
    )


async def _send(client: Client, message: Message, **config: Any) -> list[StreamResponse]:
    request = SendMessageRequest(message=message, configuration=SendMessageConfiguration(**config))
    return [event async for event in client.send_message(request)]


async def _final_task(client: Client, message: Message) -> Task:
    events = await _send(client, message)
    assert events and events[-1].WhichOneof("payload") == "task", events
    return events[-1].task


@pytest.mark.asyncio
async def test_the_card_lists_grpc_as_host_port_last() -> None:
    async with grpc_agent() as served:
        interfaces = [(i.protocol_binding, i.url) for i in served.card.supported_interfaces]
        assert served.agent.grpc is not None
        port = served.agent.grpc.port
    assert [b for b, _ in interfaces] == ["JSONRPC", "HTTP+JSON", "GRPC"]
    assert interfaces[-1][1] == f"127.0.0.1:{port}"  # A2A 1.0: host:port, no scheme


@pytest.mark.asyncio
async def test_grpc_can_be_turned_off() -> None:
    async with grpc_agent(grpc_enabled=False) as served:
        assert served.agent.grpc is None
        assert [i.protocol_binding for i in served.card.supported_interfaces] == ["JSONRPC", "HTTP+JSON"]


@pytest.mark.asyncio
async def test_every_operation_over_grpc_with_the_sdk_client() -> None:
    async with grpc_agent() as served:
        client = _client(served.card, streaming=False)
        streamer = _client(served.card, streaming=True)
        try:
            done = await _final_task(client, _message("hello"))
            assert done.status.state == TaskState.TASK_STATE_COMPLETED
            assert done.artifacts[0].parts[0].text == "HELLO"

            got = await client.get_task(GetTaskRequest(id=done.id, history_length=1))
            assert got.id == done.id and len(got.history) <= 1
            listed = await client.list_tasks(ListTasksRequest(context_id=done.context_id, page_size=10))
            assert [t.id for t in listed.tasks] == [done.id]

            events = await _send(streamer, _message("streamed"))
            kinds = [e.WhichOneof("payload") for e in events]
            assert kinds[0] == "task" and "artifact_update" in kinds and kinds[-1] == "status_update", kinds
            assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED

            started = await _send(client, _message("wait"), return_immediately=True)
            running_id = started[-1].task.id
            canceled = await client.cancel_task(CancelTaskRequest(id=running_id))
            assert canceled.status.state == TaskState.TASK_STATE_CANCELED

            # multi-turn: input-required, answered with the task id only, then finished
            asking = await _final_task(client, _message("confirm the plan"))
            assert asking.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            again = await _final_task(client, _message("confirm this one", task_id=asking.id))
            assert (again.id, again.context_id) == (asking.id, asking.context_id)  # the context kept
            assert again.status.message.context_id == asking.context_id
            assert again.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            finished = await _final_task(client, _message("done", task_id=asking.id))
            assert finished.status.state == TaskState.TASK_STATE_COMPLETED and finished.id == asking.id
        finally:
            await client.close()
            await streamer.close()


@pytest.mark.asyncio
async def test_a_streamed_follow_up_over_grpc_begins_with_the_task() -> None:
    async with grpc_agent() as served:
        client = _client(served.card, streaming=True)
        try:
            first = await _send(client, _message("confirm it"))
            task_id = first[0].task.id
            assert first[-1].status_update.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            follow = await _send(client, _message("this one", task_id=task_id))
        finally:
            await client.close()
    assert follow[0].WhichOneof("payload") == "task", follow[0]
    assert follow[0].task.id == task_id


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The google.rpc.ErrorInfo reason in the status details of a gRPC error."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


async def _raw_send(target: str, message: Message, metadata: list[tuple[str, str]]) -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]
        request = a2a_pb2.SendMessageRequest(message=message)
        return await stub.SendMessage(request, metadata=metadata, timeout=10)


@pytest.mark.asyncio
async def test_parts_the_card_does_not_declare_are_refused_over_grpc() -> None:
    async with grpc_agent() as served:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _raw_send(served.grpc_url, _message("{}", media="image/png"), [("a2a-version", "1.0")])
        client = _client(served.card, streaming=False)
        try:
            with pytest.raises(ContentTypeNotSupportedError):
                await _send(client, _message("AAAA", media="image/png"))
            listed = await client.list_tasks(ListTasksRequest(page_size=10))
        finally:
            await client.close()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(raised.value) == "CONTENT_TYPE_NOT_SUPPORTED"
    assert "image/png" in str(raised.value.details()) and "text/plain" in str(raised.value.details())
    assert list(listed.tasks) == []  # nothing was created


@pytest.mark.asyncio
async def test_another_major_version_is_refused_over_grpc() -> None:
    async with grpc_agent() as served:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _raw_send(served.grpc_url, _message("hi"), [("a2a-version", "2.0")])
        answered = await _raw_send(served.grpc_url, _message("hi"), [])  # absent: the 1.0 service
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(raised.value) == "VERSION_NOT_SUPPORTED"
    assert answered.task.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.asyncio
async def test_with_auth_on_grpc_takes_the_http_token_and_nothing_else() -> None:
    async with grpc_agent(auth=True) as served:
        refusals = []
        for metadata in ([], [("authorization", "Bearer wrong")], [("authorization", TOKEN)]):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await _raw_send(served.grpc_url, _message("hi"), metadata)
            refusals.append(raised.value)
        accepted = await _raw_send(served.grpc_url, _message("hi"), [("authorization", f"Bearer {TOKEN}")])
        # the same caller owns the task on every binding: made over gRPC, read over JSON-RPC
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": accepted.task.id}}
        over_http = await served.http.post(
            f"{served.base}/a2a/jsonrpc", json=body, headers={"A2A-Version": "1.0"}
        )
        client = _client(served.card, streaming=False)
        try:
            context = ClientCallContext(service_parameters={"authorization": f"Bearer {TOKEN}"})
            via_sdk = await client.get_task(GetTaskRequest(id=accepted.task.id), context=context)
        finally:
            await client.close()
    assert {r.code() for r in refusals} == {grpc.StatusCode.UNAUTHENTICATED}
    assert "Bearer <token>" in str(refusals[0].details())  # what to do
    assert accepted.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert over_http.json()["result"]["id"] == accepted.task.id
    assert via_sdk.id == accepted.task.id


@pytest.mark.asyncio
async def test_a_grpc_port_in_use_is_an_error_that_says_what_to_do() -> None:
    async with grpc_agent() as served:
        assert served.agent.grpc is not None
        with pytest.raises(ConfigError) as raised:
            GrpcFace(served.agent.handler, host="127.0.0.1", port=served.agent.grpc.port)
    assert "GRPC_PORT" in str(raised.value) or "GRPC_PORT" in (raised.value.hint or "")


@pytest.mark.asyncio
async def test_shutdown_ends_an_open_grpc_stream_within_the_grace() -> None:
    """A subscriber left open does not hold the agent up: the gRPC server stops within its grace."""
    events: list[StreamResponse] = []
    async with grpc_agent() as served:  # graceful_timeout=2
        client = _client(served.card, streaming=True)
        sender = _client(served.card, streaming=False)
        started = await _send(sender, _message("wait"), return_immediately=True)
        await sender.close()
        task_id = started[-1].task.id

        async def listen() -> None:
            with contextlib.suppress(Exception):  # the stream ends when the server stops
                async for event in client.subscribe(SubscribeToTaskRequest(id=task_id)):
                    events.append(event)

        listener = asyncio.create_task(listen())
        with anyio.fail_after(10):
            while not events:  # the snapshot arrived: the stream is open
                await asyncio.sleep(0.01)
        stopping = anyio.current_time()
    assert anyio.current_time() - stopping < 2 + 5  # the grace, plus the HTTP side's own
    with anyio.fail_after(5):
        await listener
    await client.close()
    assert events[0].WhichOneof("payload") == "task"
