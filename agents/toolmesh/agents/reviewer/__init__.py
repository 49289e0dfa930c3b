"""The reviewer agent: deterministic checks plus an optional model judgement; a structured verdict."""

from toolmesh.agents.reviewer.agent import REVIEW_SKILL, ReviewerAgent
from toolmesh.agents.reviewer.checks import Issue, ReviewRequest, Verdict, review, review_deterministic

__all__ = [
    "REVIEW_SKILL",
    "Issue",
    "ReviewRequest",
    "ReviewerAgent",
    "Verdict",
    "review",
    "review_deterministic",
]
