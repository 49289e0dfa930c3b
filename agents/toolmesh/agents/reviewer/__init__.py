"""The reviewer agent: deterministic checks plus an optional model judgement; a structured verdict."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'toolmesh.agents.reviewer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"toolmesh.agents.reviewer.{module}"), name)
