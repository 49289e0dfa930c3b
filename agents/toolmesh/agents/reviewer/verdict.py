"""The reviewer's wire models: what it is asked to check and the verdict it gives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from toolmesh.agents.executor.results import StepResult

__all__ = ["Issue", "ModelVerdict", "ReviewPart", "ReviewRequest", "Severity", "Verdict"]

Severity = Literal["error", "warning"]


class Issue(BaseModel):
    code: Literal[
        "step_failed",
        "step_skipped",
        "not_approved",
        "empty_result",
        "no_citations",
        "bad_citation",
        "unsupported_claim",
        "injection_in_output",
        "followed_injection",
        "no_answer",
        "not_addressed",
        "wrong_shape",
        "unanswered",
        "model",
    ]
    severity: Severity
    message: str
    step_id: str | None = None


class ModelVerdict(BaseModel):
    """What a model judge said, validated: a reply without ``approved`` is a model failure, not a verdict."""

    approved: bool
    issues: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)


class Verdict(BaseModel):
    """The reviewer's structured answer."""

    approved: bool
    issues: list[Issue] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    checked_by: list[str] = Field(default_factory=list, description="'deterministic', and 'model' when used.")
    deterministic_approved: bool | None = Field(
        default=None, description="The deterministic checks' verdict."
    )
    model_verdict: ModelVerdict | None = Field(
        default=None, description="The model's own verdict, when asked."
    )


class ReviewPart(BaseModel):
    """One part of the question as the planner answered it: which steps stand behind its answer."""

    index: int
    text: str
    route: str | None = None
    status: str = "answered"
    reason: str = ""
    step_ids: list[str] = Field(default_factory=list)
    sql: str | None = None


class ReviewRequest(BaseModel):
    """What the planner sends for review (``parts`` says which results answer which part of the goal)."""

    goal: str
    answer: str
    results: list[StepResult]
    parts: list[ReviewPart] = Field(default_factory=list)
    round: int = 1
