"""The reviewer agent: takes the goal, the answer and the step results (JSON part), returns a verdict.

The verdict ``{approved, issues[], suggestions[]}`` is the ``verdict`` artifact (JSON); the task completes
either way — a rejection is an answer, not a failure.
"""

from __future__ import annotations

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import AgentSkill, Part
from pydantic import ValidationError

from toolmesh.agents.errors import AgentError
from toolmesh.agents.model import ChatModel
from toolmesh.agents.reviewer.checks import ReviewRequest, review
from toolmesh.agents.runtime import new_task, updater_for
from toolmesh.agents.tracing import extract_context, tracer
from toolmesh.agents.wire import json_part, json_parts

__all__ = ["REVIEW_SKILL", "ReviewerAgent", "reviewer_skills"]

REVIEW_SKILL = "review"


def reviewer_skills() -> list[AgentSkill]:
    return [
        AgentSkill(
            id=REVIEW_SKILL,
            name="Review results",
            description=(
                "Checks an answer against the tool results behind it: failed or empty steps, "
                "missing citations, "
                "claims no evidence supports, instructions hidden in tool output; a model's judgement on top "
                "when one is configured. Returns {approved, issues[], suggestions[]}."
            ),
            tags=["review", "verification", "safety"],
            input_modes=["application/json"],
            output_modes=["application/json"],
        )
    ]


class ReviewerAgent(AgentExecutor):
    def __init__(self, *, instance: str, model: ChatModel | None = None) -> None:
        self.instance = instance
        self.model = model

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(context, self.instance))
        updater = updater_for(context, event_queue)
        headers = context.call_context.state.get("headers") if context.call_context else None
        with tracer().start_as_current_span("reviewer.execute", context=extract_context(headers)):
            await updater.start_work()
            try:
                payloads = json_parts(context.message.parts) if context.message else []
                request = ReviewRequest.model_validate(payloads[0] if payloads else None)
            except ValidationError as exc:
                await updater.failed(
                    updater.new_agent_message([Part(text=f"not a review request: {exc.errors()[0]['msg']}")])
                )
                return
            except AgentError as exc:
                await updater.failed(updater.new_agent_message([Part(text=f"not a review request: {exc}")]))
                return
            verdict = await review(request, self.model)
            await updater.add_artifact(
                [json_part(verdict.model_dump(mode="json"))], name="verdict", artifact_id="verdict"
            )
            summary = "approved" if verdict.approved else f"rejected: {len(verdict.issues)} issue(s)"
            await updater.complete(updater.new_agent_message([Part(text=summary)]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await updater_for(context, event_queue).cancel()
