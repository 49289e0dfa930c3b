"""The executor agent: runs plans with timeouts, retries, circuit breakers, fallback and a result cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolmesh.protocols.exports import lazy_exports

if TYPE_CHECKING:
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

# Loaded on first use: another role importing one module of this package (the reviewer reads the
# executor's step results) must not import this whole agent and its MCP client.
_HOME = {
    "EXECUTE_SKILL": "agent",
    "ExecutorAgent": "agent",
    "BreakerBoard": "breaker",
    "ResultCache": "cache",
    "Engine": "engine",
    "EngineSettings": "engine",
    "StepEvent": "engine",
    "StepResult": "engine",
}


__getattr__ = lazy_exports(__name__, _HOME)
