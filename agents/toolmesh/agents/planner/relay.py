"""Approvals through the planner: the executor's request surfaces on the planner's task, and the caller's
answer goes back to the executor task that asked.

When an executor hop ends ``input-required`` with an approval request, :class:`ApprovalNeeded` ends the
planner's turn; the planner's task goes ``input-required`` with the same calls and keeps a
:class:`RelayState` (artifact ``approval-relay``: which executor task asked, for which plan, and the
request being answered). The caller's answer — ``{"approve": ...}`` or "yes"/"no" — is read here
(:meth:`Replay.answering`) and the turn runs again: read-only rounds run as before, and when the turn
reaches the plan that asked, the answer is sent to that executor task (same task and context ids)
instead of a new plan, and its results stand for the round.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from a2a.types import Message, Part, Task, TaskState
from pydantic import BaseModel, Field

from toolmesh.agents.approvals import ApprovalRequest, read_answer, request_of
from toolmesh.agents.plan import Plan, parse_plan
from toolmesh.agents.wire import json_part, json_parts, new_message

__all__ = ["RELAY_ARTIFACT", "ApprovalNeeded", "RelayState", "Replay", "relay_state"]

RELAY_ARTIFACT = "approval-relay"


def _signature(steps: Sequence[Any]) -> str:
    return json.dumps(steps, sort_keys=True, default=str)


class RelayState(BaseModel):
    """Which executor task waits for the caller's answer, and what the turn was."""

    executor_url: str
    executor_task: str
    executor_context: str
    plan: dict[str, Any]
    request: ApprovalRequest
    text: str = ""
    given: dict[str, Any] | None = Field(
        default=None, description="The caller's own plan, if the turn ran one."
    )

    def given_plan(self) -> Plan | None:
        return parse_plan(self.given) if self.given is not None else None


class ApprovalNeeded(Exception):  # a signal that ends the turn
    """An executor hop stopped for approval; the planner's turn ends ``input-required``."""

    def __init__(self, state: RelayState) -> None:
        super().__init__(f"the executor asks approval for {len(state.request.calls)} call(s)")
        self.state = state


def relay_state(task: Task) -> RelayState | None:
    """The relay a task waiting for an approval answer keeps; None when it waits for something else."""
    if task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED or not task.status.HasField("message"):
        return None
    if request_of(task.status.message.parts) is None:
        return None
    for artifact in task.artifacts:
        if artifact.name == RELAY_ARTIFACT:
            found = json_parts(artifact.parts)
            return RelayState.model_validate(found[0]) if found else None
    return None


@dataclass(slots=True)
class Replay:
    """The caller's answer, on its way to the executor task that asked (once, for the matching plan)."""

    state: RelayState
    approve: bool | list[str]
    used: bool = False

    @classmethod
    def answering(cls, state: RelayState, parts: Sequence[Part]) -> Replay:
        """The answer in ``parts`` (JSON or yes/no text); raises :class:`AgentError` saying what to send."""
        calls = state.request.calls
        yes = read_answer(parts, calls, text=True)
        ids = [c.step_id for c in calls]
        approve: bool | list[str] = True if yes == set(ids) else False if not yes else sorted(yes)
        return cls(state=state, approve=approve)

    def matches(self, plan: Plan) -> bool:
        asked = [s for s in self.state.plan.get("steps", [])]
        return not self.used and _signature(asked) == _signature(
            [s.model_dump(mode="json") for s in plan.steps]
        )

    def message(self) -> Message:
        """The follow-up to the executor task: the answer as a JSON part, with its task and context ids."""
        return new_message(
            [json_part({"approve": self.approve})],
            task_id=self.state.executor_task,
            context_id=self.state.executor_context,
        )
