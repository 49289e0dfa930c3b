"""The reviewer agent: deterministic checks plus an optional model judgement; a structured verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolmesh.protocols.exports import lazy_exports

if TYPE_CHECKING:
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

# Loaded on first use: another role importing one module of this package (the reviewer reads the
# executor's step results) must not import this whole agent and its MCP client.
_HOME = {
    "REVIEW_SKILL": "agent",
    "ReviewerAgent": "agent",
    "Issue": "checks",
    "ReviewRequest": "checks",
    "Verdict": "checks",
    "review": "checks",
    "review_deterministic": "checks",
}


__getattr__ = lazy_exports(__name__, _HOME)
