"""Push webhooks: a URL that passed the screen still cannot make the agent connect to a private address."""

from __future__ import annotations

import logging

import anyio
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import SendMessageConfiguration, SendMessageRequest, TaskPushNotificationConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import toolmesh.agents.runtime as runtime
from toolmesh.agents.executor.engine import StepResult
from toolmesh.agents.mesh import build_reviewer
from toolmesh.agents.reviewer.checks import ReviewRequest
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.wire import json_part, new_message
from toolmesh.protocols.errors import PermissionDenied
from toolmesh.protocols.serving import bind_socket, running

SENDER_LOGGER = "a2a.server.tasks.base_push_notification_sender"


class FailedPushes(logging.Handler):
    """Collects the exceptions the push sender logs, and wakes the test on the first one (or a delivery)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.errors: list[BaseException] = []
        self.seen = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
            self.seen.set()


@pytest.mark.asyncio
async def test_a_webhook_that_passes_the_screen_is_refused_at_connect_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fooled(url: str) -> bool:
        return True  # the screen saw a public answer; the connect's look-up then rebinds to loopback

    monkeypatch.setattr(runtime, "validate_push_notification_url", fooled)
    hits: list[str] = []
    failed = FailedPushes()

    async def hook(request: Request) -> Response:
        hits.append(request.url.path)
        failed.seen.set()  # a delivery is the failure this test exists for: stop waiting
        return Response(status_code=204)

    settings = AgentSettings(task_db_url="memory://")  # screening on: allow_private_push is off
    sock = bind_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent = build_reviewer(settings, base)
    sender_log = logging.getLogger(SENDER_LOGGER)
    sender_log.addHandler(failed)
    result = StepResult(step_id="s1", kind="tool", status="ok", tool="echo", structured={"rows": [[1]]})
    review = ReviewRequest(goal="one?", answer="It is 1 [1].", results=[result])
    try:
        with anyio.fail_after(30):
            async with (
                running(
                    Starlette(routes=[Route("/hook", hook, methods=["POST"])]), AgentSettings()
                ) as hook_url,
                running(agent.app, settings, sock=sock),
            ):
                client = await create_client(base, client_config=ClientConfig(streaming=False))
                async with client:
                    config = SendMessageConfiguration(
                        task_push_notification_config=TaskPushNotificationConfig(
                            url=f"{hook_url}/hook", token="t"
                        )
                    )
                    message = new_message([json_part(review.model_dump(mode="json"))])
                    request = SendMessageRequest(message=message, configuration=config)
                    _ = [e async for e in client.send_message(request)]
                await failed.seen.wait()
    finally:
        sender_log.removeHandler(failed)
    assert hits == []  # the webhook on loopback never saw a request
    assert failed.errors and all(isinstance(e, PermissionDenied) for e in failed.errors), failed.errors
    assert "127.0.0.1 is not a public address" in str(failed.errors[0])
