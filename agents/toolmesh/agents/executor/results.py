"""What the engine reports: one :class:`StepResult` per step that ended, :class:`StepEvent` for progress."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from toolmesh.agents.plan import Step, StepOutput, ToolCall

__all__ = ["StepEvent", "StepResult", "StepStatus", "failed_result", "skipped_result"]

StepStatus = Literal["ok", "error", "skipped"]


class StepResult(BaseModel):
    """What happened to one step."""

    step_id: str
    kind: Literal["tool", "handoff"]
    status: StepStatus
    server: str | None = Field(default=None, description="Id of the server that answered (tool steps).")
    server_name: str | None = None
    tool: str | None = None
    skill: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    structured: Any = None
    text: str = ""
    error: str | None = None
    attempts: int = 0
    elapsed_ms: float = 0.0
    cached: bool = False
    tried: list[str] = Field(default_factory=list, description="Servers tried, in order.")
    approval: Literal["approved", "denied"] | None = Field(
        default=None, description="For a tool that is not read-only: whether it was approved."
    )
    approved_by: Literal["caller", "policy"] | None = None

    def output(self) -> StepOutput:
        return StepOutput(structured=self.structured, text=self.text)


class StepEvent(BaseModel):
    """Progress of one step, streamed to the caller."""

    step_id: str
    phase: Literal["start", "retry", "fallback", "end"]
    message: str = ""
    result: StepResult | None = None


def _kind(step: Step) -> Literal["tool", "handoff"]:
    return "tool" if isinstance(step.action, ToolCall) else "handoff"


def _identity(step: Step) -> dict[str, Any]:
    if isinstance(step.action, ToolCall):
        return {"tool": step.action.tool, "server_name": step.action.server}
    return {"skill": step.action.skill}


def skipped_result(step: Step, reason: str) -> StepResult:
    return StepResult(step_id=step.id, kind=_kind(step), status="skipped", error=reason, **_identity(step))


def failed_result(step: Step, reason: str) -> StepResult:
    return StepResult(step_id=step.id, kind=_kind(step), status="error", error=reason, **_identity(step))
