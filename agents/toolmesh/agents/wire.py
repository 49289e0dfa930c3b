"""A2A helpers shared by the agents: exact JSON parts, reading parts back, and streaming calls to a peer.

Structured payloads travel as text parts with media type ``application/json`` (never ``data`` parts:
protobuf ``Struct`` turns every integer into a float).
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.types import (
    AgentCard,
    Artifact,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)

from toolmesh.agents.errors import AgentError

__all__ = [
    "JSON_MEDIA",
    "TERMINAL_STATES",
    "Outcome",
    "artifact_json",
    "cancel_remote",
    "json_part",
    "json_parts",
    "new_message",
    "stream_message",
    "text_of",
]

# protobuf ships no type stubs; reach json_format untyped.
_json_format: Any = importlib.import_module("google.protobuf.json_format")

JSON_MEDIA = "application/json"
TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
    }
)


def json_part(value: Any) -> Part:
    """A text part holding ``value`` as JSON (exact numbers)."""
    return Part(text=json.dumps(value, ensure_ascii=False, default=str), media_type=JSON_MEDIA)


def json_parts(parts: Iterable[Part]) -> list[Any]:
    """Every JSON payload in ``parts`` (JSON text parts first; data parts as a fallback)."""
    out: list[Any] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text" and part.media_type == JSON_MEDIA:
            try:
                out.append(json.loads(part.text))
            except ValueError as exc:
                raise AgentError("a JSON part does not parse") from exc
        elif kind == "data":
            out.append(_json_format.MessageToDict(part.data))
    return out


def text_of(parts: Iterable[Part]) -> str:
    """The plain-text parts joined (JSON parts left out)."""
    return "\n".join(
        p.text for p in parts if p.WhichOneof("content") == "text" and p.media_type != JSON_MEDIA
    )


def artifact_json(artifact: Artifact) -> Any:
    found = json_parts(artifact.parts)
    return found[0] if found else None


def new_message(
    parts: list[Part],
    *,
    context_id: str = "",
    task_id: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Message:
    message = Message(
        role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=parts, context_id=context_id, task_id=task_id
    )
    if metadata:
        message.metadata.update(dict(metadata))
    return message


async def stream_message(
    card: AgentCard, message: Message, *, http: httpx.AsyncClient
) -> AsyncIterator[StreamResponse]:
    """Send ``message`` to the agent of ``card`` with streaming; yields every event."""
    config = ClientConfig(
        streaming=bool(card.capabilities.streaming),
        httpx_client=http,
        supported_protocol_bindings=["JSONRPC", "HTTP+JSON"],
    )
    client = ClientFactory(config).create(card)
    request = SendMessageRequest(message=message, configuration=SendMessageConfiguration(history_length=0))
    async for event in client.send_message(request):
        yield event


class Outcome:
    """What a streamed call to a peer ended with: final state, task id, artifacts by name, status text."""

    def __init__(self) -> None:
        self.state: int = TaskState.TASK_STATE_UNSPECIFIED
        self.task_id = ""
        self.context_id = ""
        self.artifacts: dict[str, Artifact] = {}
        self.status_text = ""
        self.status_parts: list[Part] = []  # the last status message's parts (e.g. an approval request)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def state_name(self) -> str:
        return str(TaskState.Name(self.state))

    def absorb(self, event: StreamResponse) -> None:
        kind = event.WhichOneof("payload")
        if kind == "task":
            self.task_id, self.context_id = event.task.id, event.task.context_id
            self.state = event.task.status.state
            for artifact in event.task.artifacts:
                self.artifacts[artifact.name or artifact.artifact_id] = artifact
            if event.task.status.HasField("message"):
                self.status_text = text_of(event.task.status.message.parts)
                self.status_parts = list(event.task.status.message.parts)
        elif kind == "status_update":
            self.task_id = self.task_id or event.status_update.task_id
            self.state = event.status_update.status.state
            if event.status_update.status.HasField("message"):
                self.status_text = text_of(event.status_update.status.message.parts)
                self.status_parts = list(event.status_update.status.message.parts)
        elif kind == "artifact_update":
            artifact = event.artifact_update.artifact
            self.artifacts[artifact.name or artifact.artifact_id] = artifact
        elif kind == "message":
            self.state = TaskState.TASK_STATE_COMPLETED
            self.status_text = text_of(event.message.parts)
            self.artifacts["message"] = Artifact(
                artifact_id="message", name="message", parts=event.message.parts
            )


async def cancel_remote(card: AgentCard, task_id: str, *, http: httpx.AsyncClient) -> None:
    """Ask the agent of ``card`` to cancel ``task_id`` (best effort: errors are logged by the caller)."""
    from a2a.types import CancelTaskRequest

    config = ClientConfig(
        streaming=False, httpx_client=http, supported_protocol_bindings=["JSONRPC", "HTTP+JSON"]
    )
    client = ClientFactory(config).create(card)
    await client.cancel_task(CancelTaskRequest(id=task_id))
