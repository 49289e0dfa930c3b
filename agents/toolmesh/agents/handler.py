"""The A2A request handler every agent serves: a2a-sdk's, with the gaps it leaves in A2A 1.0 §3 closed.

- Parts are checked against the card's input modes (§3.1.1): a text part without a media type is
  ``text/plain``, a data part ``application/json``, a file ``application/octet-stream``; anything the
  card does not declare is refused with ``ContentTypeNotSupportedError`` before a task exists. (The SDK's
  own check looks only at parts that state a media type.)
- A follow-up naming only its ``taskId`` continues that task's context (§3.4.3); the SDK would mint a new
  contextId for it and then fail the task on the mismatch (a2a-python issue 1206).
- A streamed follow-up begins with the Task (§3.1.2), as a first message's stream does.
- A cancel that loses the race to the task's own end is refused with ``TaskNotCancelableError``
  (§3.1.5) instead of answering the failed or completed task as if it had been cancelled.
- A refused push URL says why and what to do (the SDK answers a bare "Invalid push notification URL").
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    SendMessageRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import ContentTypeNotSupportedError, InvalidParamsError, TaskNotCancelableError

__all__ = ["AgentRequestHandler", "declared_input_modes", "part_media_type"]

_IMPLIED = {"text": "text/plain", "data": "application/json", "raw": "application/octet-stream"}


def part_media_type(part: Part) -> str:
    """The media type a part carries: the one it states, else the one its kind implies."""
    if part.media_type:
        return part.media_type
    return _IMPLIED.get(part.WhichOneof("content") or "", "application/octet-stream")


def declared_input_modes(card: AgentCard) -> set[str]:
    """Every media type the agent accepts: its default input modes and each skill's."""
    declared = set(card.default_input_modes)
    for skill in card.skills:
        declared.update(skill.input_modes)
    return declared


def _refuse_unsupported(message: Message, card: AgentCard) -> None:
    declared = declared_input_modes(card)
    if not declared or "*/*" in declared:
        return
    for number, part in enumerate(message.parts, start=1):
        media = part_media_type(part)
        if media not in declared:
            raise ContentTypeNotSupportedError(
                message=(
                    f"part {number} is {media}, which this agent does not accept; "
                    f"send one of: {', '.join(sorted(declared))}"
                )
            )


class AgentRequestHandler(DefaultRequestHandler):
    """a2a-sdk's request handler with content types, taskId-only follow-ups, streamed follow-ups and
    cancel races handled as A2A 1.0 requires (see the module docstring).

    ``push_hint`` ends the refusal of a push URL the validator turns down (what the caller can do).
    """

    def __init__(self, *args: Any, push_hint: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._push_hint = push_hint

    async def _reject_unsafe_push_url(self, url: str) -> None:
        if self._push_url_validator is not None and not await self._push_url_validator(url):
            raise InvalidParamsError(
                message=(
                    f"push notification URL {url[:200]!r} refused: webhooks must be http(s) on a public "
                    f"address (not loopback, private, link-local, metadata, unresolvable). {self._push_hint}"
                ).strip()
            )

    async def _prepare(self, params: SendMessageRequest, context: ServerCallContext) -> Task | None:
        """Refuse what the card does not accept; give a taskId-only follow-up its task's context."""
        _refuse_unsupported(params.message, self._agent_card)
        if not params.message.task_id:
            return None
        task: Task | None = await self.on_get_task(GetTaskRequest(id=params.message.task_id), context)
        if task is not None and not params.message.context_id:
            params.message.context_id = task.context_id
        return task

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Message | Task:
        await self._prepare(params, context)
        result: Message | Task = await super().on_message_send(params, context)
        return result

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        earlier = await self._prepare(params, context)
        first = True
        async for event in super().on_message_send_stream(params, context):
            if first and earlier is not None and not isinstance(event, Task | Message):
                current: Task | None = await self.on_get_task(GetTaskRequest(id=earlier.id), context)
                yield current if current is not None else earlier
            first = False
            yield event

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        task: Task | None = await super().on_cancel_task(params, context)
        if task is not None and task.status.state != TaskState.TASK_STATE_CANCELED:
            raise TaskNotCancelableError(
                message=f"the task ended first ({TaskState.Name(task.status.state)}): nothing to cancel"
            )
        return task
