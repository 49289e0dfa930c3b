"""The planner agent: the reasoning loop (deterministic or model policy), answers, review, memory."""

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
