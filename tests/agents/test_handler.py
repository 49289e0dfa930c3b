"""The A2A exchanges a2a-sdk gets wrong on its own, sent over both bindings to a real agent app:
unsupported content types, taskId-only follow-ups, a streamed follow-up's first event, card caching and
the slashed JSON-RPC path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import AgentSkill, Part

from toolmesh.agents.runtime import build_agent, new_task, updater_for
from toolmesh.agents.settings import AgentSettings
from toolmesh.protocols.serving import bind_socket, running

HEADERS = {"A2A-Version": "1.0"}


class _TwoTurns(AgentExecutor):
    """Asks for input until a message says "done", then completes."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(context, "two-turns"))
        updater = updater_for(context, event_queue)
        await updater.start_work()
        if context.get_user_input() != "done":
            await updater.requires_input(updater.new_agent_message([Part(text="which one?")]))
        else:
            await updater.complete(updater.new_agent_message([Part(text="finished")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await updater_for(context, event_queue).cancel()


@asynccontextmanager
async def _agent(input_modes: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = AgentSettings(task_db_url="memory://")
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    skill = AgentSkill(id="t", name="t", description="two turns", tags=["test"], input_modes=input_modes)
    agent = build_agent(
        name="two-turns",
        description="test",
        skills=[skill],
        executor=_TwoTurns(),
        settings=settings,
        base_url=base,
    )
    with anyio.fail_after(30):
        async with running(agent.app, settings, sock=sock), httpx.AsyncClient(base_url=base) as http:
            yield http


def _message(part: dict[str, Any], **ids: str) -> dict[str, Any]:
    return {"messageId": f"m-{id(part)}-{len(ids)}", "role": "ROLE_USER", "parts": [part], **ids}


async def _send(http: httpx.AsyncClient, binding: str, message: dict[str, Any]) -> dict[str, Any]:
    """SendMessage over ``binding``; the result (task) or the error, the same shape for both bindings."""
    if binding == "jsonrpc":
        body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
        reply = (await http.post("/a2a/jsonrpc", json=body, headers=HEADERS)).json()
        return {"task": reply["result"]["task"]} if "result" in reply else {"error": reply["error"]}
    response = await http.post("/a2a/rest/message:send", json={"message": message}, headers=HEADERS)
    payload = response.json()
    return (
        {"task": payload["task"]}
        if response.is_success
        else {"error": payload, "status": response.status_code}
    )


async def _stream_first(http: httpx.AsyncClient, binding: str, message: dict[str, Any]) -> dict[str, Any]:
    """The first event of a streamed SendMessage."""
    if binding == "jsonrpc":
        url = "/a2a/jsonrpc"
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendStreamingMessage",
            "params": {"message": message},
        }
    else:
        url, body = "/a2a/rest/message:stream", {"message": message}
    async with http.stream("POST", url, json=body, headers={**HEADERS, "accept": "text/event-stream"}) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                event: dict[str, Any] = json.loads(line[5:])
                return event.get("result", event)
    raise AssertionError("the stream ended without an event")


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["jsonrpc", "rest"])
async def test_parts_the_card_does_not_declare_are_refused(binding: str) -> None:
    async with _agent(["application/json"]) as http:
        text = await _send(http, binding, _message({"text": "hello"}))
        image = await _send(http, binding, _message({"raw": "AAAA", "mediaType": "image/png"}))
        json_text = await _send(http, binding, _message({"text": "{}", "mediaType": "application/json"}))
        data = await _send(http, binding, _message({"data": {"a": 1}}))
        listed = (await http.get("/a2a/rest/tasks", headers=HEADERS)).json()
    for refused, media in ((text, "text/plain"), (image, "image/png")):
        assert "task" not in refused, refused
        wire = json.dumps(refused["error"])
        if binding == "jsonrpc":
            assert refused["error"]["code"] == -32005  # ContentTypeNotSupportedError
        else:
            assert refused["status"] == 415 or "CONTENT_TYPE_NOT_SUPPORTED" in wire, refused
        assert media in wire and "application/json" in wire  # what was wrong, and what to send
    assert "task" in json_text and "task" in data
    assert len(listed["tasks"]) == 2  # nothing was created for the refused messages


@pytest.mark.asyncio
async def test_the_card_declares_exactly_what_the_skills_accept() -> None:
    async with _agent(["application/json"]) as http:
        response = await http.get("/.well-known/agent-card.json")
    assert response.json()["defaultInputModes"] == ["application/json"]
    assert "max-age" in response.headers["cache-control"] and response.headers["etag"]


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["jsonrpc", "rest"])
async def test_a_follow_up_naming_only_the_task_keeps_its_context(binding: str) -> None:
    async with _agent(["text/plain"]) as http:
        first = (await _send(http, binding, _message({"text": "start"})))["task"]
        assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        turns = [
            await _send(http, binding, _message({"text": text}, taskId=first["id"]))
            for text in ("this one", "that one", "done")
        ]
    for turn in turns:
        assert "task" in turn, turn  # not "Context in event doesn't match TaskManager"
        task = turn["task"]
        assert task["id"] == first["id"] and task["contextId"] == first["contextId"]
        assert task["status"]["message"]["contextId"] == first["contextId"]  # the agent's reply, too
    assert [t["task"]["status"]["state"] for t in turns] == [
        "TASK_STATE_INPUT_REQUIRED",
        "TASK_STATE_INPUT_REQUIRED",
        "TASK_STATE_COMPLETED",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["jsonrpc", "rest"])
async def test_a_streamed_follow_up_begins_with_the_task(binding: str) -> None:
    async with _agent(["text/plain"]) as http:
        first = await _stream_first(http, binding, _message({"text": "start"}))
        task_id = first["task"]["id"]
        with anyio.fail_after(10):
            while (await _send_get(http, task_id))["status"]["state"] != "TASK_STATE_INPUT_REQUIRED":
                await anyio.sleep(0.01)
        follow = await _stream_first(http, binding, _message({"text": "this one"}, taskId=task_id))
    assert "task" in follow, follow
    assert follow["task"]["id"] == task_id


async def _send_get(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = (await http.get(f"/a2a/rest/tasks/{task_id}", headers=HEADERS)).json()
    return task


@pytest.mark.asyncio
async def test_the_json_rpc_path_with_a_trailing_slash_is_served() -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}}
    async with _agent(["text/plain"]) as http:
        reply = await http.post("/a2a/jsonrpc/", json=body, headers=HEADERS)
    assert reply.status_code == 200 and reply.json()["error"]["code"] == -32001  # task not found: answered
