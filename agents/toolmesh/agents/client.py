"""Talking to the planner from outside the mesh: send a request, stream every hop, resume on
input-required (a clarifying question, or a request to approve calls that are not read-only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from a2a.client import A2ACardResolver
from a2a.client.errors import AgentCardResolutionError
from a2a.types import Part, StreamResponse, TaskState

from toolmesh.agents.approvals import ApprovalRequest, request_of
from toolmesh.agents.tracing import traced_httpx_client, tracer
from toolmesh.agents.wire import Outcome, artifact_json, json_part, new_message, stream_message, text_of
from toolmesh.protocols.errors import UnavailableError

__all__ = ["ask_planner", "describe_event"]

EventHook = Callable[[StreamResponse], Awaitable[None]]
Answerer = Callable[[str], Awaitable[str | None]]
# The answer to an approval request: True (all), False (none) or the step ids to run; None stops there.
Approver = Callable[[ApprovalRequest], Awaitable[bool | list[str] | None]]


def describe_event(event: StreamResponse) -> str | None:
    """One terminal line for a streamed event (None for events not worth showing)."""
    kind = event.WhichOneof("payload")
    if kind == "status_update":
        status = event.status_update.status
        state = TaskState.Name(status.state).removeprefix("TASK_STATE_").lower()
        text = text_of(status.message.parts) if status.HasField("message") else ""
        if status.state == TaskState.TASK_STATE_WORKING:
            return text or None
        return f"[{state}] {text.splitlines()[0] if text else ''}".rstrip()
    if kind == "artifact_update":
        artifact = event.artifact_update.artifact
        if "/step:" in artifact.name:
            value: Any = artifact_json(artifact)
            if isinstance(value, dict):
                where = f"{value.get('server_name') or value.get('skill')}.{value.get('tool') or 'handoff'}"
                extra = " (cached)" if value.get("cached") else ""
                detail = f": {value.get('error')}" if value.get("error") else ""
                return f"  {artifact.name}: {where} -> {value.get('status')}{extra}{detail}"
        if artifact.name.startswith("round-") and "/" not in artifact.name:
            value = artifact_json(artifact)
            if isinstance(value, dict) and isinstance(value.get("verdict"), dict):
                verdict = value["verdict"]
                mark = "approved" if verdict.get("approved") else "rejected"
                return f"  {artifact.name} review: {mark}"
    if kind == "task":
        state = TaskState.Name(event.task.status.state).removeprefix("TASK_STATE_").lower()
        return f"task {event.task.id} ({state})"
    return None


async def ask_planner(
    planner_url: str,
    request: str,
    *,
    on_event: EventHook | None = None,
    answer: Answerer | None = None,
    http: httpx.AsyncClient | None = None,
    token: str | None = None,
    max_turns: int = 3,
    context_id: str = "",
    approve: Approver | None = None,
) -> Outcome:
    """Send ``request`` to the planner at ``planner_url``; stream events to ``on_event``.

    When the planner asks for input, ``answer(question)`` is awaited and its reply resumes the same task
    (same task and context ids); without ``answer`` (or when it returns None) the outcome is returned as is.
    When it asks to approve calls, ``approve(request)`` decides (sent as ``{"approve": ...}``); without
    ``approve`` the outcome is returned as is, the calls not run.
    ``token`` is sent as a bearer token when the planner's auth is on. ``context_id`` continues a
    conversation: the planner reads follow-ups against the earlier turns of that context.
    """
    own = http is None
    client = http or traced_httpx_client(headers={"authorization": f"Bearer {token}"} if token else None)
    try:
        try:
            card = await A2ACardResolver(client, planner_url).get_agent_card()
        except AgentCardResolutionError as exc:
            raise UnavailableError(
                f"cannot reach the planner at {planner_url}: {exc}",
                hint="Start the mesh (`toolmesh up`), or point --planner (TOOLMESH_PLANNER_URL) at one.",
            ) from exc
        outcome = Outcome()
        parts, task_id = [Part(text=request)], ""
        with tracer().start_as_current_span("toolmesh.ask"):
            for _ in range(max_turns):
                outcome = Outcome()
                message = new_message(parts, task_id=task_id, context_id=context_id)
                async for event in stream_message(card, message, http=client):
                    outcome.absorb(event)
                    if on_event is not None:
                        await on_event(event)
                if outcome.state != TaskState.TASK_STATE_INPUT_REQUIRED:
                    return outcome
                asked = request_of(outcome.status_parts)
                if asked is not None:
                    decision = await approve(asked) if approve is not None else None
                    if decision is None:
                        return outcome
                    parts = [json_part({"approve": decision})]
                else:
                    reply = await answer(outcome.status_text) if answer is not None else None
                    if reply is None:
                        return outcome
                    parts = [Part(text=reply)]
                task_id, context_id = outcome.task_id, outcome.context_id
        return outcome
    finally:
        if own:
            await client.aclose()
