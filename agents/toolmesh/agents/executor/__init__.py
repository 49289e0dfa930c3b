"""The executor agent: runs plans with timeouts, retries, circuit breakers, fallback and a result cache."""

from toolmesh.agents.executor.agent import EXECUTE_SKILL, ExecutorAgent
from toolmesh.agents.executor.breaker import BreakerBoard
from toolmesh.agents.executor.cache import ResultCache
from toolmesh.agents.executor.engine import Engine, EngineSettings, StepEvent, StepResult

__all__ = [
    "EXECUTE_SKILL",
    "BreakerBoard",
    "Engine",
    "EngineSettings",
    "ExecutorAgent",
    "ResultCache",
    "StepEvent",
    "StepResult",
]
