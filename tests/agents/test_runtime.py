"""Serving an agent: bearer auth advertised and enforced, durable task stores (SQLite, PostgreSQL) and the
recovery of tasks a dead process left running."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import AgentSkill, ListTasksRequest, Part, Task, TaskState

from tests.services import POSTGRES_URL, require_service
from toolmesh.agents.mesh import build_reviewer
from toolmesh.agents.runtime import build_agent, new_task, updater_for
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.task_store import SCHEMA_VERSION, build_task_store, recover_interrupted, stamp
from toolmesh.agents.wire import json_part, new_message
from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import AuthSettings, TokenGrant, hash_token


@pytest.mark.asyncio
async def test_auth_is_advertised_in_the_card_and_enforced(tmp_path: Path) -> None:
    settings = AgentSettings(
        task_db_url="memory://",
        auth=AuthSettings(tokens={hash_token("s3cret"): TokenGrant(client_id="planner")}),
    )
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent = build_reviewer(settings, base)
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}}
    with anyio.fail_after(30):
        async with running(agent.app, settings, sock=sock), httpx.AsyncClient(base_url=base) as http:
            card = (await http.get("/.well-known/agent-card.json")).json()
            anonymous = await http.post("/a2a/jsonrpc", json=body, headers={"A2A-Version": "1.0"})
            wrong = await http.post(
                "/a2a/jsonrpc", json=body, headers={"A2A-Version": "1.0", "authorization": "Bearer nope"}
            )
            allowed = await http.post(
                "/a2a/jsonrpc", json=body, headers={"A2A-Version": "1.0", "authorization": "Bearer s3cret"}
            )
    assert card["securitySchemes"] == {"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}}
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert (
        allowed.status_code == 200 and allowed.json()["error"]["code"] == -32001
    )  # task not found: authorized


def _task(text: str, state: TaskState, **metadata: Any) -> Task:
    task = new_task_from_user_message(new_message([Part(text=text)], context_id=str(uuid.uuid4())))
    task.status.state = state
    task.metadata.update(metadata)
    return task


async def _recovery_round_trip(url: str) -> None:
    """Two agents on one store: each fails only its own interrupted tasks; rows stamped the old way
    (``name@url``, owner = the caller) are adopted by the agent serving at that URL, and only by it."""
    run = uuid.uuid4().hex[:8]  # PostgreSQL keeps earlier runs' rows
    me, peer, legacy, legacy_other = (
        f"a-{run}",
        f"b-{run}",
        f"executor@http://a-{run}",
        f"executor@http://b-{run}",
    )
    store, engine = build_task_store(url, agent_id=me)
    other_store, other_engine = build_task_store(url, agent_id=peer)
    assert isinstance(store, DatabaseTaskStore) and engine is not None and other_engine is not None
    legacy_store = DatabaseTaskStore(engine, create_table=True)  # how tasks were stored before agent ids
    context = ServerCallContext()
    running_task = stamp(_task("work", TaskState.TASK_STATE_WORKING), me)
    other = stamp(_task("work", TaskState.TASK_STATE_WORKING), peer)
    waiting = stamp(_task("ask", TaskState.TASK_STATE_INPUT_REQUIRED), me)
    old = _task("old work", TaskState.TASK_STATE_WORKING, instance=legacy)
    old_done = _task("old work", TaskState.TASK_STATE_COMPLETED, instance=legacy)
    elsewhere = _task("old work", TaskState.TASK_STATE_WORKING, instance=legacy_other)
    for task in (running_task, waiting):
        await store.save(task, context)
    await other_store.save(other, context)
    for task in (old, old_done, elsewhere):
        await legacy_store.save(task, context)
    recovered = await recover_interrupted(store, agent_id=me, legacy=legacy, reason="interrupted: test")
    assert sorted(recovered) == sorted([running_task.id, old.id])
    after = await store.get(running_task.id, context)
    assert after is not None and after.status.state == TaskState.TASK_STATE_FAILED
    assert after.status.message.parts[0].text == "interrupted: test"
    assert after.metadata["interrupted"] is True
    adopted = await store.get(old.id, context)  # now this agent's: GetTask finds it
    assert adopted is not None and adopted.status.state == TaskState.TASK_STATE_FAILED
    assert adopted.metadata["instance"] == me and adopted.metadata["schema"] == SCHEMA_VERSION
    finished = await store.get(old_done.id, context)
    assert finished is not None and finished.status.state == TaskState.TASK_STATE_COMPLETED
    assert await store.get(other.id, context) is None  # another agent's task: not visible, not touched
    untouched = await other_store.get(other.id, context)
    assert untouched is not None and untouched.status.state == TaskState.TASK_STATE_WORKING
    left = await legacy_store.get(elsewhere.id, context)  # an old row of another URL: left for its agent
    assert left is not None and left.status.state == TaskState.TASK_STATE_WORKING
    listed = await store.list(ListTasksRequest(), context)
    assert {t.id for t in listed.tasks} == {running_task.id, waiting.id, old.id, old_done.id}
    await engine.dispose()
    await other_engine.dispose()


@pytest.mark.asyncio
async def test_sqlite_store_recovers_only_its_own_interrupted_tasks(tmp_path: Path) -> None:
    await _recovery_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")


@pytest.mark.services
@pytest.mark.asyncio
async def test_postgres_store_recovers_only_its_own_interrupted_tasks() -> None:
    host_port = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    require_service("PostgreSQL", host, int(port or 5432))
    await _recovery_round_trip(POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1))


@pytest.mark.asyncio
async def test_push_notifications_reach_the_callers_webhook() -> None:
    from a2a.client import ClientConfig, create_client
    from a2a.types import SendMessageConfiguration, SendMessageRequest, TaskPushNotificationConfig
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from toolmesh.agents.executor.engine import StepResult
    from toolmesh.agents.reviewer.checks import ReviewRequest
    from toolmesh.agents.wire import json_part

    received: list[tuple[str, dict[str, object]]] = []
    done = anyio.Event()

    async def hook(request: Request) -> Response:
        body = await request.json()
        received.append((request.headers.get("x-a2a-notification-token", ""), body))
        status = body.get("statusUpdate", {}).get("status", {}).get("state") or body.get("task", {}).get(
            "status", {}
        ).get("state")
        if status == "TASK_STATE_COMPLETED":
            done.set()
        return Response(status_code=204)

    settings = AgentSettings(task_db_url="memory://", allow_private_push=True)  # the webhook is on loopback
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent = build_reviewer(settings, base)
    webhook_settings = AgentSettings()
    result = StepResult(
        step_id="s1", kind="tool", status="ok", tool="echo", structured={"rows": [[1]], "columns": ["n"]}
    )
    review = ReviewRequest(goal="one?", answer="It is 1 [1].", results=[result])
    with anyio.fail_after(30):
        async with (
            running(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), webhook_settings) as hook_url,
            running(agent.app, settings, sock=sock),
        ):
            client = await create_client(base, client_config=ClientConfig(streaming=False))
            async with client:
                config = SendMessageConfiguration(
                    task_push_notification_config=TaskPushNotificationConfig(
                        url=f"{hook_url}/hook", token="tok-1"
                    )
                )
                message = new_message([json_part(review.model_dump(mode="json"))])
                _ = [
                    e
                    async for e in client.send_message(
                        SendMessageRequest(message=message, configuration=config)
                    )
                ]
            await done.wait()
    assert received and all(token == "tok-1" for token, _ in received)
    kinds = {next(iter(body)) for _, body in received}
    assert "artifactUpdate" in kinds and "statusUpdate" in kinds


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::1]:9/hook",
        "file:///etc/passwd",
    ],
)
async def test_push_webhooks_to_internal_addresses_are_refused(url: str) -> None:
    from a2a.client import ClientConfig, create_client
    from a2a.types import SendMessageConfiguration, SendMessageRequest, TaskPushNotificationConfig

    settings = AgentSettings(task_db_url="memory://")  # the default: screening on
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent = build_reviewer(settings, base)
    with anyio.fail_after(30):
        async with running(agent.app, settings, sock=sock):
            client = await create_client(base, client_config=ClientConfig(streaming=False))
            async with client:
                config = SendMessageConfiguration(
                    task_push_notification_config=TaskPushNotificationConfig(url=url, token="t")
                )
                message = new_message([json_part({"question": "q", "answer": "a"})])
                with pytest.raises(Exception, match=r"refused.*ALLOW_PRIVATE_PUSH"):  # why, and what to do
                    _ = [
                        e
                        async for e in client.send_message(
                            SendMessageRequest(message=message, configuration=config)
                        )
                    ]


class _EndsFirst(AgentExecutor):
    """Works until cancelled, and whose task fails as the cancel arrives: the race, made deterministic."""

    def __init__(self) -> None:
        self.started = anyio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(context, "ends-first"))
        await updater_for(context, event_queue).start_work()
        self.started.set()
        await anyio.sleep_forever()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = updater_for(context, event_queue)
        await updater.failed(updater.new_agent_message([Part(text="failed on its own")]))


@pytest.mark.asyncio
async def test_a_cancel_that_loses_the_race_is_refused_as_not_cancelable() -> None:
    executor = _EndsFirst()
    settings = AgentSettings(task_db_url="memory://")
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent = build_agent(
        name="ends-first",
        description="test",
        skills=[AgentSkill(id="work", name="work", description="works until cancelled", tags=["test"])],
        executor=executor,
        settings=settings,
        base_url=base,
    )
    headers = {"A2A-Version": "1.0"}
    send = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "work"}]},
            "configuration": {"returnImmediately": True},
        },
    }
    with anyio.fail_after(30):
        async with running(agent.app, settings, sock=sock), httpx.AsyncClient(base_url=base) as http:
            started = (await http.post("/a2a/jsonrpc", json=send, headers=headers)).json()
            task_id = started["result"]["task"]["id"]
            await executor.started.wait()
            cancel = {"jsonrpc": "2.0", "id": 2, "method": "CancelTask", "params": {"id": task_id}}
            reply = (await http.post("/a2a/jsonrpc", json=cancel, headers=headers)).json()
    assert "result" not in reply, reply
    assert reply["error"]["code"] == -32002  # TaskNotCancelableError
    assert "ended first" in reply["error"]["message"]


_REVIEW = {"question": "q", "answer": "a"}
_PUSH = {"url": "http://10.0.0.7/hook", "token": "t"}


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_a_refused_push_url_tells_the_caller_why_over_every_http_binding(binding: str) -> None:
    """On the send itself and on CreateTaskPushNotificationConfig for an existing task."""
    settings = AgentSettings(task_db_url="memory://", grpc_enabled=False)
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    message = {
        "messageId": str(uuid.uuid4()),
        "role": "ROLE_USER",
        "parts": [{"text": json.dumps(_REVIEW), "mediaType": "application/json"}],
    }

    async def call(http: httpx.AsyncClient, method: str, params: dict[str, Any], rest: str) -> Any:
        if binding == "JSONRPC":
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            answer = (await http.post(f"{base}/a2a/jsonrpc", json=body)).json()
            return answer.get("error", {}).get("message") or answer["result"]
        response = await http.post(f"{base}/a2a/rest{rest}", json=params)
        return response.json()["error"]["message"] if response.status_code >= 400 else response.json()

    with anyio.fail_after(30):
        async with (
            running(build_reviewer(settings, base).app, settings, sock=sock),
            httpx.AsyncClient(headers={"A2A-Version": "1.0"}, timeout=10) as http,
        ):
            config = {"taskPushNotificationConfig": _PUSH}
            on_send = await call(
                http, "SendMessage", {"message": message, "configuration": config}, "/message:send"
            )
            task = await call(
                http, "SendMessage", {"message": {**message, "messageId": "m2"}}, "/message:send"
            )
            task_id = task["task"]["id"]
            on_create = await call(
                http,
                "CreateTaskPushNotificationConfig",
                {"taskId": task_id, **_PUSH},
                f"/tasks/{task_id}/pushNotificationConfigs",
            )
    for said in (on_send, on_create):
        assert "push notification URL 'http://10.0.0.7/hook' refused" in said  # why
        assert "TOOLMESH_AGENTS_ALLOW_PRIVATE_PUSH=true" in said  # and what to do


@pytest.mark.asyncio
async def test_an_agent_the_registry_refuses_says_why_and_what_to_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.registry.conftest import PUBLISHER_A, settings_for
    from toolmesh.registry.app import build_app

    caplog.set_level(logging.WARNING, logger="toolmesh.protocols.presence")
    with anyio.fail_after(30):
        async with running(build_app(settings_for(allow_private_targets=False))) as registry_url:
            settings = AgentSettings(
                task_db_url="memory://",
                grpc_enabled=False,
                registry_url=registry_url,
                registry_token=PUBLISHER_A,
            )
            sock = bind_socket()
            base = f"http://127.0.0.1:{sock.getsockname()[1]}"
            agent = build_reviewer(settings, base)
            async with running(agent.app, settings, sock=sock):
                while not caplog.records:  # the first attempt is made at start-up
                    await anyio.sleep(0.01)
                assert agent.presence is not None and not agent.presence.registered.is_set()
    [record] = caplog.records
    assert record.levelname == "ERROR"
    message = record.getMessage()
    assert f"the registry at {registry_url} refused the reviewer agent at {base}" in message
    assert "is not a public address" in message
    assert (
        "TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS=true" in message and "TOOLMESH_AGENTS_PUBLIC_URL" in message
    )
