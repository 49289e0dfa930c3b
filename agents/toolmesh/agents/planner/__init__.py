"""The planner agent: the reasoning loop (deterministic or model policy), answers, review, memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolmesh.protocols.exports import lazy_exports

if TYPE_CHECKING:
    from toolmesh.agents.planner.agent import PLAN_SKILL, PlannerAgent
    from toolmesh.agents.planner.answer import Draft, write_brief
    from toolmesh.agents.planner.loop import Budget, Call, Loop, PartWork, Work
    from toolmesh.agents.planner.policy import DeterministicPolicy
    from toolmesh.agents.planner.turn import TurnRunner

__all__ = [
    "PLAN_SKILL",
    "Budget",
    "Call",
    "DeterministicPolicy",
    "Draft",
    "Loop",
    "PartWork",
    "PlannerAgent",
    "TurnRunner",
    "Work",
    "write_brief",
]

# Loaded on first use: another role importing one module of this package (the reviewer reads the
# executor's step results) must not import this whole agent and its MCP client.
_HOME = {
    "PLAN_SKILL": "agent",
    "PlannerAgent": "agent",
    "Draft": "answer",
    "write_brief": "answer",
    "Budget": "loop",
    "Call": "loop",
    "Loop": "loop",
    "PartWork": "loop",
    "Work": "loop",
    "DeterministicPolicy": "policy",
    "TurnRunner": "turn",
}


__getattr__ = lazy_exports(__name__, _HOME)
