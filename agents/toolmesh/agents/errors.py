"""The agent mesh's one root exception and its specific kinds (each also a protocols error, for wire
codes)."""

from __future__ import annotations

from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    NotFoundError,
    TimeoutExceeded,
    ToolmeshError,
    UnavailableError,
    UpstreamError,
)

__all__ = [
    "AgentError",
    "AgentNotFound",
    "CircuitOpen",
    "MeshConfigError",
    "ModelBusy",
    "ModelError",
    "ModelTimeout",
    "ModelTruncated",
    "PlanError",
    "StepTimeout",
    "ToolCallError",
    "TransientToolError",
]


class AgentError(ToolmeshError):
    """Root of every error the agent mesh raises on purpose."""


class MeshConfigError(AgentError, ConfigError):
    """The mesh settings are missing or inconsistent."""


class PlanError(AgentError, InputError):
    """A plan is malformed: unknown step, cycle, bad reference, unknown tool, arguments off-schema."""


class AgentNotFound(AgentError, NotFoundError):
    """No registered agent offers the needed skill, or no server offers the needed tool."""


class ToolCallError(AgentError, UpstreamError):
    """A tool answered with an error result (``isError``): retrying the same call will not help."""


class TransientToolError(AgentError, UnavailableError):
    """A tool call failed in a way a retry or another server may fix (connection, 5xx, overload)."""


class StepTimeout(AgentError, TimeoutExceeded):
    """A tool call took longer than its per-call timeout."""


class CircuitOpen(AgentError, UnavailableError):
    """A server's circuit breaker is open after repeated failures; calls are refused until it cools down."""


class ModelError(AgentError, UpstreamError):
    """The configured chat-completions endpoint failed or answered with something unusable."""


class ModelTimeout(ModelError, TimeoutExceeded):
    """A model endpoint did not answer within its timeout (the message names the setting)."""


class ModelBusy(ModelError, UnavailableError):
    """A request waited for an endpoint's concurrency or rate limit longer than the queue allows."""


class ModelTruncated(ModelError):
    """The model's output was cut at ``max_tokens`` before it was complete."""
