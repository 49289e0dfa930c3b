"""The planner agent: plans over the tool catalog, delegates, has answers reviewed, replans, answers."""

from toolmesh.agents.planner.agent import PLAN_SKILL, PlannerAgent
from toolmesh.agents.planner.planning import DeterministicPlanner, ModelPlanner, write_brief

__all__ = ["PLAN_SKILL", "DeterministicPlanner", "ModelPlanner", "PlannerAgent", "write_brief"]
